"""`sweep`: close streak runs and challenge windows past their grace without waiting for a next log.

A member who stops buying never sends the log that would show their streak broken. The sweep goes
through every member of the instance (the members index, a hundred a batch) and keeps, once, each
progress record that is now `broken` or `failed` for good (worker.engine.closing), stamped with when it
broke or failed and when the sweep saw it. Running it twice for one period keeps the first stamps and
counts nothing new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker import keys
from worker.engine.closing import final_closures
from worker.engine.program import Program
from worker.engine.timestamps import utc_stamp
from worker.jobs.runner import Batch, JobContext
from worker.store.progress import Kind, NoProgram, ProgressStore

MEMBERS_PER_BATCH = 100


def close_member(
    store: ProgressStore, instance_id: str, contact_id: str, program: Program, now: datetime
) -> int:
    """Keep the member's newly final closures; answers how many there were."""
    new = 0
    items: list[tuple[Kind, Any]] = [("streak", s) for s in program.streaks]
    items += [("challenge", c) for c in program.challenges]
    for kind, item in items:
        logs = store.member_state(instance_id, contact_id, kind, item.id).logs
        if not logs:
            continue
        closures = final_closures(program, item, logs, now)
        stamped = {key: {**record, "closedAt": utc_stamp(now)} for key, record in closures.items()}
        if stamped:
            new += store.save_closures(instance_id, contact_id, kind, item.id, stamped, now)
    return new


def sweep(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """One batch of members (SSCAN of the members index): `done` the members with something newly
    closed, `skipped` the rest."""
    client = context.redis
    store, instance_id = ProgressStore(client), record["instanceId"]
    total = int(client.scard(keys.members(instance_id))) if record["total"] is None else None  # type: ignore[arg-type]
    try:
        program = store.program(instance_id)
    except NoProgram:
        return Batch(0, 0, ["the instance has no program"], None, total=total)
    cursor, members = client.sscan(  # type: ignore[misc]
        keys.members(instance_id), cursor=int(record["cursor"] or 0), count=MEMBERS_PER_BATCH
    )
    done = sum(1 for contact_id in members if close_member(store, instance_id, contact_id, program, now))
    return Batch(done, len(members) - done, [], None if int(cursor) == 0 else str(cursor), total=total)
