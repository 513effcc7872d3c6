"""Referrals in Redis: each member's referral code, a friend's claim, and each referral's decisions.

A member's code is made on first ask (`member_code`): random, unguessable, not the contact id, and never
changed. A signed-in friend claims a code once (`claim`); the first claim stands. When the friend pays
an order, `decide_paid_order` applies the rules (worker/engine/referrals.py) and either refuses the
referral with its reason or *holds* it until `holdDays` have passed, counting it in the referrer's cap in
the same MULTI, so concurrent orders can never pass the cap. A cancelled (or refunded) order drops a held
referral and gives its place in the cap back (`drop_canceled`); the release job then rewards what is due
(`mark_rewarded`, worker/rewards/referral_rewards.py).

Every key of an instance's referrals shares the hash tag `{instanceId}` (worker/keys.py), so each step is
one WATCH/MULTI. The referral record (`keys.referral`, one per friend) keeps every decision in `history`:
the per-site record of what was rewarded, refused (with the reason) or dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from worker import keys
from worker.dispatch import FULFIL_REWARD, queue_of
from worker.engine.program import Referrals
from worker.engine.referrals import (
    CAP_REACHED,
    ORDER_CANCELED,
    REASONS,
    SAME_CONTACT,
    cap_period,
    normalized_email,
    refusal,
    release_at,
)
from worker.engine.timestamps import utc_stamp
from worker.store import outbox

logger = logging.getLogger(__name__)

CODE_BYTES = 9  # 12 URL-safe characters: 72 random bits
CODE_PATTERN = r"^[A-Za-z0-9_-]{8,32}$"
MARK_TTL_SECONDS = 400 * 24 * 3600  # cap counters and cancellation marks outlive a yearly period
MAX_ATTEMPTS = 50
ORDERS_KEPT = 10  # a contact's last paid orders whose payment details the same-payment check compares


class UnknownReferralCode(LookupError):
    """No member of the site has this referral code (404)."""


class ClaimRefused(ValueError):
    """The claim cannot stand (422); `reason` is its code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoReferralProgram(LookupError):
    """The site's program has no `referrals` section (404)."""


def _stamp(moment: datetime) -> str:
    return utc_stamp(moment.astimezone(UTC))


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def member_code(client: redis.Redis, instance_id: str, contact_id: str) -> str:
    """The member's referral code, made on first ask. The code's owner is written first, so a code a
    member is shown always leads back to them; a race between two first asks keeps one code."""
    member_key = keys.referral_member_code(instance_id, contact_id)
    existing = client.get(member_key)
    if isinstance(existing, str):
        return existing
    code = secrets.token_urlsafe(CODE_BYTES)
    client.set(keys.referral_code(instance_id, code), contact_id, nx=True)
    if client.set(member_key, code, nx=True):
        return code
    client.delete(keys.referral_code(instance_id, code))  # another ask won: its code stays
    return str(client.get(member_key))


def referrer_of(client: redis.Redis, instance_id: str, code: str) -> str:
    owner = client.get(keys.referral_code(instance_id, code))
    if not isinstance(owner, str):
        raise UnknownReferralCode("no member of this site has this referral code")
    return owner


def referral_record(client: redis.Redis, instance_id: str, friend_id: str) -> dict[str, Any] | None:
    raw = client.get(keys.referral(instance_id, friend_id))
    return json.loads(raw) if isinstance(raw, str) else None


def _entry(status: str, now: datetime, **more: Any) -> dict[str, Any]:
    return {"status": status, "at": _stamp(now), **{k: v for k, v in more.items() if v is not None}}


def _update(
    client: redis.Redis,
    watched: list[str],
    step: Callable[[Any], Callable[[Any], None] | None],
) -> bool:
    """One WATCH/MULTI step: `step` reads through the watching pipeline and answers the writes to make
    (a function of the MULTI pipeline), or None for none. Again if a watched key changed first."""
    with client.pipeline() as pipe:
        for _ in range(MAX_ATTEMPTS):
            try:
                pipe.watch(*watched)  # type: ignore[no-untyped-call]
                writes = step(pipe)
                if writes is None:
                    pipe.reset()
                    return False
                pipe.multi()
                writes(pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                continue
    raise RuntimeError("referral record kept changing")


def claim(client: redis.Redis, instance_id: str, friend_id: str, code: str, now: datetime) -> dict[str, Any]:
    """The signed-in friend claims a referral code; answers the friend's referral (the first claim
    stands: a second claim, of any code, answers the first). ClaimRefused for the member's own code, or
    for a friend who already paid an order (referrals reward a first order)."""
    referrer_id = referrer_of(client, instance_id, code)
    if referrer_id == friend_id:
        raise ClaimRefused(SAME_CONTACT, "a member cannot claim their own referral code")
    friend_key = keys.referral(instance_id, friend_id)
    first_key = keys.referral_first_order(instance_id, friend_id)
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        if raw:
            answer.update(json.loads(raw))
            return None
        if pipe.get(first_key):
            raise ClaimRefused("not_first_order", "referrals are for a first order: this member has ordered")
        record = {
            "friendId": friend_id,
            "referrerId": referrer_id,
            "code": code,
            "status": "claimed",
            "claimedAt": _stamp(now),
            "history": [_entry("claimed", now)],
        }
        answer.update(record)
        return lambda multi: multi.set(friend_key, json.dumps(record))

    if _update(client, [friend_key, first_key], step):
        logger.info("referral claimed", extra={"instance_id": instance_id})
    return answer


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
            current.update(status="held", releaseAt=_stamp(due), capPeriod=period)
        else:
            current.update(status="dropped" if reason == ORDER_CANCELED else "refused", reason=reason)
        current.update(orderId=order.order_id, paidAt=_stamp(order.paid_at), decidedAt=_stamp(now))
        current["history"].append(
            _entry(current["status"], now, orderId=order.order_id, reason=REASONS.get(reason or ""))
        )
        answer.update(current)

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            if held:
                multi.incr(cap_key)
                multi.expire(cap_key, MARK_TTL_SECONDS)
                multi.zadd(
                    keys.referrals_due(instance_id),
                    {order.friend_id: _moment(current["releaseAt"]).timestamp()},
                )

        return writes

    if _update(client, [friend_key, first_key, canceled_key, cap_key], step):
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
    friend_key = keys.referral(instance_id, friend_id)
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        if current.get("status") != "held" or current.get("orderId") != order_id:
            return None
        current.update(status="dropped", reason=ORDER_CANCELED, decidedAt=_stamp(now))
        current["history"].append(_entry("dropped", now, orderId=order_id, reason=REASONS[ORDER_CANCELED]))
        answer.update(current)
        cap_key = keys.referral_cap(instance_id, str(current["referrerId"]), str(current["capPeriod"]))

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            multi.decr(cap_key)
            multi.zrem(keys.referrals_due(instance_id), friend_id)

        return writes

    if _update(client, [friend_key], step):
        logger.info("referral dropped: order cancelled", extra={"instance_id": instance_id})
        return answer
    return None


def refuse_held(
    client: redis.Redis, instance_id: str, friend_id: str, reason: str, now: datetime
) -> dict[str, Any] | None:
    """A held referral a check refuses when its hold ends (the same payment details): `refused` with the
    reason, its place in the cap given back. Answers it when this refused it."""
    friend_key = keys.referral(instance_id, friend_id)
    answer: dict[str, Any] = {}

    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        if current.get("status") != "held":
            return None
        current.update(status="refused", reason=reason, decidedAt=_stamp(now))
        current["history"].append(
            _entry("refused", now, orderId=current.get("orderId"), reason=REASONS.get(reason))
        )
        answer.update(current)
        cap_key = keys.referral_cap(instance_id, str(current["referrerId"]), str(current["capPeriod"]))

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            multi.decr(cap_key)
            multi.zrem(keys.referrals_due(instance_id), friend_id)

        return writes

    if _update(client, [friend_key], step):
        logger.info("referral refused at release", extra={"instance_id": instance_id, "reason": reason})
        return answer
    return None


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
        if current.get("status") != "held" or _moment(current["releaseAt"]) > now:
            return None
        current.update(status="rewarded", rewardedAt=_stamp(now))
        current["history"].append(_entry("rewarded", now, orderId=current.get("orderId")))
        answer.update(current)
        return lambda multi: multi.set(friend_key, json.dumps(current))

    _update(client, [friend_key], step)
    return answer or None


def forget_due(client: redis.Redis, instance_id: str, friend_id: str) -> None:
    """The referral's rewards are on their way (or it is not to be rewarded): out of the due index."""
    client.zrem(keys.referrals_due(instance_id), friend_id)


def referral_reward_log(
    instance_id: str, contact_id: str, friend_id: str, side: str, reward: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A coupon referral reward as a reward log (fulfilled like a milestone's: worker/rewards/fulfilment.py),
    its id derived from the referral and the side, so releasing it twice makes one."""
    reward_log_id = (
        "rl_"
        + hashlib.sha256(
            "\x1f".join([instance_id, contact_id, "referral", friend_id, side]).encode()
        ).hexdigest()[:24]
    )
    return {
        "id": reward_log_id,
        "instanceId": instance_id,
        "contactId": contact_id,
        "linkedSchemaSlug": "referral",
        "linkedSchemaRecordId": friend_id,
        "milestoneId": side,
        "milestoneName": "Referral reward",
        "rewardInstructions": None,
        "periodKey": friend_id,
        "reward": reward,
        "status": "pending",
        "couponCode": None,
        "rewardIssuedAt": None,
        "rewardExpiryAt": None,
        "createdAt": _stamp(now),
        "updatedAt": _stamp(now),
    }


def put_reward_log(client: redis.Redis, instance_id: str, reward_log: dict[str, Any], now: datetime) -> bool:
    """Keep a referral's coupon reward log as the store keeps a milestone's (its indexes first, then the
    log and its fulfilment intent in the member's outbox, in one MULTI); False when it exists already."""
    contact_id = reward_log["contactId"]
    key = keys.member_reward(instance_id, contact_id, reward_log["id"])
    if client.exists(key):
        return False
    with client.pipeline() as pipe:  # the indexes outside the member's slot first (worker/store/progress.py)
        pipe.hset(keys.reward_index(instance_id), reward_log["id"], contact_id)
        pipe.zadd(keys.reward_times(instance_id), {reward_log["id"]: now.timestamp()})
        pipe.execute()
    member_outbox = keys.member_outbox(instance_id, contact_id)
    intent = outbox.Intent(
        outbox.fulfil_intent_id(reward_log["id"]),
        FULFIL_REWARD,
        {"instance_id": instance_id, "reward_log_id": reward_log["id"]},
        queue_of(FULFIL_REWARD),
    )
    outbox.index(client, member_outbox, time.time())
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, json.dumps(reward_log), nx=True)
        pipe.zadd(keys.member_rewards(instance_id, contact_id), {reward_log["id"]: now.timestamp()})
        outbox.add(pipe, member_outbox, [intent], time.time())
        pipe.execute()
    return True


REF_PARAM = "wrw_ref"  # the shop page's query parameter that carries a referral code (docs/widget-api.md)


def _program_referrals(program: Any) -> Referrals:
    if program.referrals is None:
        raise NoReferralProgram("this site has no referral programme")
    referrals: Referrals = program.referrals
    return referrals


def member_referral(client: redis.Redis, program: Any, instance_id: str, contact_id: str) -> dict[str, Any]:
    """The widget's referral section: the member's code (made on first ask), the link's parameter, what
    each side earns, and the member's own claim (if they were referred); `{"enabled": false}` for a site
    without a referral programme (an answer, not an error: the widget asks on every member page)."""
    if program.referrals is None:
        return {"enabled": False}
    settings: Referrals = program.referrals
    own = referral_record(client, instance_id, contact_id)
    return {
        "enabled": True,
        "code": member_code(client, instance_id, contact_id),
        "param": REF_PARAM,
        "referrerReward": _summary(settings.referrerReward),
        "friendReward": _summary(settings.friendReward),
        "holdDays": settings.holdDays,
        "referredStatus": own["status"] if own is not None else None,
    }


def claim_for_widget(
    client: redis.Redis, program: Any, instance_id: str, friend_id: str, code: str, now: datetime
) -> dict[str, Any]:
    """`POST /widget/v1/referrals/claim`: the friend's referral after the claim, without the referrer's
    identity (`claimed`: whether this code is the one that stands)."""
    _program_referrals(program)
    record = claim(client, instance_id, friend_id, code, now)
    return {"status": record["status"], "claimed": record["code"] == code, "claimedAt": record["claimedAt"]}


def _summary(reward: Any) -> str:
    if reward.type == "points":
        return f"{reward.points} points"
    return str(reward.coupon.name) if reward.coupon is not None else str(reward.type)


ERASED = "(erased)"


def erase_contact(client: redis.Redis, instance_id: str, contact_id: str) -> int:
    """A member's erasure (worker/members/erasure.py): their code, their own referral, their order
    emails and ids, their cap counters go; a friend's referral naming them as referrer no longer names
    them, and one not yet rewarded is dropped (nobody is left to reward). Answers how many keys went.
    Safe to run again."""
    code = client.get(keys.referral_member_code(instance_id, contact_id))
    names = [
        keys.referral_member_code(instance_id, contact_id),
        keys.referral(instance_id, contact_id),
        keys.referral_first_order(instance_id, contact_id),
        keys.referral_emails(instance_id, contact_id),
        keys.referral_orders(instance_id, contact_id),
    ]
    if isinstance(code, str):
        names.append(keys.referral_code(instance_id, code))
    pattern = keys.glob_escape(keys.referral_cap(instance_id, contact_id, "x")[:-1]) + "*"
    names.extend(str(name) for name in client.scan_iter(match=pattern, count=1000))
    client.zrem(keys.referrals_due(instance_id), contact_id)
    friends = keys.glob_escape(keys.referral(instance_id, "x")[:-1]) + "*"
    for key in client.scan_iter(match=friends, count=1000):
        _forget_referrer(client, instance_id, str(key), contact_id)
    return int(client.delete(*names))  # type: ignore[arg-type]


def _forget_referrer(client: redis.Redis, instance_id: str, friend_key: str, referrer_id: str) -> None:
    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        if current.get("referrerId") != referrer_id:
            return None
        friend_id = str(current.get("friendId"))
        current["referrerId"] = ERASED
        if current.get("status") in ("claimed", "held"):
            current.update(status="dropped", reason="referrer_erased")
            current["history"].append({"status": "dropped", "reason": "the referrer's data was erased"})

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            multi.zrem(keys.referrals_due(instance_id), friend_id)

        return writes

    _update(client, [friend_key], step)


class NoReferral(LookupError):
    """The contact was referred by nobody (404)."""


def referral_of(client: redis.Redis, instance_id: str, friend_id: str) -> dict[str, Any]:
    """The referral of a friend with every decision (operators: `GET .../referrals/{contactId}`)."""
    record = referral_record(client, instance_id, friend_id)
    if record is None:
        raise NoReferral(f"contact {friend_id!r} was referred by nobody")
    return record
