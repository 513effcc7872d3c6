"""The operations room's event lookup: a webhook's journal record, by its event id, in the site's own
journal (worker/store/journal.py): what arrived and when, its status, and what it caused (its normalized
event and the logs it made). An id that is not an identifier is refused (422); an unknown one is "no such
event", never another site's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from worker.identifiers import identifier_problem
from worker.store.journal import EventJournal


@dataclass(frozen=True)
class Lookup:
    """`state` is `empty` (nothing asked), `invalid` (`problem` says why), `missing` or `found`."""

    state: str
    event_id: str = ""
    record: dict[str, Any] | None = None
    problem: str = ""

    @property
    def status(self) -> int:
        return {"invalid": 422, "missing": 404}.get(self.state, 200)


def lookup(client: redis.Redis, instance_id: str, event_id: str, journal_seconds: int) -> Lookup:
    event_id = event_id.strip()
    if not event_id:
        return Lookup("empty")
    problem = identifier_problem(event_id)
    if problem is not None:
        return Lookup("invalid", event_id[:200], problem=f"The event id {problem}.")
    record = EventJournal(client, journal_seconds).get(instance_id, event_id)
    if record is None:
        return Lookup("missing", event_id)
    return Lookup("found", event_id, _shown(record))


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its normalized event and logs as indented JSON, for the page."""
    return {
        **record,
        "normalizedText": json.dumps(record["normalized"], indent=2) if "normalized" in record else "",
        "logs": [_log(log) for log in record.get("logs") or [] if isinstance(log, dict)],
    }


def _log(log: dict[str, Any]) -> dict[str, Any]:
    """One log the event made, with what it fed (`streak X` or `challenge Y`) and its outcome in words."""
    target = " ".join(f"{kind} {log[kind]}" for kind in ("streak", "challenge") if kind in log)
    if log.get("duplicate"):
        outcome = "duplicate"
    elif log.get("applied"):
        outcome = "applied"
    else:
        outcome = "not applied"
    return {**log, "target": target, "outcome": outcome}
