"""The Programme page's domain: the text the YAML tab edits (the draft, else the live program as YAML),
saving it as the draft (the admin API's validation; nothing saved when invalid), publishing the draft
with a note, the versions, the diff between any two (or live, or the draft), and rollback. Every change goes
through `worker.store.program_versions`, which writes its audit entry in the same MULTI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis
import yaml

from worker import keys
from worker.console import program_form
from worker.engine.program import ProgramInvalid
from worker.store import program_versions
from worker.store.program_versions import NoDraft, NoVersion

MAX_TEXT_CHARS = 256 * 1024  # a programme is far smaller; a bigger paste is refused before parsing


@dataclass(frozen=True)
class Outcome:
    """What a POST did: a notice for the merchant, or the problems (each {path, message}) and a 4xx."""

    notice: str = ""
    problems: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    source: str = "yaml"  # which form the problems belong to: "yaml" or "fields"
    document: dict[str, Any] | None = None  # the refused fields' document, shown as it was posted

    @property
    def by_path(self) -> dict[str, str]:
        return {problem["path"]: problem["message"] for problem in self.problems}


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def live_document(client: redis.Redis, instance_id: str) -> dict[str, Any] | None:
    raw = client.get(keys.program(instance_id))
    return json.loads(raw)["document"] if raw else None  # type: ignore[arg-type]


def editor_text(client: redis.Redis, instance_id: str) -> tuple[str, bool]:
    """The YAML the tab shows, and whether it is a draft (else the live program, or empty)."""
    try:
        return as_yaml(program_versions.draft(client, instance_id)["document"]), True
    except NoDraft:
        live = live_document(client, instance_id)
        return (as_yaml(live) if live is not None else ""), False


def editor_document(client: redis.Redis, instance_id: str) -> dict[str, Any]:
    """The document the fields edit: the draft, else the live program, else an empty programme."""
    try:
        return program_versions.draft(client, instance_id)["document"]  # type: ignore[no-any-return]
    except NoDraft:
        return live_document(client, instance_id) or {"timezone": "UTC"}


def save_fields(client: redis.Redis, instance_id: str, form: dict[str, str], who: str) -> Outcome:
    """The forms' post (`worker.console.program_form`): an add or remove button changes only the form
    (nothing saved); else the document it makes is saved as the draft, with the YAML tab's validation.
    Refused, nothing is saved and the form comes back as it was posted."""
    posted = program_form.read_post(editor_document(client, instance_id), form)
    if posted.problem:
        return Outcome(problems=[{"path": "(form)", "message": posted.problem}], status=422, source="fields")
    if posted.action:
        return Outcome(posted.action, source="fields", document=posted.document)
    outcome = save_draft(client, instance_id, json.dumps(posted.document), who)
    if outcome.problems:
        return Outcome(problems=outcome.problems, status=422, source="fields", document=posted.document)
    return outcome


def save_draft(client: redis.Redis, instance_id: str, text: str, who: str) -> Outcome:
    if len(text) > MAX_TEXT_CHARS:
        problem = {"path": "(document)", "message": f"at most {MAX_TEXT_CHARS} characters"}
        return Outcome(problems=[problem], status=422)
    try:
        program_versions.save_draft(client, instance_id, text, who)
    except ProgramInvalid as exc:
        return Outcome(problems=exc.problems, status=422)
    return Outcome("The draft is saved. The live programme is unchanged until you publish.")


def publish(client: redis.Redis, instance_id: str, who: str, note: str) -> Outcome:
    note = note.strip()[: program_versions.MAX_NOTE_CHARS]
    try:
        summary = program_versions.publish(client, instance_id, who, note)
    except NoDraft:
        return Outcome("There is no draft to publish: save one first.", status=409)
    return Outcome(f"Version {summary['version']} is live.")


def rollback(client: redis.Redis, instance_id: str, version: str, who: str) -> Outcome:
    if not version.isdigit() or len(version) > 9:
        return Outcome("There is no such version.", status=404)
    try:
        summary = program_versions.rollback(client, instance_id, int(version), who)
    except NoVersion:
        return Outcome(f"There is no version {version}.", status=404)
    except ProgramInvalid as exc:
        return Outcome(f"Version {version} is no longer a valid programme.", exc.problems, 409)
    return Outcome(f"Version {version} is live again, as version {summary['version']}.")


def versions(client: redis.Redis, instance_id: str) -> list[dict[str, Any]]:
    return program_versions.list_versions(client, instance_id, limit=20)


def shown(value: Any) -> str:
    """A diff value as one readable line (a mapping or list as compact YAML flow)."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return json.dumps(value, ensure_ascii=False)


COMPARABLE = ("live", "draft")


def comparable(name: str) -> bool:
    """Whether `name` may name a document to compare: live, draft or a version number."""
    return name in COMPARABLE or (name.isdigit() and len(name) <= 9)


def diff_between(client: redis.Redis, instance_id: str, old: str, new: str) -> list[dict[str, str]] | None:
    """The changes from document `old` to `new` (a version number, "live" or "draft"), each
    {op, path, old, new} as text; None when either is not there."""
    if not (comparable(old) and comparable(new)):
        return None
    try:
        changes = program_versions.diff(client, instance_id, old, new)["changes"]
    except (NoVersion, NoDraft):
        return None
    return [
        {
            "op": change["op"],
            "path": change["path"],
            "old": shown(change["old"]) if "old" in change else "",
            "new": shown(change["new"]) if "new" in change else "",
        }
        for change in changes
    ]


def has_draft(client: redis.Redis, instance_id: str) -> bool:
    return bool(client.exists(keys.program_draft(instance_id)))
