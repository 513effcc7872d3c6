"""Wix loyalty tiers over real HTTP: uvicorn, real Redis, a real Celery worker, and the fake Wix as a
process failing 30% of its calls, posting its account webhooks (RS256) to our receiver.

A member's points reward earns them 150 points in Wix: the fake recalculates their tier (Silver at 100,
Gold at 300) and posts `account_points_updated`; the worker reports `tier_changed` once, however often
the webhook comes; `/widget/v1/me` shows Silver and the 150 more points Gold needs. A site without
tiers shows none.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    ADMIN,
    FakeWixProcess,
    Stack,
    apply_program_with_key,
    service_stack,
    wait_for,
)
from worker.dev.programs import challenge, milestone, points, program
from worker.dispatch import RecordedDispatcher
from worker.loyalty.tiers import member_tier
from worker.rewards.tier_changes import follow_tier
from worker.wix.events import AccountInfo, AccountTier, NormalizedEvent
from worker.wix.fake.webhooks import load_private_key
from worker.wix.webhook_signing import sign_webhook

TIERED, PLAIN = "6b1e6a2c-0000-4000-8000-00000000t101", "6b1e6a2c-0000-4000-8000-00000000t102"
MEMBER, CONTACT = "a517751b-0000-4000-8000-0000000000t1", "88615e02-0000-4000-8000-0000000000t1"
ORIGIN = {"origin": "https://shop.example"}
RATE, SEED = 0.3, 16
PROGRAM: dict[str, Any] = program(
    challenges=[
        challenge(
            "spend-50",
            "Spend 50",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[milestone("fifty", "Fifty spent", 50, points(150))],
        )
    ],
)
TIERS = {
    "status": "ACTIVE",
    "baseTierDefinition": {"name": "Bronze"},
    "tiers": [
        {"tierDefinition": {"name": "Silver"}, "requiredPoints": 100},
        {"tierDefinition": {"name": "Gold"}, "requiredPoints": 300},
    ],
}


@pytest.fixture(scope="module")
def stack(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[tuple[Stack, dict[str, Any]]]:
    """The receiver and a worker; two sites with the program and a member each, one with Wix tiers; the
    fake posts its webhooks to our receiver."""
    env = fake_wix.env(
        module_redis_url,
        WIDGET_TOKEN_SECRET="integration-widget-secret-32-bytes-long",
        WIX_RATE_LIMIT_PER_MINUTE="10000",
        WIX_TIMEOUT_SECONDS="2",
    )
    fake_wix.control("POST", "reset")
    with service_stack(env) as running:
        fake_wix.control("PATCH", "settings", json={"webhookUrl": f"{running.base_url}/webhooks/wix"})
        api_keys = {}
        for site in (TIERED, PLAIN):
            api_keys[site] = apply_program_with_key(running.base_url, site, PROGRAM)
            fake_wix.control("POST", f"instances/{site}/members", json={"id": MEMBER, "contactId": CONTACT})
        fake_wix.control("PUT", f"instances/{TIERED}/tiers", json=TIERS)
        try:
            yield running, api_keys
        finally:
            fake_wix.control("DELETE", "faults")
            fake_wix.control("PATCH", "settings", json={"webhookUrl": None})


def collection(fake_wix: FakeWixProcess, site: str, name: str) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{site}/{name}")[name])


def tier_reports(fake_wix: FakeWixProcess, name: str = "triggerReports") -> list[dict[str, Any]]:
    return [r for r in collection(fake_wix, TIERED, name) if r["triggerKey"] == "tier_changed"]


def spend(base: str, api_key: dict[str, str], uid: str) -> None:
    """60 toward the challenge: its milestone's points reward (150 points) is earned in Wix."""
    body = {
        "contactId": CONTACT,
        "challengeId": "spend-50",
        "activityId": "order_paid",
        "activityValue": "60",
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": uid,
    }
    answer = httpx.post(f"{base}/schema/challenge_log/record", json=body, headers=api_key, timeout=5)
    assert answer.status_code == 201, answer.text


def widget_me(fake_wix: FakeWixProcess, base: str, site: str) -> dict[str, Any]:
    """`/widget/v1/me` for the member, through a session bought with a fake-Wix member token."""
    wix_token = fake_wix.control("POST", f"instances/{site}/member-tokens", json={"memberId": MEMBER})[
        "token"
    ]
    session = httpx.post(
        f"{base}/widget/v1/session",
        headers={**ORIGIN, "authorization": f"Bearer {wix_token}"},
        json={"accountId": site},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    auth = {**ORIGIN, "authorization": f"Bearer {session.json()['token']}"}
    me = httpx.get(f"{base}/widget/v1/me", params={"instance": site}, headers=auth, timeout=10)
    assert me.status_code == 200, me.text
    return me.json()  # type: ignore[no-any-return]


def test_points_move_a_member_up_a_tier_reported_once_and_shown_in_the_widget(
    stack: tuple[Stack, dict[str, Any]], fake_wix: FakeWixProcess
) -> None:
    """At 30% faults: 150 points make the member Silver; tier_changed is reported once (Bronze → Silver),
    also after the account webhook is delivered twice more; the widget shows Silver and "150 more
    points to Gold"; on the site without tiers, no tier and no report."""
    running, api_keys = stack
    base = running.base_url
    fake_wix.control("POST", "faults", json={"rate": RATE, "seed": SEED})
    for site in (TIERED, PLAIN):
        spend(base, api_keys[site], f"spend-{site}")

    [report] = wait_for(lambda: tier_reports(fake_wix), 90, "tier_changed to be reported", interval=0.5)
    assert report["payload"] == {
        "contactId": CONTACT,
        "previousTierId": "",
        "previousTierName": "Bronze",
        "tierId": report["payload"]["tierId"],
        "tierName": "Silver",
        "direction": "up",
        "tierPoints": 150,
        "changedAt": report["payload"]["changedAt"],
    }

    [webhook] = [w for w in collection(fake_wix, TIERED, "webhooks") if w["status"] == 200]
    # Wix delivers again (the same signed webhook), and tells the same change in another webhook.
    another = {**webhook["payload"], "id": str(uuid.uuid4())}
    key = load_private_key(fake_wix.private_key)
    for token in (webhook["token"], sign_webhook(key, webhook["eventType"], TIERED, another)):
        answer = httpx.post(f"{base}/webhooks/wix", content=token, timeout=10)
        assert answer.status_code == 200, answer.text
    record = f"{base}/admin/v1/instances/{TIERED}/events/{another['id']}"
    wait_for(
        lambda: httpx.get(record, headers=ADMIN, timeout=5).json().get("status") == "processed",
        60,
        "the second webhook to be processed",
    )
    assert sum(fake_wix.control("GET", "faults")["random"]["counts"].values()) >= 1  # the storm hit
    fake_wix.control("DELETE", "faults")
    wait_for(
        lambda: collection(fake_wix, PLAIN, "accounts") and collection(fake_wix, PLAIN, "transactions"),
        60,
        "the plain site's points to be earned",
    )
    again = {r["idempotency"]["key"] for r in tier_reports(fake_wix, "ignoredTriggerReports")}
    assert again <= {report["idempotency"]["key"]}  # a retry after a lost answer: the same report
    assert len(tier_reports(fake_wix)) == 1
    assert collection(fake_wix, PLAIN, "webhooks") == []
    assert [
        r for r in collection(fake_wix, PLAIN, "triggerReports") if r["triggerKey"] == "tier_changed"
    ] == []

    tier = widget_me(fake_wix, base, TIERED)["tier"]
    assert (tier["name"], tier["points"]) == ("Silver", 150)
    assert (tier["next"]["name"], tier["next"]["requiredPoints"], tier["next"]["pointsNeeded"]) == (
        "Gold",
        300,
        150,
    )
    plain = widget_me(fake_wix, base, PLAIN)
    assert plain["tier"] is None and plain["points"]["balance"] == 150
    assert not running.web.saw("tier is not available")  # type: ignore[union-attr]


def test_concurrent_webhooks_about_one_change_decide_it_once(real_redis) -> None:
    """Eight webhooks telling the same change, handled at once by eight threads against real Redis:
    tier_changed is decided once, and the member's kept tier is Silver."""
    site, silver = "6b1e6a2c-0000-4000-8000-00000000t103", str(uuid.uuid4())
    account = AccountInfo(
        id="acc-1", contactId=CONTACT, revision="7", tier=AccountTier(id=silver, points=120)
    )
    events = [
        NormalizedEvent(
            name="points_updated",
            instanceId=site,
            eventId=str(uuid.uuid4()),
            occurredAt=datetime.now(UTC),
            contactId=CONTACT,
            account=account,
        )
        for _ in range(8)
    ]
    start = threading.Barrier(len(events))

    def handle(event: NormalizedEvent) -> bool:
        start.wait(timeout=10)
        return follow_tier(real_redis, RecordedDispatcher(), event)

    with ThreadPoolExecutor(len(events)) as pool:
        decided = list(pool.map(handle, events, timeout=30))
    assert decided.count(True) == 1
    assert member_tier(real_redis, site, CONTACT) == silver
