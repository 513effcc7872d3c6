"""Referral codes and claims: each member's code, made on first ask (`member_code`): random, unguessable,
not the contact id, and never changed; a signed-in friend claims a code once (`claim`), and the first
claim stands; and what the widget shows of them (`member_referral`, `claim_for_widget`).

What a claimed referral becomes when the friend pays is worker/loyalty/referral_decisions.py.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.engine.program import Referrals
from worker.engine.referrals import SAME_CONTACT
from worker.loyalty.referral_records import history_entry, referral_record, stamp, update

logger = logging.getLogger(__name__)

CODE_BYTES = 9  # 12 URL-safe characters: 72 random bits
CODE_PATTERN = r"^[A-Za-z0-9_-]{8,32}$"


class UnknownReferralCode(LookupError):
    """No member of the site has this referral code (404)."""


class ClaimRefused(ValueError):
    """The claim cannot stand (422); `reason` is its code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoReferralProgram(LookupError):
    """The site's program has no `referrals` section (404)."""


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
            "claimedAt": stamp(now),
            "history": [history_entry("claimed", now)],
        }
        answer.update(record)
        return lambda multi: multi.set(friend_key, json.dumps(record))

    if update(client, [friend_key, first_key], step):
        logger.info("referral claimed", extra={"instance_id": instance_id})
    return answer


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
