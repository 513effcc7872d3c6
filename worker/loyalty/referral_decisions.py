"""Referral decisions: what a friend's paid order makes of their claimed referral, and its release.

Every paid order of every contact is noted (`note_paid_order`: the first paid order, order emails and
the last paid orders, which the checks compare). The friend's paid order decides the claimed referral
(`decide_paid_order`): the rules (worker/engine/referrals.py) either refuse it with its reason or *hold*
it until `holdDays` have passed, counting it in the referrer's cap in the same MULTI, so concurrent orders
can never pass the cap. A cancelled (or refunded) order drops a held referral and gives its place in the
cap back (`drop_canceled`); the release job then rewards what is due (`mark_rewarded`,
worker/rewards/referral_rewards.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from worker import keys
from worker.engine.program import Referrals
from worker.engine.referrals import (
    CAP_REACHED,
    ORDER_CANCELED,
    REASONS,
    cap_period,
    normalized_email,
    refusal,
    release_at,
)
from worker.loyalty.referral_records import history_entry, moment, referral_record, stamp, update

logger = logging.getLogger(__name__)

MARK_TTL_SECONDS = 400 * 24 * 3600  # cap counters and cancellation marks outlive a yearly period
ORDERS_KEPT = 10  # a contact's last paid orders whose payment details the same-payment check compares


def note_paid_order(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    order_id: str,
    email: str | None,
    paid_at: datetime,
) -> bool:
    """Every paid order of every contact: its first paid order (set once), its order emails (the
    same-email check) and its last paid orders (the same-payment check). True when this is the first
    paid order seen."""
    orders = keys.referral_orders(instance_id, contact_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.set(keys.referral_first_order(instance_id, contact_id), order_id, nx=True)
        if (address := normalized_email(email)) is not None:
            pipe.sadd(keys.referral_emails(instance_id, contact_id), address)
        pipe.zadd(orders, {order_id: paid_at.timestamp()}, nx=True)
        pipe.zremrangebyrank(orders, 0, -(ORDERS_KEPT + 1))
        first = pipe.execute()[0]
    return bool(first)


def paid_orders(client: redis.Redis, instance_id: str, contact_id: str) -> list[str]:
    """The contact's last `ORDERS_KEPT` paid orders, newest first."""
    found = client.zrevrange(keys.referral_orders(instance_id, contact_id), 0, ORDERS_KEPT - 1)
    return [str(order_id) for order_id in found]  # type: ignore[union-attr]


def contact_emails(client: redis.Redis, instance_id: str, contact_id: str) -> set[str]:
    return set(client.smembers(keys.referral_emails(instance_id, contact_id)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PaidOrder:
    friend_id: str
    order_id: str
    paid_at: datetime
    email: str | None = None


def decide_paid_order(
    client: redis.Redis,
    instance_id: str,
    referrals: Referrals,
    zone: ZoneInfo,
    order: PaidOrder,
    now: datetime,
    referrer_emails: Iterable[str] = (),
) -> dict[str, Any] | None:
    """The friend's paid order decides their claimed referral: refused (with the reason), dropped (the
    order was cancelled first) or held until `holdDays` after the payment, counted in the referrer's cap
    in the same step. A referral already decided is left as it is (a redelivery, another order). Answers
    the referral as it is now, or None when the contact claimed no referral."""
    friend_key = keys.referral(instance_id, order.friend_id)
    first_key = keys.referral_first_order(instance_id, order.friend_id)
    canceled_key = keys.referral_canceled(instance_id, order.order_id)
    record = referral_record(client, instance_id, order.friend_id)
    if record is None:
        return None
    referrer_id = str(record["referrerId"])
    period = cap_period(referrals, order.paid_at, zone)
    cap_key = keys.referral_cap(instance_id, referrer_id, period)
    friend_emails = [*contact_emails(client, instance_id, order.friend_id), order.email or ""]
    all_referrer_emails = [*contact_emails(client, instance_id, referrer_id), *referrer_emails]
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        answer.update(current)
        if current.get("status") != "claimed":
            return None
        reason = refusal(
            friend_id=order.friend_id,
            referrer_id=referrer_id,
            order_id=order.order_id,
            first_order_id=pipe.get(first_key),
            friend_emails=friend_emails,
            referrer_emails=all_referrer_emails,
        )
        held = False
        if reason is None and pipe.get(canceled_key):
            reason = ORDER_CANCELED
        elif (
            reason is None
            and referrals.maxPerPeriod is not None
            and int(pipe.get(cap_key) or 0) >= referrals.maxPerPeriod
        ):
            reason = CAP_REACHED
        if reason is None:
            held = True
            due = release_at(referrals, order.paid_at)
            current.update(status="held", releaseAt=stamp(due), capPeriod=period)
        else:
            current.update(status="dropped" if reason == ORDER_CANCELED else "refused", reason=reason)
        current.update(orderId=order.order_id, paidAt=stamp(order.paid_at), decidedAt=stamp(now))
        current["history"].append(
            history_entry(current["status"], now, orderId=order.order_id, reason=REASONS.get(reason or ""))
        )
        answer.update(current)

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            if held:
                multi.incr(cap_key)
                multi.expire(cap_key, MARK_TTL_SECONDS)
                multi.zadd(
                    keys.referrals_due(instance_id),
                    {order.friend_id: moment(current["releaseAt"]).timestamp()},
                )

        return writes

    if update(client, [friend_key, first_key, canceled_key, cap_key], step):
        logger.info(
            "referral decided",
            extra={"instance_id": instance_id, "status": answer["status"], "reason": answer.get("reason")},
        )
    return answer


def drop_canceled(
    client: redis.Redis, instance_id: str, friend_id: str | None, order_id: str, now: datetime
) -> dict[str, Any] | None:
    """A cancelled or refunded order: marked (a payment that arrives later is dropped), and the friend's
    referral held for it is dropped, its place in the cap given back. A referral already rewarded stays
    rewarded. Answers the referral when this dropped it."""
    client.set(keys.referral_canceled(instance_id, order_id), "1", ex=MARK_TTL_SECONDS)
    if not friend_id:
        return None
    dropped = _end_hold(client, instance_id, friend_id, "dropped", ORDER_CANCELED, now, order_id=order_id)
    if dropped is not None:
        logger.info("referral dropped: order cancelled", extra={"instance_id": instance_id})
    return dropped


def refuse_held(
    client: redis.Redis, instance_id: str, friend_id: str, reason: str, now: datetime
) -> dict[str, Any] | None:
    """A held referral a check refuses when its hold ends (the same payment details): `refused` with the
    reason, its place in the cap given back. Answers it when this refused it."""
    refused = _end_hold(client, instance_id, friend_id, "refused", reason, now)
    if refused is not None:
        logger.info("referral refused at release", extra={"instance_id": instance_id, "reason": reason})
    return refused


def _end_hold(
    client: redis.Redis,
    instance_id: str,
    friend_id: str,
    status: str,
    reason: str,
    now: datetime,
    order_id: str | None = None,
) -> dict[str, Any] | None:
    """The friend's held referral (held for `order_id`, when given) becomes `status` with `reason`, its
    place in the cap given back and out of the due index, in one step. Answers it when this changed it."""
    friend_key = keys.referral(instance_id, friend_id)
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        if current.get("status") != "held" or order_id not in (None, current.get("orderId")):
            return None
        current.update(status=status, reason=reason, decidedAt=stamp(now))
        current["history"].append(
            history_entry(status, now, orderId=current.get("orderId"), reason=REASONS.get(reason))
        )
        answer.update(current)
        cap_key = keys.referral_cap(instance_id, str(current["referrerId"]), str(current["capPeriod"]))

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            multi.decr(cap_key)
            multi.zrem(keys.referrals_due(instance_id), friend_id)

        return writes

    return answer if update(client, [friend_key], step) else None


def due_friends(client: redis.Redis, instance_id: str, now: datetime, limit: int) -> list[str]:
    """The friends whose held (or rewarded but not yet sent) referral is due, oldest first."""
    found = client.zrangebyscore(keys.referrals_due(instance_id), "-inf", now.timestamp(), start=0, num=limit)
    return [str(friend) for friend in found]  # type: ignore[union-attr]


def mark_rewarded(
    client: redis.Redis, instance_id: str, friend_id: str, now: datetime
) -> dict[str, Any] | None:
    """A due held referral becomes `rewarded` (once); answers the referral as it is now (`rewarded` now
    or by an earlier run whose rewards may not all have gone out; `held` when not yet due; `dropped`...),
    None when there is none."""
    friend_key = keys.referral(instance_id, friend_id)
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        answer.update(current)
        if current.get("status") != "held" or moment(current["releaseAt"]) > now:
            return None
        current.update(status="rewarded", rewardedAt=stamp(now))
        current["history"].append(history_entry("rewarded", now, orderId=current.get("orderId")))
        answer.update(current)
        return lambda multi: multi.set(friend_key, json.dumps(current))

    update(client, [friend_key], step)
    return answer or None


def forget_due(client: redis.Redis, instance_id: str, friend_id: str) -> None:
    """The referral's rewards are on their way (or it is not to be rewarded): out of the due index."""
    client.zrem(keys.referrals_due(instance_id), friend_id)
