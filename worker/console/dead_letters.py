"""The operations room's Dead letters page: one site's parked tasks (worker/store/dead_letters.py keeps
them all in one hash), shown with secrets redacted, replayed and purged.

A dead letter belongs to the site its task's arguments name: `kwargs.instance_id`, or for a job's batch
the instance of the job `kwargs.job_id` names. One that names no site (or another) is never listed,
shown, replayed or purged for this site.

A replay first claims the entry (`keys.dead_letter_replay`, SET NX with a TTL: of two replays of the same
entry only one gets it), then sends its task again, then removes the entry. So replaying twice sends
once, a send the broker refuses leaves the entry (the claim is let go), and a crash between two steps
loses nothing: the entry stays and can be replayed once the claim has lapsed (a crash after the send and
before the removal may send it twice then; the tasks are idempotent by their unique identifiers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys
from worker.dispatch import TASKS, Dispatcher
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.store import audit_log
from worker.store.dead_letters import DeadLetters

PAGE_SIZE = 20
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"token|secret|password|authorization|api[-_]?key|cookie|identity", re.IGNORECASE)
# A JWT (three base64url parts) or a bearer credential, wherever it sits in a text.
_TOKEN_TEXT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|\bBearer\s+\S+")


class SendRefused(Exception):
    """The broker did not take a replayed task; its dead letter is kept."""


@dataclass(frozen=True)
class Page:
    entries: list[dict[str, Any]]
    number: int
    pages: int
    total: int


@dataclass(frozen=True)
class Done:
    """What an action did: its HTTP status and the notice the page shows."""

    status: int
    notice: str


def redact(value: Any) -> Any:
    """`value` with every field whose name says it is a secret, and every token-looking text, replaced;
    a text holding a JSON object (a webhook's `data`) is redacted inside."""
    if isinstance(value, dict):
        return {str(k): REDACTED if _SECRET_NAME.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        if value.lstrip().startswith(("{", "[")):
            try:
                return json.dumps(redact(json.loads(value)))
            except ValueError:
                pass
        return _TOKEN_TEXT.sub(REDACTED, value)
    return value


def site_of(entry: dict[str, Any], jobs: Jobs) -> str | None:
    """The site a dead letter's task is for, or None."""
    kwargs = entry.get("kwargs")
    if not isinstance(kwargs, dict):
        return None
    instance_id = kwargs.get("instance_id")
    if isinstance(instance_id, str):
        return instance_id
    job_id = kwargs.get("job_id")
    record = jobs.get(job_id) if isinstance(job_id, str) and len(job_id) <= 100 else None
    return str(record["instanceId"]) if record is not None else None


def entries(client: redis.Redis, instance_id: str) -> list[dict[str, Any]]:
    """The site's dead letters as parked (unredacted: for replay), newest first."""
    jobs, found = Jobs(client, KINDS), []
    for _, entry, _ in DeadLetters(client).scan():
        if entry is not None and site_of(entry, jobs) == instance_id:
            found.append(entry)
    return sorted(found, key=lambda entry: str(entry.get("failedAt", "")), reverse=True)


def entry(client: redis.Redis, instance_id: str, entry_id: str) -> dict[str, Any] | None:
    """One of the site's dead letters as parked, or None (absent, or another site's)."""
    found = DeadLetters(client).get(entry_id) if len(entry_id) <= 200 else None
    if found is None or site_of(found, Jobs(client, KINDS)) != instance_id:
        return None
    return found


def shown(entry: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as the page shows it: arguments and error redacted, and whether it can be replayed."""
    return {
        **redact(entry),
        "replayable": not entry.get("args") and entry.get("task") in TASKS,
    }


def page(client: redis.Redis, instance_id: str, number: int) -> Page:
    """One page of the site's dead letters (redacted), `number` counted from 1 and kept in range."""
    found = entries(client, instance_id)
    pages = max(1, -(-len(found) // PAGE_SIZE))
    number = min(max(1, number), pages)
    chosen = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return Page([shown(e) for e in chosen], number, pages, len(found))


REPLAY_CLAIM_SECONDS = 300  # how long a crashed replay keeps its entry from being replayed again


def _replay(client: redis.Redis, follow_ups: Dispatcher, entry: dict[str, Any]) -> bool:
    """Claim the entry, send its task again, then remove it; False when another replay holds the claim or
    a purge or replay took the entry first. A send the broker refuses keeps the entry and raises
    SendRefused."""
    claim = keys.dead_letter_replay(str(entry["id"]))
    if not client.set(claim, "1", nx=True, ex=REPLAY_CLAIM_SECONDS):
        return False
    parked = DeadLetters(client)
    if not parked.exists(entry["id"]):
        client.delete(claim)
        return False
    task = str(entry["task"])
    try:
        follow_ups.resend(task, dict(entry.get("kwargs") or {}), entry.get("queue") or TASKS[task])
    except Exception as exc:  # whatever the transport raises: the entry must not be lost
        client.delete(claim)
        raise SendRefused(type(exc).__name__) from exc
    parked.remove(entry["id"])
    return True


KEPT = Done(503, "The task queue did not take the task: the dead letter is kept. Try again shortly.")


def replay(client: redis.Redis, follow_ups: Dispatcher, instance_id: str, entry_id: str, who: str) -> Done:
    """Replay one of the site's dead letters once (a second replay finds it gone), audited."""
    found = entry(client, instance_id, entry_id)
    if found is None:
        return Done(404, "There is no such dead letter on this site (replayed or purged already?).")
    if not shown(found)["replayable"]:
        return Done(409, "This task cannot be replayed from the console: use `python -m worker dlq replay`.")
    try:
        replayed = _replay(client, follow_ups, found)
    except SendRefused:
        return KEPT
    if not replayed:
        return Done(404, "This dead letter was replayed or purged meanwhile.")
    audit_log.record(
        client, instance_id, who, "dead_letter_replayed", {"id": entry_id, "task": found["task"]}
    )
    return Done(200, f"Replayed {found['task']} ({entry_id}).")


def replay_all(client: redis.Redis, follow_ups: Dispatcher, instance_id: str, who: str) -> Done:
    """Replay every replayable dead letter of the site once, audited with the count."""
    replayable = [e for e in entries(client, instance_id) if shown(e)["replayable"]]
    count = 0
    try:
        for found in replayable:
            count += _replay(client, follow_ups, found)
    except SendRefused:
        audit_log.record(client, instance_id, who, "dead_letters_replayed", {"count": count})
        return KEPT
    audit_log.record(client, instance_id, who, "dead_letters_replayed", {"count": count})
    return Done(200, f"Replayed {count} dead letter{'s' if count != 1 else ''}.")


def purge(client: redis.Redis, instance_id: str, entry_id: str | None, who: str) -> Done:
    """Drop one of the site's dead letters (`entry_id`) or all of them (None), audited."""
    chosen = entries(client, instance_id) if entry_id is None else [entry(client, instance_id, entry_id)]
    ids = [e["id"] for e in chosen if e is not None]
    count = DeadLetters(client).remove(*ids)
    if entry_id is not None and count == 0:
        return Done(404, "There is no such dead letter on this site (replayed or purged already?).")
    action, details = ("dead_letter_purged", {"id": entry_id}) if entry_id else ("dead_letters_purged", {})
    audit_log.record(client, instance_id, who, action, {**details, "count": count})
    return Done(200, f"Purged {count} dead letter{'s' if count != 1 else ''}.")
