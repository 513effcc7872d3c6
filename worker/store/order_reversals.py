"""The ledger of a cancelled or refunded order: what its points rules earned, what was taken back, which
of its logs were voided (worker/rewards/reversal.py has the why).

One hash per order, and one per the checkout it came from (a `checkout_completed` points rule earns by
the checkout), under the member's hash tag (keys.member_order_points), so a Lua call writes it together
with the member's outbox: whichever comes second, the earn or the cancellation, commits the adjustment
that takes the points back and its task's intent in one step, and a repeat of either finds the earn
already covered and commits nothing. So however often and in whatever order the events come, every
point earned is taken back exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from worker import keys
from worker.engine.voiding import void_logs
from worker.store import outbox
from worker.store.progress import update_json

LEDGER_TTL_SECONDS = 400 * 24 * 3600  # a cancellation or a refund may come months after the order

# KEYS[1] the ledger, KEYS[2] the member's outbox; ARGV: earn key, points, adjustment id, intent id and
# entry, ttl. Answers the points to take back now (0: the order is not reversed, or this earn is covered).
_EARNED = """
redis.call('HSETNX', KEYS[1], 'earn:' .. ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if redis.call('HEXISTS', KEYS[1], 'reversed') == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'covered:' .. ARGV[1], ARGV[3]) == 0 then return 0 end
local points = redis.call('HGET', KEYS[1], 'earn:' .. ARGV[1])
redis.call('HSET', KEYS[1], 'adj:' .. ARGV[3], points)
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
return tonumber(points)
"""

# KEYS[1] the member's outbox, KEYS[2] the ledger that keeps the adjustment, KEYS[3..] every ledger of
# the order; ARGV: adjustment id, intent id and entry, why, ttl, order id. Answers the points it covers.
_REVERSE = """
local total = 0
for i = 3, #KEYS do
  redis.call('HSETNX', KEYS[i], 'reversed', ARGV[4])
  redis.call('HSETNX', KEYS[i], 'order', ARGV[6])
  redis.call('EXPIRE', KEYS[i], ARGV[5])
  local fields = redis.call('HGETALL', KEYS[i])
  local seen = {}
  for j = 1, #fields, 2 do seen[fields[j]] = fields[j + 1] end
  for field, value in pairs(seen) do
    if string.sub(field, 1, 5) == 'earn:' then
      local key = string.sub(field, 6)
      if not seen['covered:' .. key] then
        redis.call('HSET', KEYS[i], 'covered:' .. key, ARGV[1])
        total = total + tonumber(value)
      end
    end
  end
end
if total > 0 then
  redis.call('HSET', KEYS[2], 'adj:' .. ARGV[1], total)
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return total
"""


def ledger(instance_id: str, contact_id: str, entity_id: str) -> str:
    return keys.member_order_points(instance_id, contact_id, entity_id)


def record_earn(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    entity_id: str,
    *,
    earn_key: str,
    points: int,
    adjustment_id: str,
    intent: outbox.Intent,
    now: float,
) -> int:
    """Record what an earn actually earned in Wix; if its order was reversed already, commit the
    adjustment that takes it back (and its task's intent) and answer its points, else 0."""
    outbox_key = keys.member_outbox(instance_id, contact_id)
    outbox.index(client, outbox_key, now)  # before the write: the relay looks there (see outbox.py)
    args = (earn_key, str(points), adjustment_id, intent.id, intent.entry(now), str(LEDGER_TTL_SECONDS))
    key = ledger(instance_id, contact_id, entity_id)
    return int(client.eval(_EARNED, 2, key, outbox_key, *args))  # type: ignore[arg-type]


def reverse(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    entity_ids: list[str],
    *,
    adjustment_id: str,
    intent: outbox.Intent,
    why: str,
    now: float,
) -> int:
    """Mark the order (and its checkout) reversed and cover every earn recorded so far with one
    adjustment, kept in the first entity's ledger, its task's intent committed with it. Answers the
    points covered now (0 on a repeat)."""
    outbox_key = keys.member_outbox(instance_id, contact_id)
    outbox.index(client, outbox_key, now)
    ledgers = [ledger(instance_id, contact_id, entity_id) for entity_id in entity_ids]
    args = (adjustment_id, intent.id, intent.entry(now), why, str(LEDGER_TTL_SECONDS), entity_ids[0])
    return int(client.eval(_REVERSE, 2 + len(ledgers), outbox_key, ledgers[0], *ledgers, *args))  # type: ignore[arg-type]


def is_reversed(client: redis.Redis, instance_id: str, contact_id: str, entity_id: str) -> bool:
    return bool(client.hexists(ledger(instance_id, contact_id, entity_id), "reversed"))


def reversal_of(
    client: redis.Redis, instance_id: str, contact_id: str, entity_id: str, order_id: str, why: str
) -> tuple[str, str]:
    """The order (and why) the ledger was reversed for, as the cancellation noted it; else the defaults."""
    order, reason = client.hmget(ledger(instance_id, contact_id, entity_id), ["order", "reversed"])  # type: ignore[misc]
    return str(order or order_id), str(reason or why)


def adjustment(
    client: redis.Redis, instance_id: str, contact_id: str, entity_id: str, adjustment_id: str
) -> tuple[int, dict[str, Any] | None]:
    """An adjustment's points to take back, and its outcome once made (None before)."""
    fields = [f"adj:{adjustment_id}", f"done:{adjustment_id}"]
    points, done = client.hmget(ledger(instance_id, contact_id, entity_id), fields)  # type: ignore[misc]
    return int(points or 0), json.loads(done) if done else None


def set_adjustment_state(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    entity_id: str,
    adjustment_id: str,
    state: dict[str, Any],
    *,
    done: bool,
) -> None:
    """Keep an adjustment's progress (`try:{id}`, the revision it was tried at) or its outcome."""
    field = f"{'done' if done else 'try'}:{adjustment_id}"
    client.hset(ledger(instance_id, contact_id, entity_id), field, json.dumps(state, separators=(",", ":")))


def adjustment_try(
    client: redis.Redis, instance_id: str, contact_id: str, entity_id: str, adjustment_id: str
) -> dict[str, Any] | None:
    raw = client.hget(ledger(instance_id, contact_id, entity_id), f"try:{adjustment_id}")
    return json.loads(raw) if raw else None  # type: ignore[arg-type]


def void_member_logs(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    order_id: str,
    states: dict[str, str],
    is_voided: Callable[[str], bool],
) -> list[dict[str, Any]]:
    """Take the matching logs out of each of the member's states (`{kind}:{itemId}` → its key; one
    WATCH/MULTI each, engine/voiding.py), so progress is computed without them, and note each in the
    order's ledger in the same MULTI (what a repeat still has to revoke); answers the logs taken out now
    (none on a repeat)."""
    order_ledger = ledger(instance_id, contact_id, order_id)
    voided: list[dict[str, Any]] = []
    for label, key in states.items():
        taken: list[dict[str, Any]] = []

        def change(state: dict[str, Any], taken: list[dict[str, Any]] = taken) -> dict[str, Any] | None:
            new, out = void_logs(state, is_voided)
            taken[:] = out
            return new if out else None

        def note(pipe: Any, taken: list[dict[str, Any]] = taken, label: str = label) -> None:
            pipe.hset(order_ledger, mapping={f"voided:{log['uniqueIdentifier']}": label for log in taken})
            pipe.expire(order_ledger, LEDGER_TTL_SECONDS)

        _, changed = update_json(client, key, change, also=note)
        if changed:
            voided.extend(taken)
    return voided


def voided_identifiers(client: redis.Redis, instance_id: str, contact_id: str, order_id: str) -> list[str]:
    """Every log of the order voided so far (the uniqueIdentifiers), this run's and earlier ones'."""
    fields: list[str] = client.hkeys(ledger(instance_id, contact_id, order_id))  # type: ignore[assignment]
    return sorted(field.removeprefix("voided:") for field in fields if field.startswith("voided:"))


def original_answer(
    client: redis.Redis, instance_id: str, contact_id: str, unique_identifier: str
) -> dict[str, Any] | None:
    """The answer a log was first given (its achieved milestones and reward logs)."""
    raw = client.get(keys.member_log(instance_id, contact_id, unique_identifier))
    return json.loads(raw) if raw else None  # type: ignore[arg-type]
