"""Redemptions through the real stack: uvicorn, real Redis, two Celery workers and the fake Wix as a process.

A member earns a coupon (the worker creates it in the fake Wix); Wix's webhook for a paid order using it
arrives three times and twice more as new webhooks about the same order, posted at once to two workers:
the reward log is `redeemed` once, with the order. Later, `expire-rewards` expires another member's unused
coupon and leaves the redeemed one; the widget's `/me` shows `redeemed` in the template's words.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import time_machine

from tests.integration.conftest import FakeWixProcess, service_stack, wait_for
from tests.integration.shop import INSTANCE, post_paid_order, signing_key
from worker.engine.timestamps import utc_stamp
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.runtime.providers import job_context
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, build_payload
from worker.wix.webhook_signing import sign_webhook

PAID = "wix.ecom.v1.order_payment_status_updated"
ORIGIN = {"origin": "https://shop.example"}


def issued_coupon(store: ProgressStore, contact: str) -> dict[str, Any]:
    """The member's coupon reward log, once the worker has issued it (waited for)."""

    def issued() -> dict[str, Any] | None:
        logs = store.member_reward_logs(INSTANCE, contact)
        return logs[0] if logs and logs[0]["status"] == "issued" else None

    return wait_for(issued, 15, f"the coupon of {contact} to be issued")  # type: ignore[no-any-return]


def order_using(fake_wix: FakeWixProcess, contact: str, order_id: str, code: str, paid_at: datetime) -> str:
    """A new webhook (its own event id) about the paid order `order_id`, which used the coupon `code`."""
    options = EventOptions(
        order_id=order_id, contact_id=contact, total="40.00", coupon_code=code, event_time=paid_at.timestamp()
    )
    payload = build_payload(PAID, options)
    return sign_webhook(signing_key(fake_wix), PAID, INSTANCE, payload)  # type: ignore[arg-type]


def deliver(base: str, token: str) -> None:
    answer = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert answer.status_code == 200, answer.text


def event_id_of(token: str) -> str:
    """The inner payload id of a signed webhook (how the journal names it)."""
    import json

    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    return str(json.loads(json.loads(claims["data"])["data"])["id"])


def member_me(fake_wix: FakeWixProcess, base: str, member_id: str) -> dict[str, Any]:
    """The member's widget `/me`, through a session bought with a fake-Wix member token."""
    wix_token = fake_wix.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": member_id})
    session = httpx.post(
        f"{base}/widget/v1/session",
        headers={**ORIGIN, "authorization": f"Bearer {wix_token['token']}"},
        json={"accountId": INSTANCE},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    auth = {**ORIGIN, "authorization": f"Bearer {session.json()['token']}"}
    me = httpx.get(f"{base}/widget/v1/me", params={"instance": INSTANCE}, headers=auth, timeout=10)
    assert me.status_code == 200, me.text
    return me.json()  # type: ignore[no-any-return]


def expire_rewards_at(client: Any, moment: datetime) -> dict[str, Any]:
    """The `expire-rewards` job run to its end with the clock at `moment` (time-machine, in this process:
    the job takes its time from the clock as the beat's run does)."""
    with time_machine.travel(moment, tick=False):
        jobs = Jobs(client, KINDS)
        record, _ = jobs.start(INSTANCE, "expire-rewards")
        while (
            batch := jobs.run_batch(record["id"], datetime.now(UTC), job_context(client))
        ) and batch.cursor:
            pass
        finished = jobs.get(record["id"])
    assert finished is not None and finished["status"] == "succeeded", finished
    return finished


def test_a_used_coupon_is_redeemed_once_expiry_leaves_it_and_the_widget_shows_it(
    fake_wix: FakeWixProcess, shop_env: dict[str, str], real_redis: Any
) -> None:
    """Five deliveries of one paid order (three of one webhook, two new ones at once on two workers): one
    redemption; the unused coupon of another member expires, the redeemed one stays; /me says so."""
    env = {**shop_env, "WIDGET_TOKEN_SECRET": "integration-widget-secret-32-bytes-long"}
    user, other = f"contact-{uuid.uuid4()}", f"contact-{uuid.uuid4()}"
    member_id = str(uuid.uuid4())
    fake_wix.control("POST", f"instances/{INSTANCE}/members", json={"id": member_id, "contactId": user})
    store = ProgressStore(real_redis)
    journal = EventJournal(real_redis, 3600)
    with service_stack(env, workers=2) as stack:
        base = stack.base_url
        post_paid_order(fake_wix, base, "60.00", user)  # the "Fifty spent" milestone: a 10% coupon
        post_paid_order(fake_wix, base, "55.00", other)
        coupon, unused = issued_coupon(store, user), issued_coupon(store, other)
        codes_in_wix = [
            c["specification"]["code"]
            for c in fake_wix.control("GET", f"instances/{INSTANCE}/coupons")["coupons"]
        ]
        assert coupon["couponCode"] in codes_in_wix

        paid_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
        order_id = str(uuid.uuid4())
        webhook = order_using(fake_wix, user, order_id, coupon["couponCode"], paid_at)
        for _ in range(3):
            deliver(base, webhook)  # Wix redelivers the same webhook
        at_once = [order_using(fake_wix, user, order_id, coupon["couponCode"], paid_at) for _ in range(2)]
        senders = [threading.Thread(target=deliver, args=(base, token)) for token in at_once]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=10)

        event_ids = {event_id_of(token) for token in [webhook, *at_once]}
        wait_for(
            lambda: all((journal.get(INSTANCE, e) or {}).get("status") == "processed" for e in event_ids),
            15,
            "the three order webhooks to be processed",
        )
        redeemed = store.reward_log(INSTANCE, coupon["id"])
        assert redeemed is not None and redeemed["status"] == "redeemed"
        assert redeemed["redeemedAt"] == utc_stamp(paid_at)
        assert redeemed["redemption"] == {"orderId": order_id, "total": "40.00", "currency": "USD"}

        finished = expire_rewards_at(real_redis, paid_at + timedelta(days=15))  # both coupons are 14-day
        assert finished["done"] == 1
        assert store.reward_log(INSTANCE, coupon["id"]) == redeemed  # written once, never since
        assert store.reward_log(INSTANCE, unused["id"])["status"] == "expired"  # type: ignore[index]

        me = member_me(fake_wix, base, member_id)
        [reward] = [r for r in me["rewards"] if r["id"] == coupon["id"]]
        assert (reward["status"], reward["redeemedAt"]) == ("redeemed", utc_stamp(paid_at))
        public = httpx.get(
            f"{base}/widget/v1/public", params={"instance": INSTANCE, "template": "default"}, timeout=10
        )
        assert public.status_code == 200, public.text
        assert public.json()["copy"]["statusRedeemed"] == "Used"
