"""Wix automation trigger events (wix-facts.md §5.2), so a merchant's automations can follow the program.

The triggers (their payload schemas, what a self-hoster pastes in Wix's Dev Center, are in
`wix-app/triggers/{trigger_key}.json`):

- `order_paid`, `order_fulfilled`: once per order, whichever webhook says it and however often;
- `milestone_achieved`: a reward log was created; `reward_issued`: it was issued (by fulfilment, the
  Update Reward Log action or the records API); `reward_expiring`: it expires within the notice days;
- `points_earned`: a points rule's points were earned in Wix;
- `streak_at_risk`: a streak's period is on its last day without its target met;
- `tier_changed`: the member's Wix loyalty tier changed, once per change (worker/rewards/tier_changes.py).
- `points_reversed`: a cancelled or refunded order's points were taken back (worker/rewards/reversal.py).
- `referral_rewarded`: a referral's hold ended and both sides were rewarded, once per referral.

Every payload names the member as `contactId` (the one property Wix connects to the contact) and
spells its keys in camelCase. A report carries Wix's idempotency key (`{triggerKey}:{entity}`, a digest
past 80 characters) and a GUID external entity id derived from the entity, so a repeat is ignored by
Wix; a report is decided once (worker/store/trigger_marks.py) and sent through the member's outbox.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.engine.timestamps import utc_stamp
from worker.identifiers import identifier_problem
from worker.loyalty.points_rules import PointsEarn
from worker.store import outbox, trigger_marks
from worker.store.progress import ProgressStore
from worker.wix.client import WixClient
from worker.wix.events import NormalizedEvent

logger = logging.getLogger(__name__)

ORDER_PAID = "order_paid"
ORDER_FULFILLED = "order_fulfilled"
MILESTONE_ACHIEVED = "milestone_achieved"
REWARD_ISSUED = "reward_issued"
REWARD_EXPIRING = "reward_expiring"
POINTS_EARNED = "points_earned"
STREAK_AT_RISK = "streak_at_risk"
TIER_CHANGED = "tier_changed"  # the member's Wix loyalty tier changed (worker/rewards/tier_changes.py)
POINTS_REVERSED = "points_reversed"
REFERRAL_REWARDED = "referral_rewarded"  # worker/rewards/referral_rewards.py reports it
TRIGGER_KEYS = (
    ORDER_PAID,
    ORDER_FULFILLED,
    MILESTONE_ACHIEVED,
    REWARD_ISSUED,
    REWARD_EXPIRING,
    POINTS_EARNED,
    STREAK_AT_RISK,
    TIER_CHANGED,
    POINTS_REVERSED,
    REFERRAL_REWARDED,
)
REWARD_LOG_TRIGGERS = (MILESTONE_ACHIEVED, REWARD_ISSUED, REWARD_EXPIRING)

_NAMESPACE = uuid.UUID("4b0e8a52-1c7e-4f3d-9a61-2f0c6d5e7b90")
IDEMPOTENCY_KEY_MAX = 80  # Wix: `idempotency.key` 1 to 80 characters (wix-facts.md §8)


def idempotency_key(trigger_key: str, entity: str) -> str:
    """`{triggerKey}:{entity}`, or the entity's digest when that would pass Wix's 80 characters."""
    key = f"{trigger_key}:{entity}"
    if len(key) <= IDEMPOTENCY_KEY_MAX:
        return key
    digest = hashlib.sha256(entity.encode()).hexdigest()
    return f"{trigger_key}:{digest}"[:IDEMPOTENCY_KEY_MAX]


def external_entity_id(entity: str) -> str:
    """A GUID for the entity (Wix cancels pending actions by trigger key and this id)."""
    return str(uuid.uuid5(_NAMESPACE, entity))


def _number(value: Any) -> int | float:
    amount = Decimal(str(value))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


# --- payloads -----------------------------------------------------------------------------------------


def trigger_payload(reward_log: dict[str, Any]) -> dict[str, Any]:
    """The payload of `milestone_achieved`, `reward_issued` and `reward_expiring`: the reward log."""
    reward = reward_log.get("reward") or {}
    payload = {
        "contactId": reward_log["contactId"],
        "rewardLogId": reward_log["id"],
        "programItemType": reward_log["linkedSchemaSlug"],
        "programItemId": reward_log["linkedSchemaRecordId"],
        "milestoneId": reward_log["milestoneId"],
        "milestoneName": reward_log.get("milestoneName") or reward_log["milestoneId"],
        "rewardType": reward.get("type", "manual"),
        "rewardInstructions": reward_log.get("rewardInstructions") or "",
        "couponCode": reward_log.get("couponCode") or "",
    }
    for field, source in (("rewardIssuedAt", "rewardIssuedAt"), ("rewardExpiresAt", "rewardExpiryAt")):
        if reward_log.get(source):  # a time or nothing: "" is not a date-time
            payload[field] = reward_log[source]
    return payload


def order_payload(
    trigger_key: str, contact_id: str, order: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """`order_paid` (`paidAt`) or `order_fulfilled` (`fulfilledAt`): the buyer and the order."""
    total = order.get("total") or {}
    return {
        "contactId": contact_id,
        "orderId": order["id"],
        "orderNumber": str(order.get("number") or ""),
        "total": _number(total.get("amount") if total.get("amount") is not None else 0),
        "currency": str(total.get("currency") or ""),
        ("paidAt" if trigger_key == ORDER_PAID else "fulfilledAt"): utc_stamp(at),
    }


def points_payload(contact_id: str, points: int, description: str, at: datetime) -> dict[str, Any]:
    return {"contactId": contact_id, "points": points, "description": description, "earnedAt": utc_stamp(at)}


# --- deciding and reporting ---------------------------------------------------------------------------


def report_once(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    trigger_key: str,
    entity: str,
    intent: outbox.Intent,
) -> bool:
    """Decide the trigger event once (its intent in the member's outbox) and send its report; a repeat
    sends again at once only what is still unsent. True when decided now. Sending never fails the caller
    (the relay sends what is left)."""
    now = time.time()
    new = trigger_marks.decide(client, instance_id, contact_id, trigger_key, entity, intent, now)
    if not new:
        outbox_key = keys.member_outbox(instance_id, contact_id)
        outbox.resend_pending(client, outbox_key, [intent.id], follow_ups.resend, now)
        return False
    outbox.crash_after_commit_for_tests()
    try:
        follow_ups.resend(intent.task, intent.kwargs, intent.queue)
    except Exception:  # the intent is in the member's outbox: the relay sends it
        logger.exception("could not send a trigger report", extra={"trigger": trigger_key})
    return True


def report_event_once(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    trigger_key: str,
    entity: str,
    payload: dict[str, Any],
) -> bool:
    """A trigger event not about a reward log, its payload decided now (`rewards.report_event`)."""
    intent = trigger_marks.event_intent(instance_id, contact_id, trigger_key, entity, payload)
    return report_once(client, follow_ups, instance_id, contact_id, trigger_key, entity, intent)


def report_reward_log_once(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    trigger_key: str,
    reward_log: dict[str, Any],
) -> bool:
    """A trigger event about a reward log (`rewards.report_trigger`, its payload read when reported)."""
    intent = outbox.report_intent(instance_id, trigger_key, reward_log["id"])
    contact_id = reward_log["contactId"]
    return report_once(client, follow_ups, instance_id, contact_id, trigger_key, reward_log["id"], intent)


def report_order_event(client: redis.Redis, follow_ups: Dispatcher, event: NormalizedEvent) -> bool:
    """`order_paid` or `order_fulfilled` for a normalized event of that name, once per order (the
    entity is the order, whichever webhook says it); nothing for an order without a buyer contact."""
    if event.name not in (ORDER_PAID, ORDER_FULFILLED) or event.order is None:
        return False
    if not event.contactId or identifier_problem(event.contactId) is not None:
        logger.info("no trigger report: the order has no usable buyer contact", extra={"trigger": event.name})
        return False
    order = event.order.model_dump(mode="json")
    payload = order_payload(event.name, event.contactId, order, event.occurredAt)
    entity = f"order:{event.order.id}"
    return report_event_once(
        client, follow_ups, event.instanceId, event.contactId, event.name, entity, payload
    )


def report_points_earned(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, earned: PointsEarn, now: datetime
) -> bool:
    """`points_earned`, once per earn (its idempotency key is the entity), after Wix earned them."""
    payload = points_payload(earned.contact_id, earned.points, earned.description, now)
    return report_event_once(
        client, follow_ups, instance_id, earned.contact_id, POINTS_EARNED, earned.idempotency_key, payload
    )


def report_event(
    wix: WixClient, instance_id: str, trigger_key: str, entity: str, payload: Mapping[str, Any]
) -> list[str]:
    """Report one trigger event to Wix with its idempotency key and external entity id."""
    return wix.report_trigger_event(
        instance_id,
        trigger_key,
        payload,
        external_entity_id=external_entity_id(entity),
        idempotency_key=idempotency_key(trigger_key, entity),
    )


def report_trigger(
    wix: WixClient, client: redis.Redis, instance_id: str, trigger_key: str, reward_log_id: str
) -> bool:
    """Report one trigger event for a reward log; False when the reward log is gone."""
    reward_log = ProgressStore(client).reward_log(instance_id, reward_log_id)
    if reward_log is None:
        return False
    report_event(wix, instance_id, trigger_key, reward_log_id, trigger_payload(reward_log))
    return True


def report_points_reversed(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    *,
    order_id: str,
    points: int,
    reason: str,
    at: datetime,
) -> bool:
    """`points_reversed`, once per order (the entity), after Wix took the points back."""
    payload = {
        "contactId": contact_id,
        "orderId": order_id,
        "points": points,
        "reason": reason,
        "reversedAt": utc_stamp(at),
    }
    entity = f"order:{order_id}"
    return report_event_once(client, follow_ups, instance_id, contact_id, POINTS_REVERSED, entity, payload)
