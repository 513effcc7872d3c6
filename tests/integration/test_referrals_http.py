"""Referrals end to end over real HTTP: uvicorn, a real Celery worker, real Redis, RS256-signed webhooks,
and the fake Wix failing 30% of its calls at random.

A member's code from the widget API, a friend's claim, the friend's first paid order delivered twice
(paid 15 days ago, past the 14-day hold), the `release-referrals` job run twice with its own clock:
the referrer's points earned once, the friend's coupon created once, `referral_rewarded` reported once.
A second friend's order cancelled before the hold ended: dropped, nothing rewarded. A third who paid
with the referrer's card (Wix's Order Transactions API): refused when the hold ends, nothing rewarded.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import wix_samples
from tests.integration.conftest import FakeWixProcess, Stack, run_job_over_http, service_stack, wait_for
from tests.integration.shop import signing_key
from worker.engine.timestamps import utc_stamp
from worker.loyalty import referral_claims, referral_records
from worker.rewards.fulfilment import coupon_code
from worker.rewards.referral_rewards import on_order_event
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000f301"
RATE, SEED = 0.3, 7
REFERRALS = {
    "referrerReward": {"type": "points", "points": 100},
    "friendReward": {"type": "coupon", "coupon": {"name": "10% off", "percentOffRate": 10}, "validDays": 30},
    "holdDays": 14,
    "maxPerPeriod": 5,
}


def member(fake: FakeWixProcess, base: str) -> tuple[str, dict[str, str]]:
    """A site member in the fake Wix with a widget session: its contact id and widget-token header."""
    contact_id, member_id = str(uuid.uuid4()), str(uuid.uuid4())
    fake.control("POST", f"instances/{INSTANCE}/members", json={"id": member_id, "contactId": contact_id})
    wix_token = fake.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": member_id})[
        "token"
    ]
    session = httpx.post(f"{base}/widget/v1/session", headers={"authorization": wix_token}, timeout=10)
    assert session.status_code == 200, session.text
    return contact_id, {"authorization": f"Bearer {session.json()['token']}"}


def order_webhook(fake: FakeWixProcess, event_type: str, order_id: str, contact_id: str, at: datetime) -> str:
    sample = (
        wix_samples.payment_status_updated if event_type.endswith("updated") else wix_samples.order_canceled
    )
    payload = sample(event_id=str(uuid.uuid4()))
    payload["eventTime"] = at.isoformat()
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = order_id
    order["buyerInfo"]["contactId"] = contact_id
    order["buyerInfo"]["email"] = f"{contact_id}@example.com"
    return sign_webhook(signing_key(fake), event_type, INSTANCE, payload)  # type: ignore[arg-type]


def card(brand: str, digits: str) -> dict[str, Any]:
    """A card payment as Wix's Order Transactions API answers it."""
    details = {"paymentMethod": "CreditCard", "status": "APPROVED",
               "creditCardDetails": {"lastFourDigits": digits, "brand": brand}}  # fmt: skip
    return {"amount": {"amount": "50.00", "formattedAmount": "€50.00"}, "regularPaymentDetails": details}


def deliver(base: str, webhook: str) -> None:
    answer = httpx.post(f"{base}/webhooks/wix", content=webhook, timeout=10)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def stack(calm_wix: FakeWixProcess, real_redis: Any, redis_url: str) -> Iterator[Stack]:
    ProgressStore(real_redis).save_program(INSTANCE, {"timezone": "Europe/Berlin", "referrals": REFERRALS})
    env = calm_wix.env(
        redis_url,
        WIDGET_TOKEN_SECRET="integration-widget-secret-32-bytes-long",
        WIX_RATE_LIMIT_PER_MINUTE="10000",
        WIX_TIMEOUT_SECONDS="2",
    )
    with service_stack(env) as running:
        yield running


def test_a_referral_is_rewarded_once_after_its_hold_and_a_cancelled_one_is_dropped(
    calm_wix: FakeWixProcess, stack: Stack, real_redis: Any
) -> None:
    base = stack.base_url
    referrer, referrer_auth = member(calm_wix, base)
    friend, friend_auth = member(calm_wix, base)
    other, other_auth = member(calm_wix, base)
    cheat, cheat_auth = member(calm_wix, base)  # pays with the referrer's own card
    code = httpx.get(f"{base}/widget/v1/referrals/me", headers=referrer_auth, timeout=10).json()["code"]
    for auth in (friend_auth, other_auth, cheat_auth):
        claim = httpx.post(f"{base}/widget/v1/referrals/claim", json={"code": code}, headers=auth, timeout=10)
        assert claim.json()["status"] == "claimed", claim.text
    cards = {"o-referrer": ("Visa", "4242"), "o-cheat": ("visa", "4242"), "o-friend": ("Visa", "1881")}
    for order_id, (brand, digits) in cards.items():
        seeded = {"payments": [card(brand, digits)]}
        calm_wix.control("PUT", f"instances/{INSTANCE}/orders/{order_id}/payments", json=seeded)

    paid_at = datetime.now(UTC) - timedelta(days=15)  # the hold of 14 days is over by now

    def paid(order_id: str, contact_id: str) -> str:
        return order_webhook(
            calm_wix, "wix.ecom.v1.order_payment_status_updated", order_id, contact_id, paid_at
        )

    deliver(base, paid("o-referrer", referrer))
    calm_wix.control("POST", "faults", json={"rate": RATE, "seed": SEED})
    first = paid("o-friend", friend)
    deliver(base, first)
    deliver(base, first)  # Wix delivers it again
    deliver(base, paid("o-friend", friend))  # and a second webhook about the same payment
    deliver(base, paid("o-other", other))
    canceled_at = paid_at + timedelta(days=1)
    deliver(base, order_webhook(calm_wix, "wix.ecom.v1.order_canceled", "o-other", other, canceled_at))
    deliver(base, paid("o-cheat", cheat))

    def status(contact_id: str) -> str | None:
        record = referral_records.referral_record(real_redis, INSTANCE, contact_id)
        return record["status"] if record else None

    decided = ("held", "dropped", "held")
    wait_for(lambda: (status(friend), status(other), status(cheat)) == decided, 30, "the orders to decide")
    record = referral_records.referral_record(real_redis, INSTANCE, friend)
    assert record is not None and record["releaseAt"] == utc_stamp(paid_at + timedelta(days=14))

    for _ in range(2):  # the job twice: the second finds nothing due
        job = run_job_over_http(base, INSTANCE, {"name": "release-referrals"})
        assert job["status"] == "succeeded", job
    assert status(friend) == "rewarded"
    cheated = referral_records.referral_record(real_redis, INSTANCE, cheat)
    assert cheated is not None and (cheated["status"], cheated["reason"]) == ("refused", "same_payment")

    def transactions() -> list[dict[str, Any]]:
        found = calm_wix.control("GET", f"instances/{INSTANCE}/transactions")["transactions"]
        return [t for t in found if str(t.get("idempotencyKey", "")).startswith("wrw:referral:")]

    def coupons() -> list[dict[str, Any]]:
        return list(calm_wix.control("GET", f"instances/{INSTANCE}/coupons")["coupons"])

    def reports() -> Counter[str]:
        found = calm_wix.control("GET", f"instances/{INSTANCE}/triggerReports")["triggerReports"]
        return Counter(report["triggerKey"] for report in found)

    wait_for(lambda: len(transactions()) == 1, 60, "the referrer's points to be earned")
    wait_for(lambda: len(coupons()) == 1, 60, "the friend's coupon to be created")
    wait_for(lambda: reports()["referral_rewarded"] == 1, 60, "referral_rewarded to be reported")

    [earned] = transactions()
    assert (earned["amount"], earned["idempotencyKey"]) == (100, f"wrw:referral:{friend}:referrer")
    [reward_log] = ProgressStore(real_redis).member_reward_logs(INSTANCE, friend)
    wait_for(
        lambda: ProgressStore(real_redis).reward_log(INSTANCE, reward_log["id"])["status"] == "issued",
        60,
        "the coupon issued",
    )  # type: ignore[index]
    assert coupons()[0]["specification"]["code"] == coupon_code(reward_log["id"])
    [report] = [
        r for r in calm_wix.control("GET", f"instances/{INSTANCE}/triggerReports")["triggerReports"]
        if r["triggerKey"] == "referral_rewarded"
    ]  # fmt: skip
    assert report["payload"]["contactId"] == referrer and report["payload"]["friendContactId"] == friend
    assert ProgressStore(real_redis).member_reward_logs(INSTANCE, other) == []
    assert ProgressStore(real_redis).member_reward_logs(INSTANCE, cheat) == []
    assert sum(calm_wix.control("GET", "faults")["random"]["counts"].values()) > 0


def test_concurrent_first_orders_never_pass_the_cap(real_redis: Any) -> None:
    """Twenty friends of one member pay at the same moment on twenty threads, each order delivered twice,
    against real Redis: exactly `maxPerPeriod` (5) are held, the rest refused `cap_reached`."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from worker.infra.redis_client import sync_client
    from worker.wix.events import normalize

    ProgressStore(real_redis).save_program(INSTANCE, {"referrals": REFERRALS})
    code = referral_claims.member_code(real_redis, INSTANCE, "referrer")
    friends = [f"friend-{n}" for n in range(20)]
    now = datetime.now(UTC)
    for friend in friends:
        referral_claims.claim(real_redis, INSTANCE, friend, code, now)
    url = real_redis.connection_pool.connection_kwargs  # the same database for every thread's client
    start = Barrier(len(friends))

    def pay(friend: str) -> None:
        client = sync_client(f"redis://{url['host']}:{url['port']}/{url['db']}")
        payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        payload["eventTime"] = now.isoformat()
        payload["actionEvent"]["body"]["order"]["id"] = f"o-{friend}"
        payload["actionEvent"]["body"]["order"]["buyerInfo"]["contactId"] = friend
        event = normalize(
            event_type="wix.ecom.v1.order_payment_status_updated",
            instance_id=INSTANCE,
            event_id=f"e-{friend}",
            payload=payload,
        )
        start.wait(timeout=10)  # all at once
        for _ in range(2):
            on_order_event(client, event, payload, now)

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(pay, friends))
    decided = Counter(
        (record["status"], record.get("reason"))
        for record in (referral_records.referral_record(real_redis, INSTANCE, friend) for friend in friends)
        if record is not None
    )
    assert decided == Counter({("held", None): 5, ("refused", "cap_reached"): 15})
    period = next(iter(real_redis.scan_iter(f"wrw:referrals:{{{INSTANCE}}}:cap:referrer:*")))
    assert real_redis.get(period) == "5"
