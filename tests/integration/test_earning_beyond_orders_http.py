"""Earning beyond orders end to end: real web and worker over HTTP, real Redis, the fake Wix failing 30%
of its calls. A member signs up, records a review and a social follow (each twice), pays two orders
(each delivered twice) that meet some of the order rules' conditions, and has a birthday today: the
member's Wix loyalty balance ends exactly at the sum of what each earned once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    FakeWixProcess,
    Stack,
    apply_program_with_key,
    run_job_over_http,
    service_stack,
    wait_for,
)
from tests.integration.shop import signing_key
from tests.integration.test_fault_storm import faults_seen, storm, storm_env
from worker.wix.fake.payloads import EventOptions, build_payload, contact_object
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000e716"
PROGRAM: dict[str, Any] = {
    "timezone": "UTC",
    "streaks": [
        {
            "id": "reviewer",
            "name": "Reviewer",
            "status": "live",
            "activityIds": ["review"],
            "aggregationMethod": "count",
            "aggregationPeriod": "weekly",
            "aggregationTargetValue": 1,
        }
    ],
    "pointsRules": [
        {"on": "member_created", "points": 50},
        {"activity": "review", "points": 10},
        {"activity": "social_follow", "points": 7},
        {"on": "order_paid", "points": 1, "when": {"minimumTotal": 50}},
        {"on": "order_paid", "points": 100, "when": {"firstOrderOnly": True}},
        {"on": "order_paid", "points": 1000, "when": {"productIds": ["p-shirt"]}},
        {"on": "order_paid", "points": 10000, "when": {"collectionIds": ["summer"]}},
        {"on": "birthday", "points": 200},
    ],
}


@pytest.fixture
def stack(calm_wix: FakeWixProcess, real_redis, redis_url) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    with service_stack(storm_env(calm_wix, redis_url)) as running:
        yield running


def deliver(fake_wix: FakeWixProcess, base: str, event_type: str, options: EventOptions) -> None:
    """The webhook twice as Wix retries it (same event id), and once more as another event about the
    same thing (a new event id)."""
    key = signing_key(fake_wix)
    for event_id in (options.event_id, options.event_id, str(uuid.uuid4())):
        payload = build_payload(event_type, replace(options, event_id=event_id))
        body = sign_webhook(key, event_type, INSTANCE, payload)  # type: ignore[arg-type]
        assert httpx.post(f"{base}/webhooks/wix", content=body, timeout=5).status_code == 200


def test_every_way_of_earning_earns_once_at_30_percent_faults(calm_wix, stack, real_redis) -> None:  # type: ignore[no-untyped-def]
    base, contact = stack.base_url, str(uuid.uuid4())
    today = datetime.now(UTC).date()
    birthdate = f"2000-{today:%m-%d}"  # 2000 is a leap year: any today is a date in it
    calm_wix.control(
        "POST", f"instances/{INSTANCE}/contacts", json=contact_object(contact, birthdate=birthdate)
    )
    calm_wix.control("POST", f"instances/{INSTANCE}/products", json={"id": "p-shirt", "collectionIds": []})
    calm_wix.control(
        "POST", f"instances/{INSTANCE}/products", json={"id": "p-hat", "collectionIds": ["summer"]}
    )
    api_key = apply_program_with_key(base, INSTANCE, PROGRAM)
    storm(calm_wix)

    deliver(
        calm_wix, base, "wix.members.v1.member_created", EventOptions(contact_id=contact, member_id="m-1")
    )
    order_paid = "wix.ecom.v1.order_payment_status_updated"
    # 60.00 with the shirt, the first: minimumTotal, firstOrderOnly and productIds (1 + 100 + 1000).
    shirt = EventOptions(order_id="o-1", contact_id=contact, total="60.00", product_ids=("p-shirt",))
    deliver(calm_wix, base, order_paid, shirt)
    wait_for(
        lambda: real_redis.get(f"wrw:{{{INSTANCE}:{contact}}}:first-order") == "o-1", 60, "order o-1 first"
    )
    # 20.00 with the hat, the second: only collectionIds (10000).
    hat = EventOptions(order_id="o-2", contact_id=contact, total="20.00", product_ids=("p-hat",))
    deliver(calm_wix, base, order_paid, hat)

    review = {
        "contactId": contact, "streakId": "reviewer", "activityId": "review",
        "activityAt": datetime.now(UTC).isoformat(), "uniqueIdentifier": "review-of-p-shirt",
    }  # fmt: skip
    answers = [
        httpx.post(f"{base}/schema/streak_log/record", json=review, headers=api_key, timeout=10)
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 409]
    follow = {"contactId": contact, "activityId": "social_follow", "uniqueIdentifier": "instagram-2026"}
    answers = [
        httpx.post(f"{base}/v1/activities", json=follow, headers=api_key, timeout=10) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 409], answers[0].text
    assert answers[0].json()["points"][0]["points"] == 7
    bad = httpx.post(
        f"{base}/v1/activities", json={**follow, "contactId": "a{b}"}, headers=api_key, timeout=10
    )
    assert bad.status_code == 422 and bad.json()["error"]
    assert httpx.post(f"{base}/v1/activities", json=follow, timeout=10).status_code == 401

    job = run_job_over_http(base, INSTANCE, {"name": "birthdays"}, timeout=90)
    assert (job["status"], job["done"]) == ("succeeded", 1), job.get("failures")

    expected = 50 + 10 + 7 + (1 + 100 + 1000) + 10000 + 200

    def balance() -> int:
        accounts = calm_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]
        return sum(a["points"]["balance"] for a in accounts if a["contactId"] == contact)

    wait_for(lambda: balance() == expected, 90, f"a balance of {expected}")
    transactions = calm_wix.control("GET", f"instances/{INSTANCE}/transactions")["transactions"]
    earned = Counter(t["idempotencyKey"] for t in transactions if t["transactionType"] == "EARN")
    assert len(earned) == 8 and set(earned.values()) == {1}, earned
    assert sum(faults_seen(calm_wix).values()) > 0
    again = run_job_over_http(base, INSTANCE, {"name": "birthdays"}, timeout=90)
    assert (again["status"], again["done"]) == ("succeeded", 0), again
