"""A member's status in the programme: `live` (the default: no key) or `paused` (Gamopanda's member status).

A paused member's logs are still recorded, as logs that count for nothing (worker/store/progress.py reads
the status in the same WATCH as the member's state, and the engine is told `paused` as data); points
rules earn them nothing (worker/events/processing.py). The console pauses and resumes
(worker/console/members.py)."""

from __future__ import annotations

from typing import Literal

import redis

from worker import keys

Status = Literal["live", "paused"]
STATUSES: tuple[Status, ...] = ("live", "paused")


def status_of(client: redis.Redis, instance_id: str, contact_id: str) -> Status:
    return "paused" if client.get(keys.member_status(instance_id, contact_id)) == "paused" else "live"


def set_status(pipe: redis.client.Pipeline, instance_id: str, contact_id: str, status: Status) -> None:
    """Queue the change on a caller's MULTI (with its audit entry and its action mark)."""
    key = keys.member_status(instance_id, contact_id)
    if status == "paused":
        pipe.set(key, "paused")
    else:
        pipe.delete(key)
