"""The dead-letter queue: tasks that failed for good, kept with their arguments and error for replay."""

from __future__ import annotations

import json
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
        raw = self._redis.hget(keys.DEAD_LETTERS, entry_id)
        return json.loads(raw) if isinstance(raw, str) else None

    def remove(self, entry_id: str) -> bool:
        return bool(self._redis.hdel(keys.DEAD_LETTERS, entry_id))

    def purge(self) -> int:
        count = int(self._redis.hlen(keys.DEAD_LETTERS))  # type: ignore[arg-type]
        self._redis.delete(keys.DEAD_LETTERS)
        return count
