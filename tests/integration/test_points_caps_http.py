"""Caps, a budget and a bonus window end to end, at the fake Wix's 30% fault rate: real receiver, real
worker, real Redis, signed webhooks over HTTP, each order delivered twice.

Orders at 1 point per 1 on a rule capped at 100 per member a month with a budget of 250 a month: three
members asking 120, 130 and 70 end with exactly 250 points together, none above 100, whatever the
order of processing, the faults and the redeliveries. A checkout inside a x3 bonus window earns x3.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx

from tests import wix_samples
from tests.integration.conftest import FakeWixProcess, service_stack, wait_for
from tests.integration.shop import INSTANCE, collection, signing_key
from tests.integration.test_fault_storm import faults_seen, storm, storm_env
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

WHEN = "2026-03-14T12:00:00Z"  # the events' time: the month and the window are the events', not today's
PROGRAM = {
    "pointsRules": [
        {"on": "order_paid", "points": 1, "per": 1, "maxPerPeriod": 100, "period": "monthly",
         "budget": {"points": 250, "period": "monthly"}},
        {"on": "checkout_completed", "points": 1, "per": 1},
    ],
    "bonusWindows": [
        {"id": "pi-day", "multiplier": 3, "rules": [1],
         "startsAt": "2026-03-14T00:00:00Z", "endsAt": "2026-03-15T00:00:00Z"},
    ],
}  # fmt: skip


def order_paid(fake_wix: FakeWixProcess, order_id: str, contact: str, total: str) -> str:
    payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    payload["eventTime"] = WHEN
    order = payload["actionEvent"]["body"]["order"]
    order.update(id=order_id, appliedDiscounts=[])
    order["buyerInfo"]["contactId"] = contact
    order["priceSummary"]["total"]["amount"] = total
    return sign_webhook(signing_key(fake_wix), "wix.ecom.v1.order_payment_status_updated", INSTANCE, payload)  # type: ignore[arg-type]


def checkout(fake_wix: FakeWixProcess, contact: str, total: str) -> str:
    payload = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
    payload["eventTime"] = WHEN
    body = payload["actionEvent"]["body"]["checkout"]
    body.update(id=str(uuid.uuid4()))
    body["buyerInfo"]["contactId"] = contact
    body["priceSummary"]["total"]["amount"] = total
    return sign_webhook(signing_key(fake_wix), "wix.ecom.v1.checkout_completed", INSTANCE, payload)  # type: ignore[arg-type]


def balances(fake_wix: FakeWixProcess) -> dict[str, int]:
    return {a["contactId"]: a["points"]["balance"] for a in collection(fake_wix, "accounts")}


def test_orders_past_the_cap_and_the_budget_earn_exactly_the_capped_sum(
    calm_wix, real_redis, redis_url
) -> None:
    ProgressStore(real_redis).save_program(INSTANCE, PROGRAM)
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    orders = [(a, "60"), (a, "60"), (b, "80"), (b, "50"), (c, "70")]  # 120, 130, 70: capped 100, 100, 70
    with service_stack(storm_env(calm_wix, redis_url)) as stack:
        storm(calm_wix)
        placed = [(str(uuid.uuid4()), contact, total) for contact, total in orders]
        bodies = [order_paid(calm_wix, *order) for order in placed] + [checkout(calm_wix, d, "10")]
        again = [order_paid(calm_wix, *order) for order in placed]  # another webhook about each order
        for body in bodies + again + bodies:  # and every webhook redelivered
            answer = httpx.post(f"{stack.base_url}/webhooks/wix", content=body, timeout=5)
            assert answer.status_code == 200, answer.text

        def settled() -> bool:
            points = balances(calm_wix)
            return sum(points.get(x, 0) for x in (a, b, c)) == 250 and points.get(d) == 30

        wait_for(settled, 90, "the capped sum and the bonus to reach the Wix balances")
        earns = [t for t in calm_wix.control("GET", f"instances/{INSTANCE}/transactions")["transactions"]
                 if t["transactionType"] == "EARN"]  # fmt: skip
        assert all(n == 1 for n in Counter(t["idempotencyKey"] for t in earns).values())
        assert sum(faults_seen(calm_wix).values()) > 0
    points = balances(calm_wix)
    assert all(points.get(x, 0) <= 100 for x in (a, b, c)), points
    assert points[c] in range(0, 71)
    reasons = [
        real_redis.hget(key, "reason") for key in real_redis.scan_iter(match=f"wrw:journal:{INSTANCE}:*")
    ]
    noted = [r for r in reasons if r]
    assert noted and all(
        "capped: maxPerPeriod 100 monthly reached" in r or "budget reached: 250 monthly" in r for r in noted
    ), noted
