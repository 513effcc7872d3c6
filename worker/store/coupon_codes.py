"""Reward coupons by code: which of an instance's reward logs a coupon code was stamped on.

A paid order names the coupons it used only by code (`appliedDiscounts[].coupon.code`); this index finds
the reward log in one HGET. The entry is written just before the MULTI that stamps the code on the reward
log (worker.progress.record.issue_reward): the index is in the instance's slot and the log in the member's,
which no one step spans under Redis Cluster. So a reward log issued with a code is always found by it; an
entry may name a log not (yet) stamped with its code, which the redemption's check of the log's own
`couponCode` turns away.

One code names one reward log: the first stamped with it keeps it (HSETNX). The app's own codes come from
the reward log id, so they are unique by construction; a code someone issues by hand on a second log (a
shared code) still finds the first. The code is a hash field, never part of a key name, so no text from
an order reaches another key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys

MAX_CODE_LENGTH = 100  # what issue_reward accepts; a longer code in an order cannot be ours


@dataclass(frozen=True)
class CodeOwner:
    """The reward log a code was stamped on."""

    contact_id: str
    reward_log_id: str


def _entry(contact_id: str, reward_log_id: str) -> str:
    entry = {"contactId": contact_id, "rewardLogId": reward_log_id}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def claim(client: redis.Redis, instance_id: str, code: str, contact_id: str, reward_log_id: str) -> None:
    """Before the MULTI stamping the code: the code names this reward log unless it names one already."""
    client.hsetnx(keys.coupon_codes(instance_id), code, _entry(contact_id, reward_log_id))


def owner(client: redis.Redis, instance_id: str, code: str) -> CodeOwner | None:
    """The reward log stamped with `code` in this instance; None for a code that is not ours."""
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    raw = client.hget(keys.coupon_codes(instance_id), code)
    try:
        entry = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    contact_id, reward_log_id = entry.get("contactId"), entry.get("rewardLogId")
    if not isinstance(contact_id, str) or not isinstance(reward_log_id, str):
        return None
    return CodeOwner(contact_id, reward_log_id)


def index_stamped(client: redis.Redis, instance_id: str, reward_log: dict[str, Any]) -> bool:
    """Index a reward log stamped before the index existed (the `index-coupon-codes` job): its code, if it
    has one and the code names no log yet; True when it added the entry."""
    code = reward_log.get("couponCode")
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        return False
    entry = _entry(str(reward_log["contactId"]), str(reward_log["id"]))
    return bool(client.hsetnx(keys.coupon_codes(instance_id), code, entry))


# KEYS: the index. ARGV: the code, the entry it must still hold. Removes it only then (another log's
# entry for the same code stays).
_FORGET = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def forget(client: redis.Redis, instance_id: str, code: str, contact_id: str, reward_log_id: str) -> bool:
    """Remove the code's entry while it still names this reward log (member erasure); True when it did."""
    removed = client.eval(_FORGET, 1, keys.coupon_codes(instance_id), code, _entry(contact_id, reward_log_id))
    return bool(removed)
