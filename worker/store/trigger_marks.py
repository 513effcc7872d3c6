"""Automation trigger events decided once: a mark and the report's intent, written in one step.

A trigger event (an order paid, points earned, a reward about to expire, a streak at risk) is decided
when something notices it, possibly many times (a webhook delivered again, a job run twice, a task
retried). The first decision sets a mark under the member's hash tag and writes the report's intent
into the member's outbox in the same Lua call; every later one finds the mark and writes nothing. So
the report goes out once, and a process killed between the decision and the send leaves the intent for
the relay (worker/store/outbox.py). Wix's idempotency key guards the report itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis

from worker import keys
from worker.dispatch import REPORT_EVENT, queue_of
from worker.store import outbox

MARK_TTL_SECONDS = 35 * 24 * 3600  # Wix redelivers for ~47 h; a job sees an item for days at most

_DECIDE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  return 1
end
return 0
"""


def mark_key(instance_id: str, contact_id: str, trigger_key: str, entity: str) -> str:
    digest = hashlib.sha256(f"{trigger_key}\n{entity}".encode()).hexdigest()
    return keys.member_trigger_mark(instance_id, contact_id, digest)


def decide(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    trigger_key: str,
    entity: str,
    intent: outbox.Intent,
    now: float,
) -> bool:
    """Mark the event decided and write its intent, unless it was decided before; True when new."""
    outbox_key = keys.member_outbox(instance_id, contact_id)
    mark = mark_key(instance_id, contact_id, trigger_key, entity)
    with client.pipeline(transaction=False) as pipe:  # one round trip, in this order (see outbox.put)
        outbox.index(pipe, outbox_key, now)  # before the write: the relay looks there (see outbox.py)
        pipe.eval(
            _DECIDE, 2, mark, outbox_key, intent.id, str(MARK_TTL_SECONDS), intent.id, intent.entry(now)
        )
        new = pipe.execute()[1]
    return bool(new)


def decided(client: redis.Redis, instance_id: str, contact_id: str, trigger_key: str, entity: str) -> bool:
    return bool(client.exists(mark_key(instance_id, contact_id, trigger_key, entity)))


def event_intent_id(trigger_key: str, entity: str) -> str:
    return f"event:{trigger_key}:{entity}"


def event_intent(
    instance_id: str, contact_id: str, trigger_key: str, entity: str, payload: dict[str, Any]
) -> outbox.Intent:
    """The `rewards.report_event` task for one trigger event, its payload decided now."""
    return outbox.Intent(
        event_intent_id(trigger_key, entity),
        REPORT_EVENT,
        {
            "instance_id": instance_id,
            "contact_id": contact_id,
            "trigger_key": trigger_key,
            "entity": entity,
            "payload": payload,
        },
        queue_of(REPORT_EVENT),
    )
