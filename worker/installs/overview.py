"""What an operator sees of the sites (`GET /admin/v1/instances[/{id}]`, `python -m worker instances`):
each instance's registry entry (status, install date, Wix program status, widget embedding, last event)
with a summary of its program."""

from __future__ import annotations

from typing import Any

import redis

from worker.engine.program import ProgramInvalid
from worker.store import instances
from worker.store.progress import NoProgram, ProgressStore

MAX_PAGE = 200


def program_summary(client: redis.Redis, instance_id: str) -> dict[str, Any] | None:
    """How many streaks, challenges and rules the instance's program has; None when it has none."""
    try:
        program = ProgressStore(client).program(instance_id)
    except NoProgram:
        return None
    except ProgramInvalid as exc:
        return {"invalid": str(exc)}
    return {
        "timezone": program.timezone,
        "streaks": len(program.streaks),
        "challenges": len(program.challenges),
        "rules": len(program.rules),
        "pointsRules": len(program.pointsRules),
    }


def instance_view(client: redis.Redis, instance_id: str) -> dict[str, Any] | None:
    """The instance as the operator sees it, or None when the registry has never seen it."""
    entry = instances.get(client, instance_id)
    if entry is None:
        return None
    return {**entry, "program": program_summary(client, instance_id)}


def instances_view(client: redis.Redis, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """One page of instances in install order (at most MAX_PAGE), and how many there are."""
    limit = max(0, min(limit, MAX_PAGE))
    entries, total = instances.page(client, max(0, offset), limit)
    views = [{**entry, "program": program_summary(client, entry["instanceId"])} for entry in entries]
    return {"instances": views, "total": total, "offset": offset, "limit": limit}
