"""Shoppers spend points: the site's Wix loyalty rewards with their cost, redeeming one for a coupon, and
the member's earlier loyalty coupons (the widget's *Spend points*, docs/widget-api.md).

Wix's redeem (`POST /loyalty-coupons/v1/coupons`) takes no idempotency key, so redeeming once is ours to
make sure of. Each redemption is keyed by the widget's request id (`keys.member_redemption`): a retry, or
the second of a double click, answers the coupon the first got. One redemption per member is under way at
a time (`keys.member_redeem_lock`), so a concurrent duplicate waits for the first and then answers its
coupon. The record is written `pending` *before* Wix is called: if Wix's answer is lost (a timeout, a 5xx,
or we crashed after Wix redeemed), the next try of that request first looks for the coupon in the
member's loyalty coupons (the reward's name, created since the record, not already answered to another
request: `keys.member_redeemed_coupons`) and answers it; only when none is there does it redeem again.

The lock expires (`LOCK_TTL_SECONDS`), so that a redemption that died holding it does not block the member
for good. A live one must therefore never outlast it: were the lock to lapse while our redeem is still at
Wix, a retry of the same request would take it, not yet see the coupon, and redeem a second time. So the
redemption's Wix calls, their tries in place and the waits between redeem attempts all end
`LOCK_MARGIN_SECONDS` before the lock does (`WixClient.within`); a redemption out of time stops with its
record still `pending` (`WixOutOfTime`, a 503 the widget retries), and the retry looks before it redeems.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis

from worker import keys
from worker.wix.client import WixApiError, WixClient, WixTransientError

logger = logging.getLogger(__name__)

REWARDS_TTL_SECONDS = 60  # the catalog is the merchant's: a change shows within a minute
REDEMPTION_TTL_SECONDS = 7 * 24 * 3600  # a retry of the same request id answers the same coupon this long
UNKEYED_TTL_SECONDS = 60  # without a request id, the same reward again within a minute is a repeat
# The member's lock lapses this long after it is taken, should its redemption die holding it; a live
# redemption's Wix calls end `LOCK_MARGIN_SECONDS` before (the margin is for writing the answer down).
LOCK_TTL_SECONDS = 120
LOCK_MARGIN_SECONDS = 10
LOCK_WAIT_SECONDS = 20.0
REDEEM_TRIES = 3
LOOKBACK_SLACK = timedelta(minutes=2)  # Wix's clock and ours may differ a little
NOT_ENOUGH_POINTS = "NOT_ENOUGH_POINTS"  # the fake's code (UNCONFIRMED: Wix declares none)


class RedeemRefused(Exception):
    """A redemption that cannot be done, with the widget API's answer (status, code, message, details)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


# --- The catalog ------------------------------------------------------------------------------------------


_DISCOUNTS = ("percentage", "fixedAmount", "freeShipping")


def offer(reward: dict[str, Any], tier_id: str | None = None) -> dict[str, Any] | None:
    """A reward as the widget lists it, `{id, name, costInPoints, discount {type, value}, summary}`, at the
    cost of the member's tier (else the base one); None for an inactive reward or one that is not a
    coupon (a DISCOUNT_AMOUNT reward is spent at checkout)."""
    coupon = reward.get("couponReward")
    if not reward.get("active") or reward.get("type") != "COUPON_REWARD" or not isinstance(coupon, dict):
        return None
    kind = next((k for k in _DISCOUNTS if isinstance(coupon.get(k), dict)), None)
    configs = coupon[kind].get("configsByTier") if kind else None
    if not isinstance(configs, list) or not isinstance(reward.get("id"), str):
        return None
    by_tier = {c.get("tierId"): c for c in configs if isinstance(c, dict)}
    config = by_tier.get(tier_id) or by_tier.get(None)
    cost = config.get("costInPoints") if config else None
    if not isinstance(cost, int) or isinstance(cost, bool) or cost < 0:
        return None
    assert config is not None
    value = config.get("percentage" if kind == "percentage" else "amount")
    summary = {"percentage": f"{value}% off", "fixedAmount": f"{value} off"}.get(str(kind), "Free shipping")
    return {
        "id": reward["id"],
        "name": str(reward.get("name") or summary),
        "costInPoints": cost,
        "discount": {"type": kind, "value": value if kind != "freeShipping" else None},
        "summary": summary,
    }


def rewards(wix: WixClient, store: redis.Redis, instance_id: str) -> list[dict[str, Any]]:
    """The site's Wix loyalty rewards, kept `REWARDS_TTL_SECONDS` in Redis; none when Wix answers 404 (the
    site has no Wix Loyalty app); other Wix errors propagate."""
    key = keys.loyalty_rewards_copy(instance_id)
    kept = store.get(key)
    if kept is not None:
        return json.loads(kept)  # type: ignore[arg-type,no-any-return]
    try:
        found = wix.list_loyalty_rewards(instance_id)
    except WixApiError as exc:
        if exc.status != 404:
            raise
        found = []  # no Wix Loyalty app on the site: nothing to spend points on
    store.set(key, json.dumps(found), ex=REWARDS_TTL_SECONDS)
    return found


def _tier_id(account: dict[str, Any] | None) -> str | None:
    tier = account.get("tier") if account else None
    tier_id = tier.get("id") if isinstance(tier, dict) else None
    return tier_id if isinstance(tier_id, str) else None


def coupon_view(coupon: dict[str, Any]) -> dict[str, Any]:
    """A Wix LoyaltyCoupon as the widget shows it: `{id, rewardName, code, status, createdAt}`."""
    reference = coupon.get("couponReference")
    reference = reference if isinstance(reference, dict) else {}
    return {
        "id": coupon.get("id"),
        "rewardName": coupon.get("rewardName") or reference.get("name") or "",
        "code": reference.get("code"),
        "status": coupon.get("status") or "UNKNOWN",
        "createdAt": coupon.get("createdDate"),
    }


def spending(wix: WixClient, store: redis.Redis, instance_id: str, contact_id: str) -> dict[str, Any]:
    """`{"balance", "rewards", "coupons"}`: the member's balance (None without an account), the rewards on
    offer at their tier, cheapest first, and their loyalty coupons, newest first."""
    account = wix.get_loyalty_account_by_contact(instance_id, contact_id)
    offers = [o for o in (offer(r, _tier_id(account)) for r in rewards(wix, store, instance_id)) if o]
    offers.sort(key=lambda o: (o["costInPoints"], o["name"]))
    coupons = wix.query_loyalty_coupons(instance_id, account["id"]) if account else []
    return {
        "balance": _balance(account) if account else None,
        "rewards": offers,
        "coupons": [coupon_view(c) for c in coupons],
    }


def _balance(account: dict[str, Any]) -> int:
    points = account.get("points")
    balance = points.get("balance") if isinstance(points, dict) else None
    return balance if isinstance(balance, int) else 0


# --- Redeeming --------------------------------------------------------------------------------------------


def redeem(
    wix: WixClient,
    store: redis.Redis,
    instance_id: str,
    contact_id: str,
    reward_id: str,
    request_id: str | None,
    now: datetime,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Redeem the member's points for the reward's coupon, once per `request_id` (see the module's doc);
    answers `{"coupon", "balance", "costInPoints"}`. Without a request id, the same reward again within
    `UNKEYED_TTL_SECONDS` is taken as a repeat. Wix too slow to finish under the member's lock raises its
    last `WixTransientError` (503 `wix_unavailable`): the same request again finishes it."""
    digest = hashlib.sha256(f"{request_id or 'reward'}|{reward_id}".encode()).hexdigest()[:40]
    key = keys.member_redemption(instance_id, contact_id, digest)
    ttl = REDEMPTION_TTL_SECONDS if request_id else UNKEYED_TTL_SECONDS
    done = _done(store, key)
    if done is not None:
        return done
    lock = keys.member_redeem_lock(instance_id, contact_id)
    token = _acquire(store, lock, key, sleep)
    if isinstance(token, dict):
        return token  # the first of a concurrent pair finished it meanwhile
    try:
        done = _done(store, key)
        if done is not None:
            return done
        # Counted from just after the lock was taken: the margin covers that moment too.
        bounded = wix.within(LOCK_TTL_SECONDS - LOCK_MARGIN_SECONDS)
        return _redeem_locked(bounded, store, instance_id, contact_id, reward_id, key, ttl, now, sleep)
    finally:
        _release(store, lock, token)


def _done(store: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = store.get(key)
    record = json.loads(raw) if raw else None  # type: ignore[arg-type]
    return record["answer"] if record and record.get("state") == "done" else None


def _acquire(store: redis.Redis, lock: str, key: str, sleep: Callable[[float], None]) -> str | dict[str, Any]:
    """The lock's token, or the answer the redemption got while we waited for the lock."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while store.set(lock, token, nx=True, ex=LOCK_TTL_SECONDS) is not True:
        done = _done(store, key)
        if done is not None:
            return done
        if time.monotonic() > deadline:
            raise RedeemRefused(503, "redeem_busy", "another redemption is under way: try again shortly")
        sleep(0.05)
    return token


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _release(store: redis.Redis, lock: str, token: str) -> None:
    store.eval(_RELEASE, 1, lock, token)


def _redeem_locked(
    wix: WixClient,
    store: redis.Redis,
    instance_id: str,
    contact_id: str,
    reward_id: str,
    key: str,
    ttl: int,
    now: datetime,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    account = wix.get_loyalty_account_by_contact(instance_id, contact_id)
    if account is None:
        raise RedeemRefused(409, "no_loyalty_account", "the member has no loyalty account yet")
    chosen = next(
        (
            o
            for o in (offer(r, _tier_id(account)) for r in rewards(wix, store, instance_id))
            if o and o["id"] == reward_id
        ),
        None,
    )
    if chosen is None:
        raise RedeemRefused(404, "unknown_reward", "no such reward on offer", {"rewardId": reward_id})
    raw = store.get(key)
    record: dict[str, Any] = json.loads(raw) if raw else {}  # type: ignore[arg-type]
    if record:  # an earlier try of this request may have redeemed: look before redeeming again
        found = _look_up(wix, store, instance_id, contact_id, account["id"], chosen, record["since"])
        if found is not None:
            logger.info(
                "an earlier try's redemption found in Wix",
                extra={"instance_id": instance_id, "contact_id": contact_id, "reward_id": reward_id},
            )
            return _finish(store, instance_id, contact_id, key, ttl, found, chosen, _balance(account))
    balance = _balance(account)
    if balance < chosen["costInPoints"]:
        store.delete(key)
        raise _insufficient(chosen["costInPoints"], balance)
    record = {"state": "pending", "rewardId": reward_id, "since": (now - LOOKBACK_SLACK).isoformat()}
    store.set(key, json.dumps(record), ex=ttl)
    for attempt in range(REDEEM_TRIES):
        try:
            coupon = wix.redeem_points_for_coupon(instance_id, reward_id, account["id"])
        except WixApiError as exc:
            store.delete(key)  # refused: nothing was redeemed
            if exc.code == NOT_ENOUGH_POINTS:
                raise _insufficient(chosen["costInPoints"], balance) from None
            raise
        except WixTransientError as exc:
            found = None
            if exc.maybe_done:
                found = _look_up(wix, store, instance_id, contact_id, account["id"], chosen, record["since"])
            delay = exc.suggested_delay(attempt, base=0.2, cap=2.0)
            if found is not None:
                coupon = found
            elif attempt + 1 < REDEEM_TRIES and wix.can_call_after(delay):
                sleep(delay)
                continue
            else:
                raise  # still `pending`: the widget's retry looks first
        return _finish(
            store, instance_id, contact_id, key, ttl, coupon, chosen, balance - chosen["costInPoints"]
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _insufficient(cost: int, balance: int) -> RedeemRefused:
    return RedeemRefused(
        409,
        "insufficient_points",
        f"this reward costs {cost} points; the balance is {balance}",
        {"costInPoints": cost, "balance": balance},
    )


def _look_up(
    wix: WixClient,
    store: redis.Redis,
    instance_id: str,
    contact_id: str,
    account_id: str,
    chosen: dict[str, Any],
    since: str,
) -> dict[str, Any] | None:
    """The oldest of the member's loyalty coupons for this reward made since `since` that no redemption of
    ours has answered yet, or None."""
    claimed: set[str] = store.smembers(keys.member_redeemed_coupons(instance_id, contact_id))  # type: ignore[assignment]
    start = datetime.fromisoformat(since)
    found: list[tuple[datetime, dict[str, Any]]] = []
    for coupon in wix.query_loyalty_coupons(instance_id, account_id):
        created = _created(coupon)
        fresh = created is not None and created >= start and coupon.get("id") not in claimed
        if fresh and created is not None and coupon.get("rewardName") == chosen["name"]:
            found.append((created, coupon))
    return min(found, key=lambda pair: pair[0])[1] if found else None


def _created(coupon: dict[str, Any]) -> datetime | None:
    value = coupon.get("createdDate")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _finish(
    store: redis.Redis,
    instance_id: str,
    contact_id: str,
    key: str,
    ttl: int,
    coupon: dict[str, Any],
    chosen: dict[str, Any],
    balance: int,
) -> dict[str, Any]:
    """Keep the answer for retries, claim the coupon, and drop the member's cached account (its balance)."""
    logger.info(
        "points redeemed for a Wix loyalty coupon",
        extra={
            "instance_id": instance_id,
            "contact_id": contact_id,
            "reward_id": chosen["id"],
            "loyalty_coupon_id": coupon.get("id"),
            "points": chosen["costInPoints"],
        },
    )
    answer = {
        "coupon": coupon_view(coupon),
        "balance": max(balance, 0),
        "costInPoints": chosen["costInPoints"],
    }
    with store.pipeline() as pipe:
        pipe.sadd(keys.member_redeemed_coupons(instance_id, contact_id), str(coupon.get("id")))
        pipe.set(key, json.dumps({"state": "done", "rewardId": chosen["id"], "answer": answer}), ex=ttl)
        pipe.delete(keys.loyalty_account_copy(instance_id, contact_id))
        pipe.execute()
    return answer
