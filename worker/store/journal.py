"""The per-instance event journal: what became of each webhook, from `queued` to its outcome.

The receiver writes the `queued` record in the same Lua call that enqueues the task (see
`worker.web.event_queue`), so the record's existence is also the event's seen-mark. The worker then
settles it as `processed` (with the normalized event), `ignored` (with the reason) or `failed`, and
says which path the event came by (`source`): `webhook`, or `catch-up` for an event rebuilt from an
order that Wix's orders search found (worker.jobs.catch_up).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis
from redis.cluster import RedisCluster

from worker import keys
from worker.identifiers import identifier_problem
from worker.store import stats

SETTLED = frozenset({"processed", "ignored"})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventJournal:
    def __init__(self, client: redis.Redis, ttl_seconds: int, *, source: str = "webhook") -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._source = source

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        raw: dict[str, str] = self._redis.hgetall(keys.event_record(instance_id, event_id))  # type: ignore[assignment]
        return _decode(raw) if raw else None

    def find(self, event_id: str) -> dict[str, Any] | None:
        """The record of `event_id` in whichever instance has it (an operator look-up: scans keys)."""
        for key in self._redis.scan_iter(match=keys.event_record_pattern(event_id), count=1000):
            raw: dict[str, str] = self._redis.hgetall(key)  # type: ignore[assignment]
            if raw:
                return _decode(raw)
        return None

    def is_settled(self, instance_id: str, event_id: str) -> bool:
        status = self._redis.hget(keys.event_record(instance_id, event_id), "status")
        return status in SETTLED

    def settle(
        self,
        instance_id: str,
        event_id: str,
        status: str,
        *,
        event_type: str,
        normalized: dict[str, Any] | None = None,
        reason: str | None = None,
        error: str | None = None,
        logs: list[dict[str, Any]] | None = None,
    ) -> None:
        key = keys.event_record(instance_id, event_id)
        fields: dict[str, str] = {
            "status": status,
            "instanceId": instance_id,
            "eventId": event_id,
            "eventType": event_type,
            "source": self._source,
            "updatedAt": now_iso(),
        }
        if normalized is not None:
            fields["normalized"] = json.dumps(normalized, separators=(",", ":"))
        if logs is not None:
            fields["logs"] = json.dumps(logs, separators=(",", ":"))
        if reason is not None:
            fields["reason"] = reason
        if error is not None:
            fields["error"] = error
        contact_id = (normalized or {}).get("contactId")
        if isinstance(self._redis, RedisCluster):
            known = isinstance(contact_id, str) and identifier_problem(contact_id) is None
            self._settle_across_slots(instance_id, event_id, status, fields, contact_id if known else None)
            return
        pipe = self._redis.pipeline(transaction=True)
        stats.queue_event(pipe, key, instance_id, status, datetime.now(UTC))  # before the HSET: sees the old
        pipe.hset(key, mapping=fields)
        pipe.hdel(key, "message", *[f for f in ("reason", "error") if f not in fields])
        pipe.expire(key, self._ttl)
        pipe.zrem(keys.QUEUED_EVENTS, key)
        if isinstance(contact_id, str) and identifier_problem(contact_id) is None:
            self._queue_timeline(pipe, instance_id, contact_id, event_id)
        pipe.execute()

    def _queue_timeline(self, pipe: Any, instance_id: str, contact_id: str, event_id: str) -> None:
        """The member's timeline: the same ids, kept as long as their records (worker/console/members.py)."""
        index = keys.member_events(instance_id, contact_id)
        settled_at = time.time()
        pipe.zadd(index, {event_id: settled_at})
        pipe.zremrangebyscore(index, "-inf", settled_at - self._ttl)
        pipe.expire(index, self._ttl)

    def _settle_across_slots(
        self, instance_id: str, event_id: str, status: str, fields: dict[str, str], contact_id: str | None
    ) -> None:
        """`settle` on a Redis Cluster, where the record, the day's counts, the member's timeline and the
        queued-events index are four slots: the record in one MULTI (which also reads its old status, so
        only one settling counts the event), then the count, the timeline, and last the index entry (until
        it goes, the lost-events sweep may send the event again, which finds it settled). A crash between
        loses at most the event's count, never doubles it."""
        key = keys.event_record(instance_id, event_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "status")
            pipe.hset(key, mapping=fields)
            pipe.hdel(key, "message", *[f for f in ("reason", "error") if f not in fields])
            pipe.expire(key, self._ttl)
            before = pipe.execute()[0]
        if status == "processed" and before != "processed":
            stats.count_event(self._redis, instance_id, datetime.now(UTC))
        if contact_id is not None:
            with self._redis.pipeline(transaction=True) as pipe:
                self._queue_timeline(pipe, instance_id, contact_id, event_id)
                pipe.execute()
        self._redis.zrem(keys.QUEUED_EVENTS, key)

    def member_events(
        self, instance_id: str, contact_id: str, *, offset: int = 0, limit: int = 20
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the member's settled events, newest first, and how many the index holds."""
        index = keys.member_events(instance_id, contact_id)
        ids: list[str] = self._redis.zrevrange(index, offset, offset + limit - 1)  # type: ignore[assignment]
        total = int(self._redis.zcard(index))  # type: ignore[arg-type]
        records = [self.get(instance_id, event_id) for event_id in ids]
        return [record for record in records if record is not None], total


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {name: value for name, value in raw.items() if name != "message"}
    for field in ("normalized", "logs"):
        if field in record:
            record[field] = json.loads(record[field])
    return record
