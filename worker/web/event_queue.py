"""Putting verified webhooks on the `events` queue: atomic per event, one Redis call per batch.

A Lua script checks each event's seen-mark, pushes its Celery task message and writes its journal
record (which is the seen-mark) in one step, so a crash can never leave an event marked seen but not
queued, and a redelivery is recognised however old it is, for as long as the record is kept.

Requests that arrive while a call is on its way to Redis wait for it and go together in the next
call (group commit): under load one round trip, and redis-py's per-call cost, serves many webhooks;
when the receiver is idle a webhook goes at once, alone, with no added wait.

On a Redis Cluster store (`STORE_CLUSTER=true`) a batch's records lie in many hash slots, and a Lua call
may touch one slot only. The batch then takes two round trips, each one pipeline that goes to every node
at once: first each event's entry in the index of queued events (ZADD NX: what makes the event findable
by the lost-events sweep comes first) and its instance's registry status; then one call of the same
script per hash slot, with only that slot's records (their seen-mark check and write). The broker is
always another server there, so the caller publishes after both.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
import redis.asyncio
import redis.asyncio.cluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from worker import keys
from worker.dispatch import PROCESS_EVENT, queue_of
from worker.runtime.task_messages import build_task_message
from worker.store.journal import now_iso
from worker.wix.envelope import WebhookEnvelope

TASK_NAME = PROCESS_EVENT
QUEUE = queue_of(PROCESS_EVENT)
MAX_BATCH = 256

# KEYS: the journal record of each event, then each event's instance registry entry, then the index of
# queued events, then the queue when the broker is the store's Redis; on a Redis Cluster only the records
# (of one hash slot: the caller checked the instances and wrote the index entries itself). ARGV: for each
# event, its task message and its record's fields as JSON. Returns, for each event in order, 1 (queued),
# 0 (seen before) or 2 (its site removed the app: not queued, nothing written; AppInstalled and AppRemoved
# always pass).
# The record keeps the message until the event settles, so a message that vanished between Redis and a
# worker can be sent again (worker.runtime.lost_events).
#
# Without the queue key (a broker on another server, e.g. RabbitMQ) nothing is pushed: the caller
# publishes each queued event's message and answers once the broker confirmed them. An event seen before
# whose record is still `queued` then answers its kept message instead of 0: the receiver that wrote it
# may have died (or answered 503) before its publish was confirmed, so it is published again (a task
# whose event is already settled does nothing).
_ENQUEUE = """
local n = #ARGV / 2
local index = KEYS[2 * n + 1]
local queue = KEYS[2 * n + 2]
local results = {}
for i = 1, n do
  local r = cjson.decode(ARGV[2 * i])
  if KEYS[n + i] and r.eventType ~= 'AppInstalled' and r.eventType ~= 'AppRemoved'
     and redis.call('HGET', KEYS[n + i], 'status') == 'removed' then
    results[i] = 2
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    results[i] = 0
    if not queue then
      local status, message = unpack(redis.call('HMGET', KEYS[i], 'status', 'message'))
      if status == 'queued' and message then results[i] = message end
    end
  else
    if queue then redis.call('LPUSH', queue, ARGV[2 * i - 1]) end
    redis.call('HSET', KEYS[i], 'status', 'queued', 'instanceId', r.instanceId, 'eventId', r.eventId,
               'eventType', r.eventType, 'taskId', r.taskId,
               'receivedAt', r.receivedAt, 'updatedAt', r.receivedAt, 'message', ARGV[2 * i - 1])
    redis.call('EXPIRE', KEYS[i], %d)
    if index then redis.call('ZADD', index, r.queuedAt, KEYS[i]) end
    results[i] = 1
  end
end
return results
"""

# A Redis Cluster's first step: each record's entry in the index of queued events, where it has none (one
# key, so one slot). KEYS: the index. ARGV: the score, then the records' keys. Returns 1 for each entry
# added, 0 for one already there (its event queued before, or being queued by another receiver).
_INDEX = """
local added = {}
for i = 2, #ARGV do added[i - 1] = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[i]) end
return added
"""

_OUTCOMES = {1: "queued", 0: "duplicate", 2: "removed"}
_LIFECYCLE = frozenset({"AppInstalled", "AppRemoved"})  # queued even for a site that removed the app

Batch = list[tuple[str, str, str, bytes, "asyncio.Future[str]"]]


class Publisher(Protocol):
    async def publish(self, messages: Iterable[str]) -> None:
        """Put task messages on their queues; return once the broker holds them durably, raise otherwise."""


def prepare(envelope: WebhookEnvelope) -> tuple[str, str, str, bytes]:
    """What the script needs for one event: its record's key, its instance's key, its Celery task
    message and its record's fields (JSON)."""
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
        "queuedAt": time.time(),
    }
    return (
        keys.event_record(envelope.instance_id, envelope.event_id),
        keys.instance(envelope.instance_id),
        message,
        orjson.dumps(record),
    )


class EventQueue:
    """Without a `publisher` the broker is the store's Redis: one Lua call journals and pushes each batch
    atomically. With one (README "When the broker and the store are different servers"), the batch is
    journaled first, then published, and answered once the broker confirmed it."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        record_ttl_seconds: int,
        timeout: float = 0.5,
        publisher: Publisher | None = None,
    ) -> None:
        self._publisher = publisher
        source = _ENQUEUE % record_ttl_seconds
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324  (Redis's script id)
        self._cluster: redis.asyncio.cluster.RedisCluster | None = None
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            if publisher is None:
                raise ValueError("a Redis Cluster store needs a broker of its own (BROKER_URL)")
            self._cluster = client
        else:
            self._script = client.register_script(source)
        self._timeout = timeout
        self._waiting: list[tuple[str, str, str, bytes, asyncio.Future[str]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def enqueue(self, envelope: WebhookEnvelope) -> str:
        """`queued`, `duplicate` when the event id was seen before, or `removed` when the app was removed
        from the event's site (worker/store/instances.py). Redis errors propagate."""
        record_key, instance_key, message, record = prepare(envelope)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((record_key, instance_key, message, record, done))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_waiting())
        # A caller that gives up (its own timeout) cancels only `done`, its own future: the shared call
        # runs in the sender's task, which skips a cancelled future (no shield, and no outcome is lost
        # unread: an abandoned future is cancelled, never left holding an exception).
        return await done

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    async with asyncio.timeout(self._timeout):
                        if self._cluster is not None:
                            results = await self._journal_on_cluster(self._cluster, batch)
                        else:
                            results = await self._journal(batch)
                        if self._publisher is not None:
                            results = await self._publish(batch, results)
                except Exception as exc:  # every waiter of this batch gets the error: a 503 each
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (*_, done), added in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(_OUTCOMES[added])
        finally:
            self._sender = None

    async def _journal(self, batch: Batch) -> list[Any]:
        """One Redis: the whole batch in one call of the script."""
        arguments: list[str | bytes] = []
        for _, _, message, record, _ in batch:
            arguments += (message, record)
        tail = [keys.QUEUED_EVENTS] if self._publisher else [keys.QUEUED_EVENTS, QUEUE]
        results: list[Any] = await self._script(
            keys=[item[0] for item in batch] + [item[1] for item in batch] + tail, args=arguments
        )
        return results

    async def _journal_on_cluster(
        self, client: redis.asyncio.cluster.RedisCluster, batch: Batch
    ) -> list[Any]:
        """A Redis Cluster: the index entries and the instances' statuses in one pipeline, then the script
        once per hash slot of the batch's records, all in a second pipeline (each goes to every node at
        once). An entry added for an event that turns out not to be queued (seen and settled before, or of a
        site that removed the app) is taken out at once; one a crash left between the steps is dropped by
        the lost-events sweep, which finds no queued record behind it."""
        instances = list(dict.fromkeys(item[1] for item in batch))
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            pipe.execute_command("EVAL", _INDEX, 1, keys.QUEUED_EVENTS, now, *(item[0] for item in batch))
            for key in instances:
                pipe.hget(key, "status")
            added, *statuses = await pipe.execute()
        removed = {key for key, status in zip(instances, statuses, strict=True) if status == "removed"}
        results: list[Any] = [None] * len(batch)
        groups: dict[int, list[int]] = {}
        for position, (record_key, instance_key, _, record, _) in enumerate(batch):
            if instance_key in removed and orjson.loads(record)["eventType"] not in _LIFECYCLE:
                results[position] = 2
            else:
                groups.setdefault(key_slot(record_key.encode()), []).append(position)
        calls = list(groups.values())
        for _ in range(2):  # a second time for the calls of a node that did not know the script yet
            if not calls:
                break
            answered = await self._call_per_slot(client, batch, calls)
            missing = []
            for positions, answer in zip(calls, answered, strict=True):
                if isinstance(answer, NoScriptError):
                    missing.append(positions)
                elif isinstance(answer, BaseException):
                    raise answer
                else:
                    for position, result in zip(positions, answer, strict=True):
                        results[position] = result
            if missing:
                await client.script_load(self._source)  # every primary
            calls = missing
        if calls:
            raise NoScriptError("the journal script could not be loaded on every node")
        stray = [batch[n][0] for n, result in enumerate(results) if added[n] and result in (0, 2)]
        if stray:
            await client.zrem(keys.QUEUED_EVENTS, *stray)
        return results

    async def _call_per_slot(
        self, client: redis.asyncio.cluster.RedisCluster, batch: Batch, calls: list[list[int]]
    ) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for positions in calls:
                arguments: list[str | bytes] = []
                for position in positions:
                    arguments += (batch[position][2], batch[position][3])
                record_keys = [batch[position][0] for position in positions]
                pipe.execute_command("EVALSHA", self._sha, len(record_keys), *record_keys, *arguments)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers

    async def _publish(self, batch: Batch, results: list[Any]) -> list[int]:
        """Publish what the journal step queued (and what it found still queued), awaiting the broker's
        confirms; answers the batch's outcome codes."""
        assert self._publisher is not None
        messages = []
        codes = []
        for (_, _, message, _, _), result in zip(batch, results, strict=True):
            if isinstance(result, str):  # seen before, never settled: its kept message goes again
                messages.append(result)
                codes.append(0)
            else:
                if result == 1:
                    messages.append(message)
                codes.append(result)
        if messages:
            await self._publisher.publish(messages)
        return codes
