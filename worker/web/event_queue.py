"""Putting a verified webhook on the `events` queue: one Redis call, atomic, answerable at once.

A Lua script checks the event's seen-mark, pushes the Celery task message and writes the journal
record (which is the seen-mark) in one step, so a crash can never leave an event marked seen but not
queued, and a redelivery is recognised however old it is, for as long as the record is kept.
"""

from __future__ import annotations

import json

import redis.asyncio

from worker import keys
from worker.journal import now_iso
from worker.task_messages import build_task_message
from worker.wix.envelope import WebhookEnvelope

TASK_NAME = "events.process_wix_event"
QUEUE = "events"

# KEYS: the journal record, the queue. ARGV: the task message, the record's fields as JSON. Two
# arguments rather than one per field: redis-py packs each argument separately, on the request path.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
local r = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'queued', 'instanceId', r.instanceId, 'eventId', r.eventId,
           'eventType', r.eventType, 'taskId', r.taskId,
           'receivedAt', r.receivedAt, 'updatedAt', r.receivedAt)
redis.call('EXPIRE', KEYS[1], %d)
return 1
"""


class EventQueue:
    def __init__(self, client: redis.asyncio.Redis, record_ttl_seconds: int) -> None:
        self._script = client.register_script(_ENQUEUE % record_ttl_seconds)

    async def enqueue(self, envelope: WebhookEnvelope) -> str:
        """`queued`, or `duplicate` when the event id was seen before. Redis errors propagate."""
        received_at = now_iso()
        kwargs = envelope.task_kwargs()
        kwargs["received_at"] = received_at
        task_id, message = build_task_message(
            TASK_NAME,
            kwargs,
            queue=QUEUE,
            # Flower and logs show this instead of the payload, which carries buyers' details.
            kwargsrepr=repr(
                {
                    "event_type": envelope.event_type,
                    "instance_id": envelope.instance_id,
                    "event_id": envelope.event_id,
                }
            ),
        )
        record = {
            "instanceId": envelope.instance_id,
            "eventId": envelope.event_id,
            "eventType": envelope.event_type,
            "taskId": task_id,
            "receivedAt": received_at,
        }
        added = await self._script(
            keys=[keys.event_record(envelope.instance_id, envelope.event_id), QUEUE],
            args=[message, json.dumps(record, separators=(",", ":"))],
        )
        return "queued" if added == 1 else "duplicate"
