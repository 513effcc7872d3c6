"""A reward's coupon used on a paid order: its reward log becomes `redeemed`, once.

Which events: `order_paid` (Wix's payment status update to PAID), and `order_approved` when the order is
already PAID; both carry the order with its `appliedDiscounts` (wix-facts.md §3.1). Not
`checkout_completed`: a checkout is not paid and names no order. Not Wix's coupon `applied` webhook
(`wix.ecommerce.coupons.v2.coupon_applied`): its payload is not documented (wix-facts.md §4.3 names it
only), and a coupon applied to a cart that is never paid is not used; it could not give the order, its
total or the time of payment either.

How: the order's coupon codes find their reward logs through the instance's code index
(worker/store/coupon_codes.py; another instance's codes are another hash, so another site's order never
reaches this site's logs), and each log changes in one WATCH/MULTI step: `issued` (or `expired`, see
below) → `redeemed`, with `redeemedAt` (the event's time: when Wix says the payment happened) and
`redemption: {orderId, total, currency}`. A redeemed log is never changed again: a redelivery, another
event about the same order, another order with the same code, or two workers at once leave the first
redemption as it is. A code that is not ours is ignored.

- `expired` → `redeemed`: the coupon was applied at checkout, before Wix's expiry (ours is the same
  instant); an order paid later (an offline payment) arrives after `expire-rewards` may have run. The
  paid order is the better evidence, so it wins.
- `pending` or `failed`: cannot happen. The index entry is written in the step that stamps the code and
  makes the log `issued`, so a code finds no log before that; and the shopper learns the code only after
  it (the widget and the `reward_issued` trigger read the stamped log). A log that nonetheless is in
  neither state, or no longer carries the code, is left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.engine.timestamps import utc_stamp
from worker.store import coupon_codes
from worker.store.counted_updates import update_reward_log
from worker.wix.events import NormalizedEvent, OrderInfo

logger = logging.getLogger(__name__)

REDEEMABLE = ("issued", "expired")


def paid_order(event: NormalizedEvent) -> OrderInfo | None:
    """The order of an event that says it is paid, else None."""
    order = event.order
    if event.name not in ("order_paid", "order_approved") or order is None:
        return None
    return order if order.paymentStatus == "PAID" else None


def redemption_of(order: OrderInfo) -> dict[str, Any]:
    """What a redeemed reward log keeps of the order (for figures of loyalty-driven revenue)."""
    total = order.total
    return {
        "orderId": order.id,
        "total": str(total.amount) if total is not None else None,
        "currency": total.currency if total is not None else None,
    }


def redeem_coupon(
    client: redis.Redis,
    instance_id: str,
    code: str,
    order: OrderInfo,
    redeemed_at: datetime,
    now: datetime,
) -> dict[str, Any] | None:
    """Mark the reward log stamped with `code` redeemed by `order`; answers the reward log when this call
    redeemed it, None when it changed nothing (not our code, already redeemed, not redeemable)."""
    found = coupon_codes.owner(client, instance_id, code)
    if found is None:
        return None
    key = keys.member_reward(instance_id, found.contact_id, found.reward_log_id)

    def redeem(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        if reward_log.get("couponCode") != code or reward_log.get("status") not in REDEEMABLE:
            return None
        return {
            **reward_log,
            "status": "redeemed",
            "redeemedAt": utc_stamp(redeemed_at),
            "redemption": redemption_of(order),
            "updatedAt": utc_stamp(now),
        }

    reward_log, changed = update_reward_log(client, key, redeem, instance_id=instance_id, now=now)
    return reward_log if changed else None


def redeem_order_coupons(client: redis.Redis, event: NormalizedEvent, now: datetime) -> list[str]:
    """The ids of the reward logs a paid order's coupons redeemed now (none for any other event, and none
    for an order whose coupons were already counted)."""
    order = paid_order(event)
    if order is None:
        return []
    redeemed = []
    for code in order.couponCodes:
        reward_log = redeem_coupon(client, event.instanceId, code, order, event.occurredAt, now)
        if reward_log is not None:
            redeemed.append(str(reward_log["id"]))
            logger.info(
                "reward coupon redeemed", extra={"reward_log_id": reward_log["id"], "order_id": order.id}
            )
    return redeemed
