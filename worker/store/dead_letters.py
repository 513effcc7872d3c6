"""The dead-letter queue: tasks that failed for good, kept with their arguments and error for replay.

One hash, `keys.DEAD_LETTERS`, entry id → the parked task as JSON. The runtime parks (celery_app's
failure handler); the CLI, the console's Dead letters page and the erasure read and remove through this
class, so the entry's format is known in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import redis

from worker import keys
from worker.store.journal import now_iso


class DeadLetters:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def park(
        self,
        *,
        task_id: str,
        task_name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        queue: str | None,
        error: str,
        retries: int,
    ) -> None:
        entry = {
            "id": task_id,
            "task": task_name,
            "args": list(args),
            "kwargs": kwargs,
            "queue": queue,
            "error": error,
            "retries": retries,
            "failedAt": now_iso(),
        }
        self._redis.hset(keys.DEAD_LETTERS, task_id, json.dumps(entry, default=str))

    def list(self) -> list[dict[str, Any]]:
        raw: dict[str, str] = self._redis.hgetall(keys.DEAD_LETTERS)  # type: ignore[assignment]
        entries = [json.loads(value) for value in raw.values()]
        return sorted(entries, key=lambda entry: entry["failedAt"])

    def get(self, entry_id: str) -> dict[str, Any] | None:
        """The entry, or None when it is absent or not a parked task (not a JSON object with an id)."""
        return _decoded(self._redis.hget(keys.DEAD_LETTERS, entry_id))

    def scan(self) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
        """Every entry as (id, entry or None when it cannot be read, raw text), without loading the whole
        hash at once."""
        for entry_id, raw in self._redis.hscan_iter(keys.DEAD_LETTERS, count=500):
            yield entry_id, _decoded(raw), raw

    def exists(self, entry_id: str) -> bool:
        return bool(self._redis.hexists(keys.DEAD_LETTERS, entry_id))

    def remove(self, *entry_ids: str) -> int:
        """Remove the entries; how many there were."""
        return int(self._redis.hdel(keys.DEAD_LETTERS, *entry_ids)) if entry_ids else 0  # type: ignore[arg-type]

    def purge(self) -> int:
        count = int(self._redis.hlen(keys.DEAD_LETTERS))  # type: ignore[arg-type]
        self._redis.delete(keys.DEAD_LETTERS)
        return count


def _decoded(raw: Any) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
