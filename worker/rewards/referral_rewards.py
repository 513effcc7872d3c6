"""Referral rewards: what a paid or cancelled order does to a referral, and the release of due ones.

`on_order_event` is the event task's one call (worker/events/processing.py): a paid order is noted for
every contact (first paid order, order email) and decides the buyer's claimed referral
(worker/loyalty/referral_decisions.py); a cancelled (or refunded) order drops a referral still held for it.

`release_due` (the `release-referrals` job, worker/jobs/referral_release.py) rewards each referral whose
hold has ended: it is marked `rewarded` first (once), then each side's reward goes out, then it leaves
the due index. A crash in between leaves it in the index, so the next run sends again, which changes
nothing: points are earned with the idempotency key `wrw:referral:{friend}:{side}` (Wix refuses to earn
twice; the `wrw:` prefix keeps them out of the outbound points sync), a coupon is a reward log whose id
is derived from the referral (worker/rewards/fulfilment.py issues it once), and `referral_rewarded` is
decided once per referral (worker/store/trigger_marks.py), reported for the referrer.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.engine.program import Program, ProgramInvalid, Reward
from worker.engine.referrals import SAME_PAYMENT, payment_fingerprints
from worker.engine.timestamps import utc_stamp
from worker.identifiers import identifier_problem
from worker.loyalty import referral_decisions, referral_records
from worker.loyalty.points_gate import park_earns, points_wait_reason
from worker.loyalty.points_rules import PointsEarn
from worker.loyalty.referral_reward_logs import put_reward_log, referral_reward_log
from worker.rewards.automation_triggers import REFERRAL_REWARDED, report_event_once
from worker.store import outbox
from worker.store.progress import NoProgram, ProgressStore
from worker.wix.events import NormalizedEvent, action_body

logger = logging.getLogger(__name__)

PAID = ("order_paid",)
CANCELED = ("order_canceled", "order_refunded")  # a refund event, once normalized, drops as a cancel does
SIDES = ("referrer", "friend")


def _program(client: redis.Redis, instance_id: str) -> Program | None:
    with contextlib.suppress(NoProgram, ProgramInvalid):
        return ProgressStore(client).program(instance_id)
    return None


def buyer_email(payload: dict[str, Any]) -> str | None:
    """The order's `buyerInfo.email` (an order event's `actionEvent.body.order`), when it has one."""
    with contextlib.suppress(ValueError):
        order = action_body(payload).get("order")
        email = order.get("buyerInfo", {}).get("email") if isinstance(order, dict) else None
        return email if isinstance(email, str) else None
    return None


def on_order_event(
    client: redis.Redis, event: NormalizedEvent, payload: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """A paid order decides the buyer's referral; a cancelled one drops it. Answers the referral it
    decided or dropped (None: nothing to do)."""
    if event.order is None or not event.contactId or identifier_problem(event.contactId) is not None:
        return None
    instance_id, friend_id, order_id = event.instanceId, event.contactId, event.order.id
    if identifier_problem(order_id) is not None:
        return None
    if event.name in CANCELED:
        return referral_decisions.drop_canceled(client, instance_id, friend_id, order_id, now)
    if event.name not in PAID:
        return None
    email = buyer_email(payload)
    referral_decisions.note_paid_order(client, instance_id, friend_id, order_id, email, event.occurredAt)
    program = _program(client, instance_id)
    if program is None or program.referrals is None:
        return None
    record = referral_records.referral_record(client, instance_id, friend_id)
    if record is None or record.get("status") != "claimed":
        return record
    order = referral_decisions.PaidOrder(friend_id, order_id, event.occurredAt, email)
    return referral_decisions.decide_paid_order(
        client, instance_id, program.referrals, program.zone, order, now
    )


def reward_summary(reward: Reward) -> str:
    if reward.type == "points":
        return f"{reward.points} points"
    return reward.coupon.name if reward.coupon is not None else reward.type


def _send_reward(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    side: str,
    reward: Reward,
    friend_id: str,
    now: datetime,
) -> None:
    if reward.type == "points" and reward.points is not None:
        earn = PointsEarn(
            contact_id=contact_id,
            points=reward.points,
            idempotency_key=f"wrw:referral:{friend_id}:{side}",
            description=f"Referral reward: {reward.points} points",
        )
        if points_wait_reason(client, instance_id):  # sent with the rest when the program is ACTIVE
            park_earns(client, instance_id, [earn])
            return
        key = keys.member_outbox(instance_id, contact_id)  # the intent first: a lost message is relayed
        outbox.put(client, key, [outbox.earn_intent(instance_id, asdict(earn))], time.time())
        follow_ups.earn(instance_id, [earn])
    elif reward.type == "coupon":
        spec = reward.model_dump(mode="json", exclude_none=True)
        reward_log = referral_reward_log(instance_id, contact_id, friend_id, side, spec, now)
        put_reward_log(client, instance_id, reward_log, now)
        follow_ups.fulfil(instance_id, [reward_log["id"]])


def rewarded_payload(record: dict[str, Any], program: Program) -> dict[str, Any]:
    """`referral_rewarded`'s payload: the referrer, the friend, the order and both rewards."""
    settings = program.referrals
    assert settings is not None  # only called for a program with referrals
    return {
        "contactId": record["referrerId"],
        "friendContactId": record["friendId"],
        "orderId": record.get("orderId") or "",
        "referrerReward": reward_summary(settings.referrerReward),
        "friendReward": reward_summary(settings.friendReward),
        "rewardedAt": record.get("rewardedAt") or "",
    }


Payments = Callable[[str], list[dict[str, Any]]]
"""An order id → its Wix payments (WixClient.list_order_payments for the instance)."""


def same_payment(client: redis.Redis, instance_id: str, record: dict[str, Any], payments: Payments) -> bool:
    """Whether the friend paid their order with payment details (a card) the referrer paid one of their
    last orders with. Wix's passing failures propagate (the job tries again later)."""
    friend_cards = payment_fingerprints(payments(str(record["orderId"])))
    if not friend_cards:
        return False
    for order_id in referral_decisions.paid_orders(client, instance_id, str(record["referrerId"])):
        if friend_cards & payment_fingerprints(payments(order_id)):
            return True
    return False


def release_due(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    now: datetime,
    limit: int = 100,
    payments: Payments | None = None,
) -> tuple[int, int]:
    """Reward the referrals whose hold ended by `now` (at most `limit`); answers (rewarded, skipped).
    With `payments`, a held referral whose friend paid with the referrer's card is refused first. A site
    whose program lost its referrals section keeps them waiting."""
    program = _program(client, instance_id)
    if program is None or program.referrals is None:
        return 0, 0
    done = skipped = 0
    for friend_id in referral_decisions.due_friends(client, instance_id, now, limit):
        held = referral_records.referral_record(client, instance_id, friend_id)
        if (
            payments is not None
            and held is not None
            and held.get("status") == "held"
            and same_payment(client, instance_id, held, payments)
        ):
            referral_decisions.refuse_held(client, instance_id, friend_id, SAME_PAYMENT, now)
            skipped += 1
            continue
        record = referral_decisions.mark_rewarded(client, instance_id, friend_id, now)
        status = record.get("status") if record is not None else None
        if status != "rewarded":
            if status != "held":  # dropped meanwhile (a held one is not due yet: it stays)
                referral_decisions.forget_due(client, instance_id, friend_id)
            skipped += 1
            continue
        assert record is not None  # for mypy: a status was read from it
        referrer_id = str(record["referrerId"])
        for side, contact_id, reward in (
            ("referrer", referrer_id, program.referrals.referrerReward),
            ("friend", friend_id, program.referrals.friendReward),
        ):
            _send_reward(client, follow_ups, instance_id, contact_id, side, reward, friend_id, now)
        report_event_once(
            client,
            follow_ups,
            instance_id,
            referrer_id,
            REFERRAL_REWARDED,
            f"referral:{friend_id}",
            rewarded_payload(record, program),
        )
        referral_decisions.forget_due(client, instance_id, friend_id)
        logger.info("referral rewarded", extra={"instance_id": instance_id, "at": utc_stamp(now)})
        done += 1
    return done, skipped
