"""Fulfilling a reward log in Wix: a coupon, or loyalty points, exactly once however often it is tried.

- coupon: the code is derived from the reward log id, so a retry after a crash at any point asks Wix
  for the same code; when Wix refuses it and a lookup finds a coupon with the code, that coupon is
  accepted (the code is ours by construction) and the reward log is stamped from it.
- points: earned on the member's loyalty account (created when the contact has none) with the reward
  log id as Wix's `idempotencyKey`, so Wix itself refuses to earn twice.
- manual: left `pending` for the Update Reward Log action or API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis

from worker.engine.timestamps import utc_stamp
from worker.loyalty.points_gate import park_reward, points_wait_reason
from worker.progress.record import NotFound, issue_reward
from worker.store.counted_updates import update_reward_log
from worker.store.progress import ProgressStore
from worker.wix.client import WixAlreadyExists, WixClient

DEFAULT_VALID_DAYS = 30


def coupon_code(reward_log_id: str) -> str:
    """`RW-` and twelve characters of the reward log id: at most 20 characters, readable, stable."""
    return "RW-" + reward_log_id.removeprefix("rl_")[:12].upper()


def _number(value: Any) -> int | float:
    amount = Decimal(str(value))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def coupon_specification(reward_log: dict[str, Any], code: str, now: datetime) -> dict[str, Any]:
    """Wix Coupons v2 `specification` (wix-facts.md §4.3): one use, starting now."""
    reward = reward_log["reward"]
    coupon = reward["coupon"]
    expires = now + timedelta(days=int(reward.get("validDays") or DEFAULT_VALID_DAYS))
    specification: dict[str, Any] = {
        "name": coupon["name"],
        "code": code,
        "active": True,
        # int64 fields are strings on the wire (@wix/marketing `Specification.startTime: string`).
        "startTime": str(int(now.timestamp() * 1000)),
        "expirationTime": str(int(expires.timestamp() * 1000)),
        "usageLimit": 1,
        "limitPerCustomer": 1,
        "limitedToOneItem": False,
    }
    if coupon.get("percentOffRate") is not None:
        specification["percentOffRate"] = _number(coupon["percentOffRate"])
    elif coupon.get("moneyOffAmount") is not None:
        specification["moneyOffAmount"] = _number(coupon["moneyOffAmount"])
    else:
        specification["freeShipping"] = True
    if coupon.get("minimumSubtotal") is not None:
        specification["minimumSubtotal"] = _number(coupon["minimumSubtotal"])
    elif "freeShipping" not in specification:  # Wix refuses a scope on free shipping (wix-facts.md §8)
        specification["scope"] = {"namespace": "stores"}
    return specification


def _moment(milliseconds: Any) -> datetime:
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def fulfil_reward(
    wix: WixClient, client: redis.Redis, instance_id: str, reward_log_id: str, now: datetime
) -> str:
    """Fulfil one reward log; answers its status afterwards. Wix errors propagate: transient ones are
    retried by the task, permanent ones mark the reward log failed."""
    store = ProgressStore(client)
    reward_log = store.reward_log(instance_id, reward_log_id)
    if reward_log is None:
        raise NotFound(f"no reward log {reward_log_id} in instance {instance_id}")
    if reward_log["status"] not in ("pending", "failed"):
        return str(reward_log["status"])
    reward = reward_log.get("reward") or {"type": "manual"}
    if reward["type"] == "coupon":
        return _fulfil_coupon(wix, client, instance_id, reward_log, now)
    if reward["type"] == "points":
        return _fulfil_points(wix, client, instance_id, reward_log, now)
    return "pending"  # manual: someone issues it through the action or the API


def _fulfil_coupon(
    wix: WixClient, client: redis.Redis, instance_id: str, reward_log: dict[str, Any], now: datetime
) -> str:
    code = coupon_code(reward_log["id"])
    specification = coupon_specification(reward_log, code, now)
    try:
        wix.create_coupon(instance_id, specification)
    except WixAlreadyExists as exc:
        if not isinstance(exc.existing.get("specification"), dict):
            raise
        specification = exc.existing["specification"]  # made by an earlier try of this very reward
    if _revoked_meanwhile(wix, client, instance_id, reward_log["id"], code):
        return "revoked"
    issue_reward(
        client,
        instance_id,
        reward_log["id"],
        coupon_code=code,
        issued_at=_moment(specification["startTime"]),
        expiry_at=_moment(specification["expirationTime"]),
        now=now,
    )
    return "issued"


def _revoked_meanwhile(
    wix: WixClient, client: redis.Redis, instance_id: str, reward_log_id: str, code: str
) -> bool:
    """Its order was cancelled while the coupon was being made (onCancel: revoke, rewards/reversal.py): the
    coupon just made is deleted again (the revocation's own task deletes one made after it looked)."""
    current = ProgressStore(client).reward_log(instance_id, reward_log_id) or {}
    if current.get("status") != "revoked":
        return False
    for coupon in wix.query_coupons_by_code(instance_id, code):
        wix.delete_coupon(instance_id, str(coupon["id"]))
    return True


def loyalty_account_id(wix: WixClient, instance_id: str, contact_id: str) -> str:
    """The contact's loyalty account, created when the contact has none."""
    account = wix.get_loyalty_account_by_contact(instance_id, contact_id)
    if account is None:
        try:
            account = wix.create_loyalty_account(instance_id, contact_id)
        except WixAlreadyExists as exc:  # opened meanwhile (by an earlier try, or the bootstrap)
            account = exc.existing
    return str(account["id"])


def earn_points(
    wix: WixClient, instance_id: str, contact_id: str, points: int, idempotency_key: str, description: str
) -> None:
    """Earn points on the contact's account; Wix's idempotency key makes a repeat earn nothing."""
    wix.earn_points(
        instance_id, loyalty_account_id(wix, instance_id, contact_id), points, description, idempotency_key
    )


def _fulfil_points(
    wix: WixClient, client: redis.Redis, instance_id: str, reward_log: dict[str, Any], now: datetime
) -> str:
    reason = points_wait_reason(client, instance_id)
    if reason is not None:
        park_reward(client, instance_id, reward_log["id"])
        mark_reward(client, instance_id, reward_log["id"], status="pending", now=now, error=reason)
        return "pending"
    wix.earn_points(
        instance_id,
        loyalty_account_id(wix, instance_id, reward_log["contactId"]),
        int(reward_log["reward"]["points"]),
        f"Reward: {reward_log.get('milestoneName') or reward_log['milestoneId']}",
        reward_log["id"],
    )
    mark_reward(client, instance_id, reward_log["id"], status="issued", now=now)
    return "issued"


def mark_reward(
    client: redis.Redis,
    instance_id: str,
    reward_log_id: str,
    *,
    status: str,
    now: datetime,
    error: str | None = None,
) -> None:
    """Set a reward log's status (`issued` for points, `failed` with the error)."""
    key = ProgressStore(client).reward_log_key(instance_id, reward_log_id)
    if key is None:
        return
    stamp = utc_stamp(now)

    def mark(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        if reward_log["status"] in ("issued", "redeemed", "revoked"):
            return None  # issued stays issued, a redeemed coupon redeemed, a revoked reward revoked
        reward_log.update(status=status, updatedAt=stamp)
        if status == "issued":
            reward_log["rewardIssuedAt"] = stamp
            reward_log.pop("error", None)
        if error is not None:
            reward_log["error"] = error
        return reward_log

    update_reward_log(client, key, mark, instance_id=instance_id, now=now)
