"""The atomic part of points caps: one Lua call reserves an earn's points against the member's counter
for the rule and period and the rule's budget counter, and records the grant under the earn's
idempotency key.

So a redelivered event, a task retry or a replay after a crash asks again and gets the *recorded* grant
(never counted twice, even if the caps or the member's tier changed meanwhile); two deliveries at once
are serialized by Redis and cannot together overshoot; an earn that only partly fits is cut to what
fits. All keys share the instance's hash tag (worker/keys.py), so the call stays within one slot.
Each grant is its own key (named by the idempotency key's digest, not by a time: two webhooks about one
order may carry different times), kept 400 days after the event (longer than a yearly period): about
100 bytes per earn, and only for rules with a cap or a budget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from worker import keys

GRANTS_KEPT = timedelta(days=400)
COUNTERS_KEPT_AFTER_PERIOD = timedelta(days=7)  # the console reads a period's use shortly after it ends

# KEYS: the grant, the member's counter hash, the budget counter (the grant's key when not capped).
# ARGV: the idempotency key, requested, member cap (-1: none), contact id, budget (-1: none), and the
# three keys' expiries (epoch seconds).
_RESERVE = """
local done = redis.call('GET', KEYS[1])
if done then return done end
local grant = tonumber(ARGV[2])
local why = ''
local cap = tonumber(ARGV[3])
if cap >= 0 then
  local used = tonumber(redis.call('HGET', KEYS[2], ARGV[4]) or '0')
  local room = math.max(cap - used, 0)
  if room < grant then grant = room; why = 'member' end
end
local budget = tonumber(ARGV[5])
if budget >= 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  local room = math.max(budget - used, 0)
  if room < grant then grant = room; why = 'budget' end
end
if cap >= 0 and grant > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[4], grant)
  redis.call('EXPIREAT', KEYS[2], ARGV[7])
end
if budget >= 0 and grant > 0 then
  redis.call('INCRBY', KEYS[3], grant)
  redis.call('EXPIREAT', KEYS[3], ARGV[8])
end
local record = grant .. ':' .. why
redis.call('SET', KEYS[1], record, 'EXAT', ARGV[6])
return record
"""


@dataclass(frozen=True)
class Limit:
    """A cap on one counter: at most `points` in `period` (`monthly:2026-03-01`), which ends at `ends`."""

    points: int
    period: str
    ends: datetime


@dataclass(frozen=True)
class Grant:
    points: int
    cut_by: str | None  # "member", "budget" or None (granted in full)


def reserve(
    client: redis.Redis,
    instance_id: str,
    rule: int,
    contact_id: str,
    idempotency_key: str,
    requested: int,
    occurred_at: datetime,
    *,
    member_cap: Limit | None,
    budget: Limit | None,
) -> Grant:
    """Grant what fits of `requested` (once per idempotency key: a repeat answers the first grant)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    grant_key = keys.points_grant(instance_id, digest)
    member_key = (
        keys.points_member_used(instance_id, str(rule), member_cap.period) if member_cap else grant_key
    )
    budget_key = keys.points_budget_used(instance_id, str(rule), budget.period) if budget else grant_key
    record = client.register_script(_RESERVE)(  # EVALSHA, the script loaded once per server
        [grant_key, member_key, budget_key],
        [
            idempotency_key,
            str(requested),
            str(member_cap.points if member_cap else -1),
            contact_id,
            str(budget.points if budget else -1),
            _epoch(occurred_at + GRANTS_KEPT),
            _epoch(member_cap.ends + COUNTERS_KEPT_AFTER_PERIOD) if member_cap else "0",
            _epoch(budget.ends + COUNTERS_KEPT_AFTER_PERIOD) if budget else "0",
        ],
    )
    points, _, why = str(record).partition(":")
    return Grant(int(points), why or None)


def _epoch(moment: datetime) -> str:
    """An expiry: never before a while from now (an event of a past period still finds its counters)."""
    return str(int(max(moment, datetime.now(UTC) + COUNTERS_KEPT_AFTER_PERIOD).timestamp()))


def budget_used(client: redis.Redis, instance_id: str, rule: int, period: str) -> int:
    return int(client.get(keys.points_budget_used(instance_id, str(rule), period)) or 0)  # type: ignore[arg-type]


def member_used(client: redis.Redis, instance_id: str, rule: int, period: str, contact_id: str) -> int:
    return int(client.hget(keys.points_member_used(instance_id, str(rule), period), contact_id) or 0)  # type: ignore[arg-type]
