"""A reward log's change with its analytics counts in the same MULTI (worker/store/stats.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from worker.store.progress import update_json
from worker.store.stats import queue_redeemed_order, reward_change_counts


def update_reward_log(
    client: redis.Redis,
    key: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    instance_id: str,
    now: datetime,
    also: Callable[[Any], None] | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """`update_json` for a reward log, with its status change counted in the same MULTI."""
    seen: dict[str, dict[str, Any]] = {}

    def watched(current: dict[str, Any]) -> dict[str, Any] | None:
        seen["before"] = dict(current)
        new = change(current)
        if new is not None:
            seen["after"] = new
        return new

    def queue(pipe: Any) -> None:
        if also is not None:
            also(pipe)
        reward_change_counts(instance_id, seen["before"], seen["after"], now).queue(pipe)
        if seen["after"].get("status") == "redeemed" and seen["before"].get("status") != "redeemed":
            redemption = seen["after"].get("redemption")
            if isinstance(redemption, dict):
                queue_redeemed_order(pipe, instance_id, redemption, now)

    return update_json(client, key, watched, also=queue)
