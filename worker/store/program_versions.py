"""The programme's lifecycle under the editor: a draft per instance, publishing, versions, diff, rollback.

A draft is validated and kept beside the live program (`keys.program`), which it never touches, so the
engine and the widget go on seeing the live one. Publishing makes a document live and records it as
version N ({version, who, at, note, document}) in the instance's versions hash, in the same MULTI as
the live program, the audit entry and (for a draft) the draft's removal; the MULTI WATCHes the live
program, so two publishes at once each get their own number and neither is lost. The oldest versions
beyond `MAX_VERSIONS` are dropped as new ones come. Rollback to K publishes K's document as a new
version. `ProgressStore.save_program` (the admin API's `PUT .../program`, the CLI's `program apply`)
publishes through `publish_document` too.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.engine.program import load_document, parse_program
from worker.engine.program_diff import diff_documents
from worker.store import audit_log

MAX_VERSIONS = 100
MAX_NOTE_CHARS = 500


class NoDraft(LookupError):
    """The instance has no draft."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id} has no draft")
        self.instance_id = instance_id


class NoVersion(LookupError):
    """The instance has no such version (never published, or trimmed), or no live program."""

    def __init__(self, instance_id: str, version: int | str) -> None:
        super().__init__(f"instance {instance_id} has no program version {version}")
        self.instance_id = instance_id
        self.version = version


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat()


def validated(text: str) -> dict[str, Any]:
    """A YAML or JSON program validated (ProgramInvalid lists every problem) and made JSON-safe."""
    document = load_document(text)
    parse_program(document)
    return json.loads(json.dumps(document, default=str))  # type: ignore[no-any-return]


# drafts -----------------------------------------------------------------------------------------


def save_draft(client: redis.Redis, instance_id: str, text: str, who: str) -> dict[str, Any]:
    """Validate a YAML or JSON program and keep it as the instance's draft (the live one is untouched)."""
    document = validated(text)
    draft = {"document": document, "who": who, "at": _now()}
    raw_entry = audit_log.entry(who, "draft_saved", {"streaks": len(document.get("streaks") or [])})
    with client.pipeline() as pipe:
        pipe.set(keys.program_draft(instance_id), json.dumps(draft))
        audit_log.append(pipe, instance_id, raw_entry)
        pipe.execute()
    return draft


def draft(client: redis.Redis, instance_id: str) -> dict[str, Any]:
    raw = client.get(keys.program_draft(instance_id))
    if not raw:
        raise NoDraft(instance_id)
    return json.loads(raw)  # type: ignore[arg-type,no-any-return]


# publishing -------------------------------------------------------------------------------------


def publish_document(
    client: redis.Redis,
    instance_id: str,
    document: dict[str, Any],
    *,
    who: str,
    note: str = "",
    action: str = "published",
    details: dict[str, Any] | None = None,
    from_draft: bool = False,
) -> dict[str, Any]:
    """Make an already validated document live as the next version; returns the version's record
    (without the document). With `from_draft`, the draft must be the one read and is removed."""
    program_key, versions_key, draft_key = (
        keys.program(instance_id),
        keys.program_versions(instance_id),
        keys.program_draft(instance_id),
    )
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(program_key, draft_key)  # type: ignore[no-untyped-call]
                if from_draft:
                    raw_draft = pipe.get(draft_key)
                    if not raw_draft:
                        raise NoDraft(instance_id)
                    document = json.loads(raw_draft)["document"]  # type: ignore[arg-type]
                raw = pipe.get(program_key)
                version = int(json.loads(raw)["version"]) + 1 if raw else 1  # type: ignore[arg-type]
                summary = {"version": version, "who": who, "at": _now(), "note": note}
                raw_entry = audit_log.entry(
                    who, action, {"version": version, "note": note, **(details or {})}
                )
                pipe.multi()
                pipe.set(program_key, json.dumps({"version": version, "document": document}, default=str))
                pipe.hset(
                    versions_key, str(version), json.dumps({**summary, "document": document}, default=str)
                )
                if version > MAX_VERSIONS:
                    pipe.hdel(versions_key, str(version - MAX_VERSIONS))
                if from_draft:
                    pipe.delete(draft_key)
                audit_log.append(pipe, instance_id, raw_entry)
                pipe.execute()
                return summary
            except redis.WatchError:
                continue


def publish(client: redis.Redis, instance_id: str, who: str, note: str = "") -> dict[str, Any]:
    """The draft becomes live, recorded as the next version; the draft is gone afterwards."""
    return publish_document(client, instance_id, {}, who=who, note=note, from_draft=True)


def rollback(client: redis.Redis, instance_id: str, version: int, who: str, note: str = "") -> dict[str, Any]:
    """Version K's document published again as a new version, noted "rollback to K"."""
    document = get_version(client, instance_id, version)["document"]
    parse_program(document)  # still a valid program under today's rules
    text = f"rollback to {version}" + (f": {note}" if note else "")
    return publish_document(
        client, instance_id, document, who=who, note=text, action="rolled_back", details={"to": version}
    )


# reading ----------------------------------------------------------------------------------------


def list_versions(client: redis.Redis, instance_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest `limit` versions (without their documents), newest first."""
    key = keys.program_versions(instance_id)
    numbers = sorted((int(n) for n in client.hkeys(key)), reverse=True)[: max(0, limit)]  # type: ignore[union-attr]
    if not numbers:
        return []
    raws: list[str | None] = client.hmget(key, [str(n) for n in numbers])  # type: ignore[assignment]
    records = [json.loads(raw) for raw in raws if raw]
    return [{k: v for k, v in record.items() if k != "document"} for record in records]


def get_version(client: redis.Redis, instance_id: str, version: int) -> dict[str, Any]:
    raw = client.hget(keys.program_versions(instance_id), str(version))
    if not raw:
        raise NoVersion(instance_id, version)
    return json.loads(raw)  # type: ignore[arg-type,no-any-return]


def document_named(client: redis.Redis, instance_id: str, name: str) -> dict[str, Any]:
    """The document called `draft`, `live` or a version number."""
    if name == "draft":
        return draft(client, instance_id)["document"]  # type: ignore[no-any-return]
    if name == "live":
        raw = client.get(keys.program(instance_id))
        if not raw:
            raise NoVersion(instance_id, "live")
        return json.loads(raw)["document"]  # type: ignore[arg-type,no-any-return]
    if not name.isdigit():
        raise NoVersion(instance_id, name[:20])
    return get_version(client, instance_id, int(name))["document"]  # type: ignore[no-any-return]


def diff(client: redis.Redis, instance_id: str, old: str, new: str) -> dict[str, Any]:
    """Every change from document `old` to document `new` (draft, live or a version number)."""
    changes = diff_documents(
        document_named(client, instance_id, old), document_named(client, instance_id, new)
    )
    return {"instanceId": instance_id, "from": old, "to": new, "changes": changes}


# the storefront's sections ------------------------------------------------------------------------

STOREFRONT_SECTIONS = ("templates", "themes", "floatingWidgets")


def publish_sections(
    client: redis.Redis, instance_id: str, sections: dict[str, Any], *, who: str, note: str
) -> dict[str, Any]:
    """The live document with `sections` (some of `STOREFRONT_SECTIONS`) replaced, published as the next
    version; a draft, when there is one, gets the same sections, so publishing it later does not undo
    them, and stays a draft (the merchant's other pending changes are not published). One MULTI, WATCHing
    the live program and the draft; ProgramInvalid when the result is not a valid program."""
    program_key, versions_key, draft_key = (
        keys.program(instance_id),
        keys.program_versions(instance_id),
        keys.program_draft(instance_id),
    )
    changed = {name: sections[name] for name in STOREFRONT_SECTIONS if name in sections}
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(program_key, draft_key)  # type: ignore[no-untyped-call]
                raw, raw_draft = pipe.get(program_key), pipe.get(draft_key)
                live: dict[str, Any] = (
                    json.loads(raw)  # type: ignore[arg-type]
                    if raw
                    else {"version": 0, "document": {"timezone": "UTC"}}
                )
                document = {**live["document"], **changed}
                parse_program(document)
                version = int(live["version"]) + 1
                summary = {"version": version, "who": who, "at": _now(), "note": note}
                raw_entry = audit_log.entry(who, "storefront_published", {"version": version, "note": note})
                pipe.multi()
                pipe.set(program_key, json.dumps({"version": version, "document": document}, default=str))
                pipe.hset(
                    versions_key, str(version), json.dumps({**summary, "document": document}, default=str)
                )
                if version > MAX_VERSIONS:
                    pipe.hdel(versions_key, str(version - MAX_VERSIONS))
                if raw_draft:
                    pending = json.loads(raw_draft)  # type: ignore[arg-type]
                    pending["document"] = {**pending["document"], **changed}
                    pipe.set(draft_key, json.dumps(pending, default=str))
                audit_log.append(pipe, instance_id, raw_entry)
                pipe.execute()
                return summary
            except redis.WatchError:
                continue
