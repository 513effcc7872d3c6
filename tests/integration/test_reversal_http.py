"""Cancellations and refunds end to end: real receiver, real worker, real Redis, the fake Wix failing 30%
of its calls. A paid order earns points and reaches a coupon milestone, then it is cancelled: in order
or before the paid webhook, delivered twice. Net 0 points with one adjustment, the logs voided, the
coupon kept (onCancel: keep) or deleted (onCancel: revoke), `points_reversed` reported once."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import httpx

from tests.integration.conftest import service_stack, wait_for
from tests.integration.shop import INSTANCE, collection, signing_key
from tests.integration.test_fault_storm import faults_seen, storm, storm_env
from worker import keys
from worker.dev.programs import challenge, coupon, milestone, points_rule, program, rule
from worker.rewards.fulfilment import coupon_code
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, build_payload, order_refunded
from worker.wix.webhook_signing import sign_webhook

PAID = "wix.ecom.v1.order_payment_status_updated"
CANCELED = "wix.ecom.v1.order_canceled"
REFUNDED = "refunded"  # Wix says it with PAID's event type and the payment status FULLY_REFUNDED


def document(on_cancel: str) -> dict[str, Any]:
    """$50 spent in a month earns a coupon; each dollar of a paid order a point."""
    return {
        **program(
            challenges=[
                challenge(
                    "spend-50",
                    "Spend $50",
                    method="sum",
                    period="monthly",
                    completion=100,
                    milestones=[milestone("fifty", "Fifty spent", 50, coupon("10% off", 10))],
                )
            ],
            rules=[rule("order_paid", challenge="spend-50", value="order.total")],
            points_rules=[points_rule("order_paid", 1, per=1)],
        ),
        "onCancel": on_cancel,
    }


def webhook(fake_wix: Any, event_type: str, options: EventOptions) -> str:
    """A signed webhook about the order, with an event id of its own (the fake's payload builders)."""
    fresh = replace(options, event_id=str(uuid.uuid4()))
    payload = order_refunded(fresh) if event_type == REFUNDED else build_payload(event_type, fresh)
    return sign_webhook(
        signing_key(fake_wix), PAID if event_type == REFUNDED else event_type, INSTANCE, payload
    )  # type: ignore[arg-type]


def deliver(base: str, token: str) -> None:
    answer = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert answer.status_code == 200, answer.text


def ledger(fake_wix: Any, contact: str) -> tuple[int, list[tuple[str, int]]]:
    """The contact's balance in Wix and its transactions (type, amount)."""
    accounts = [a for a in collection(fake_wix, "accounts") if a["contactId"] == contact]
    if not accounts:
        return 0, []
    [account] = accounts
    moves = [(t["transactionType"], t["amount"]) for t in collection(fake_wix, "transactions")
             if t["accountId"] == account["id"]]  # fmt: skip
    return account["points"]["balance"], moves


def reversed_reports(fake_wix: Any) -> Counter[str]:
    return Counter(
        report["payload"]["contactId"]
        for report in collection(fake_wix, "triggerReports")
        if report["triggerKey"] == "points_reversed"
    )


def test_a_cancelled_order_takes_back_what_it_earned_once_whatever_the_order(
    calm_wix, real_redis, redis_url
) -> None:
    store = ProgressStore(real_redis)
    store.save_program(INSTANCE, document("keep"))
    with service_stack(storm_env(calm_wix, redis_url)) as stack:
        storm(calm_wix)
        base = stack.base_url

        # onCancel: keep, in order: paid, then the cancellation delivered twice (and a second webhook).
        kept = EventOptions(order_id=str(uuid.uuid4()), contact_id=str(uuid.uuid4()), total="60.00")
        deliver(base, webhook(calm_wix, PAID, kept))

        def reward_of(contact: str) -> dict[str, Any] | None:
            logs = store.member_reward_logs(INSTANCE, contact)
            return logs[0] if logs else None

        wait_for(
            lambda: (reward_of(kept.contact_id) or {}).get("status") == "issued", 60, "the coupon issued"
        )
        wait_for(lambda: ledger(calm_wix, kept.contact_id)[0] == 60, 60, "60 points earned")
        cancel = webhook(calm_wix, CANCELED, kept)
        deliver(base, cancel)
        deliver(base, cancel)  # Wix delivers again
        deliver(base, webhook(calm_wix, CANCELED, kept))  # and another webhook about it
        wait_for(lambda: ledger(calm_wix, kept.contact_id)[0] == 0, 60, "the points taken back")
        # Every one of those webhooks settled before the programme changes: a repeat still in flight would
        # otherwise be processed under `onCancel: revoke` and revoke the kept reward.
        wait_for(lambda: real_redis.zcard(keys.QUEUED_EVENTS) == 0, 60, "the kept order's webhooks settled")

        # onCancel: revoke, out of order: the cancellation (twice) before the paid webhook (twice).
        store.save_program(INSTANCE, document("revoke"))
        revoked = EventOptions(order_id=str(uuid.uuid4()), contact_id=str(uuid.uuid4()), total="60.00")
        cancel = webhook(calm_wix, CANCELED, revoked)
        paid = webhook(calm_wix, PAID, revoked)
        for token in (cancel, paid, cancel, paid):
            deliver(base, token)
        # And a full refund of the same order, for good measure: nothing more is taken.
        deliver(base, webhook(calm_wix, REFUNDED, revoked))
        wait_for(
            lambda: (reward_of(revoked.contact_id) or {}).get("status") == "revoked", 60, "the reward revoked"
        )
        wait_for(lambda: ledger(calm_wix, revoked.contact_id)[1] == [("EARN", 60), ("ADJUST", -60)], 60,
                 "the late earn taken back")  # fmt: skip
        wait_for(lambda: reversed_reports(calm_wix) == Counter([kept.contact_id, revoked.contact_id]), 60,
                 "points_reversed reported once per order")  # fmt: skip

        assert ledger(calm_wix, kept.contact_id) == (0, [("EARN", 60), ("ADJUST", -60)])
        assert ledger(calm_wix, revoked.contact_id)[0] == 0
        for contact in (kept.contact_id, revoked.contact_id):
            assert store.member_state(INSTANCE, contact, "challenge", "spend-50").logs == []  # voided
        codes = {c["specification"]["code"] for c in collection(calm_wix, "coupons")}
        assert coupon_code(reward_of(kept.contact_id)["id"]) in codes  # type: ignore[index]  # kept
        assert coupon_code(reward_of(revoked.contact_id)["id"]) not in codes  # type: ignore[index]  # never usable
        assert sum(faults_seen(calm_wix).values()) > 10
