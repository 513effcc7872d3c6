"""The Wix loyalty program's status per instance, and the points that wait while it is not ACTIVE.

Wix refuses points while a site's loyalty program is paused (or still a draft), so points rules and
points rewards wait instead of failing: they are parked per instance and sent again, with the same
idempotency keys, when a `program_updated` event says the program is ACTIVE. Streak and challenge
progress goes on regardless. An instance whose status was never reported is taken as ACTIVE.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.loyalty.points_rules import PointsEarn
from worker.store import member_status


def points_wait_reason(client: redis.Redis, instance_id: str) -> str | None:
    """Why points must wait now, or None when they may go to Wix."""
    return _wait_reason(client.get(keys.wix_program_status(instance_id)))  # type: ignore[arg-type]


def _wait_reason(status: str | None) -> str | None:
    if status is None or status == "ACTIVE":
        return None
    return f"the Wix loyalty program is {status}, not ACTIVE: points wait until it is"


def earn_gates(
    client: redis.Redis, instance_id: str, contact_ids: list[str]
) -> tuple[list[member_status.Status], str | None]:
    """What an event's earns pass before they go, read in one round trip: each earner's status in the
    programme (a paused member earns nothing, worker/store/member_status.py) and `points_wait_reason`."""
    with client.pipeline(transaction=False) as pipe:  # each member's slot and the instance's: no MULTI
        for contact_id in contact_ids:
            pipe.get(keys.member_status(instance_id, contact_id))
        pipe.get(keys.wix_program_status(instance_id))
        *statuses, program_status = pipe.execute()
    live: list[member_status.Status] = ["paused" if s == "paused" else "live" for s in statuses]
    return live, _wait_reason(program_status)


def record_program_status(client: redis.Redis, instance_id: str, status: str) -> bool:
    """Keep the program's status; True when it has just become ACTIVE again."""
    previous = client.getset(keys.wix_program_status(instance_id), status)
    return status == "ACTIVE" and previous not in (None, "ACTIVE")


def park_earns(client: redis.Redis, instance_id: str, earns: list[PointsEarn]) -> None:
    if earns:
        client.hset(
            keys.points_waiting(instance_id),
            mapping={f"earn:{e.idempotency_key}": json.dumps({"earn": asdict(e)}) for e in earns},
        )


def park_reward(client: redis.Redis, instance_id: str, reward_log_id: str) -> None:
    client.hset(
        keys.points_waiting(instance_id),
        f"reward:{reward_log_id}",
        json.dumps({"rewardLogId": reward_log_id}),
    )


def park_task(
    client: redis.Redis, instance_id: str, entry_id: str, task: str, kwargs: dict[str, Any], queue: str
) -> None:
    """Keep a points task to send again, as it was, once the program is ACTIVE (e.g. an inbound sync)."""
    entry = json.dumps({"task": task, "kwargs": kwargs, "queue": queue})
    client.hset(keys.points_waiting(instance_id), f"task:{entry_id}", entry)


def release_waiting(client: redis.Redis, instance_id: str, follow_ups: Dispatcher) -> int:
    """Send everything that waited; each entry is removed once sent (sending twice is harmless)."""
    waiting: dict[str, str] = client.hgetall(keys.points_waiting(instance_id))  # type: ignore[assignment]
    for field, raw in waiting.items():
        entry: dict[str, Any] = json.loads(raw)
        if "earn" in entry:
            follow_ups.earn(instance_id, [PointsEarn(**entry["earn"])])
        elif "task" in entry:
            follow_ups.resend(entry["task"], entry["kwargs"], entry["queue"])
        else:
            follow_ups.fulfil(instance_id, [entry["rewardLogId"]])
        client.hdel(keys.points_waiting(instance_id), field)
    return len(waiting)
