"""Putting verified webhooks on the `events` queue: atomic per event, one Redis call per batch.

A Lua script checks each event's seen-mark, pushes its Celery task message and writes its journal
record (which is the seen-mark) in one step, so a crash can never leave an event marked seen but not
queued, and a redelivery is recognised however old it is, for as long as the record is kept.

Requests that arrive while a call is on its way to Redis wait for it and go together in the next
call (group commit): under load one round trip, and redis-py's per-call cost, serves many webhooks;
when the receiver is idle a webhook goes at once, alone, with no added wait. No task of its own sends a
batch: the first request of each batch sends it, in its own task (the lead), and hands the lead to the
first request still waiting when its batch is answered. An idle receiver's webhook thus costs one Redis
call and nothing more (a task and a future per batch were a third of its time, `make bench`).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
_LEAD = "lead"  # a waiting request's future set to this: the next batch is its to send
_LIFECYCLE = frozenset({"AppInstalled", "AppRemoved"})  # queued even for a site that removed the app


@dataclass(slots=True)
class Pending:
    """One request's event on its way: what the script needs, and the request's answer to come (or, while
    it waits, `_LEAD`: the next batch is its to send, and it waits on a new future)."""

    record_key: str
    instance_key: str
    message: str
    record: bytes
    answer: asyncio.Future[str]


Batch = list[Pending]


def _holds_lead(done: asyncio.Future[str]) -> bool:
    return done.done() and not done.cancelled() and done.exception() is None and done.result() is _LEAD


class Publisher(Protocol):
    async def publish(self, messages: Iterable[str], written: Callable[[], None] | None = None) -> None:
        """Put task messages on their queues; return once the broker holds them durably, raise otherwise.
        A publisher that can tell calls `written` as soon as the messages are on their way (the next
        batch may be published behind them) and before it waits for the broker's confirms."""


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
        self._client = client
        self._cluster: redis.asyncio.cluster.RedisCluster | None = None
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            if publisher is None:
                raise ValueError("a Redis Cluster store needs a broker of its own (BROKER_URL)")
            self._cluster = client
        self._timeout = timeout
        self._waiting: Batch = []
        self._sending = False  # a batch is on its way: a new request waits for the next one

    async def enqueue(self, envelope: WebhookEnvelope) -> str:
        """`queued`, `duplicate` when the event id was seen before, or `removed` when the app was removed
        from the event's site (worker/store/instances.py). Redis errors propagate."""
        loop = asyncio.get_running_loop()
        pending = Pending(*prepare(envelope), answer=loop.create_future())
        self._waiting.append(pending)
        if self._sending:
            # A caller that gives up (its own timeout) cancels only its own future: its event, already
            # handed over, still goes with the next batch, and no answer is left unread.
            try:
                outcome = await pending.answer
            except asyncio.CancelledError:
                if _holds_lead(pending.answer):  # handed the lead as it gave up: pass it on
                    self._pass_lead()
                raise
            if outcome is not _LEAD:
                return outcome
            pending.answer = loop.create_future()
        self._sending = True
        handed_over = False

        def hand_over() -> None:
            nonlocal handed_over
            if not handed_over:
                handed_over = True
                self._pass_lead()

        try:
            await self._send_batch(pending, hand_over)
        except BaseException:  # cancelled while sending: that goes up, and the batch's error is read
            if not pending.answer.cancelled():
                pending.answer.exception()
            raise
        finally:
            hand_over()
        return pending.answer.result()

    def _pass_lead(self) -> None:
        """The first request still waiting sends the next batch; with none, the queue is idle."""
        for pending in self._waiting:
            if not pending.answer.done():
                pending.answer.set_result(_LEAD)
                return
        self._sending = False

    async def _send_batch(self, lead: Pending, hand_over: Callable[[], None]) -> None:
        """Send the waiting batch, which holds `lead`'s own event, and answer each of its requests. With a
        broker of its own, the next batch goes (`hand_over`) once this one's messages are written, while
        this one waits for the broker's confirms."""
        # Up to MAX_BATCH events, and past it if callers that gave up fill the batch ahead of the lead.
        size = max(MAX_BATCH, next(n for n, pending in enumerate(self._waiting) if pending is lead) + 1)
        batch, self._waiting = self._waiting[:size], self._waiting[size:]
        try:
            async with asyncio.timeout(self._timeout):
                if self._cluster is not None:
                    results = await self._journal_on_cluster(self._cluster, batch)
                else:
                    results = await self._journal(batch)
                if self._publisher is not None:
                    results = await self._publish(batch, results, hand_over)
        except BaseException as exc:  # every request of this batch gets the error: a 503 each
            error = exc if isinstance(exc, Exception) else ConnectionError("the queue call was interrupted")
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        for pending, added in zip(batch, results, strict=True):
            if not pending.answer.done():
                pending.answer.set_result(_OUTCOMES[added])

    async def _journal(self, batch: Batch) -> list[Any]:
        """One Redis: the whole batch in one call of the script (EVALSHA; EVAL once where the server does
        not know it yet, which also loads it)."""
        arguments: list[str | bytes] = []
        for pending in batch:
            arguments += (pending.message, pending.record)
        tail = [keys.QUEUED_EVENTS] if self._publisher else [keys.QUEUED_EVENTS, QUEUE]
        keys_ = [p.record_key for p in batch] + [p.instance_key for p in batch] + tail
        results: list[Any]
        try:
            results = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._sha, len(keys_), *keys_, *arguments
            )
        except NoScriptError:
            results = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVAL", self._source, len(keys_), *keys_, *arguments
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
        instances = list(dict.fromkeys(pending.instance_key for pending in batch))
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            pipe.execute_command("EVAL", _INDEX, 1, keys.QUEUED_EVENTS, now, *(p.record_key for p in batch))
            for key in instances:
                pipe.hget(key, "status")
            added, *statuses = await pipe.execute()
        removed = {key for key, status in zip(instances, statuses, strict=True) if status == "removed"}
        results: list[Any] = [None] * len(batch)
        groups: dict[int, list[int]] = {}
        for position, pending in enumerate(batch):
            if (
                pending.instance_key in removed
                and orjson.loads(pending.record)["eventType"] not in _LIFECYCLE
            ):
                results[position] = 2
            else:
                groups.setdefault(key_slot(pending.record_key.encode()), []).append(position)
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
        stray = [batch[n].record_key for n, result in enumerate(results) if added[n] and result in (0, 2)]
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
                    arguments += (batch[position].message, batch[position].record)
                record_keys = [batch[position].record_key for position in positions]
                pipe.execute_command("EVALSHA", self._sha, len(record_keys), *record_keys, *arguments)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers

    async def _publish(self, batch: Batch, results: list[Any], written: Callable[[], None]) -> list[int]:
        """Publish what the journal step queued (and what it found still queued), awaiting the broker's
        confirms; answers the batch's outcome codes."""
        assert self._publisher is not None
        messages = []
        codes = []
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, str):  # seen before, never settled: its kept message goes again
                messages.append(result)
                codes.append(0)
            else:
                if result == 1:
                    messages.append(pending.message)
                codes.append(result)
        if messages:
            await self._publisher.publish(messages, written)
        return codes
