"""The console's Home page: a set-up checklist read from the real state, and the two actions it offers.

Each item says whether it is done, what was read, and what fixes it:
- the programme published (ProgressStore: a valid program document);
- the widget embedded on the site (the registry's `embedding`, written by the install completion);
- the site's Wix loyalty program ACTIVE (the registry's `wixProgramStatus`, as the install or the
  bootstrap job last read it);
- webhooks arriving (the registry's `lastEventAt`);
- loyalty accounts bootstrapped (the site's last `bootstrap` job: its id under `keys.job_last`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from worker import keys
from worker.dispatch import ON_INSTALLED, Dispatcher, queue_of
from worker.installs.overview import program_summary
from worker.jobs.registry import KINDS, job_queue
from worker.jobs.runner import Jobs
from worker.store import audit_log, instances

BOOTSTRAP = "bootstrap"


@dataclass(frozen=True)
class Action:
    """What fixes an item: a POST to `post` (an action of this site), a link to `href`, or advice."""

    label: str
    post: str | None = None
    href: str | None = None


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    done: bool
    detail: str
    action: Action | None


def last_job(client: redis.Redis, instance_id: str, name: str) -> dict[str, Any] | None:
    """The site's running job of that name, else the one it started last (`keys.job_last`, written as a
    job starts), while its record is kept."""
    jobs = Jobs(client, KINDS)
    for key in (keys.job_running(instance_id, name), keys.job_last(instance_id, name)):
        job_id = client.get(key)
        record = jobs.get(str(job_id)) if job_id else None
        if record is not None:
            return record
    return None


def _program(client: redis.Redis, instance_id: str) -> Item:
    summary = program_summary(client, instance_id)
    editor = Action("Open the programme editor", href="program")
    if summary is None:
        return Item("program", "Programme published", False, "No programme is published yet.", editor)
    if "invalid" in summary:
        return Item("program", "Programme published", False, "The published programme is not valid.", editor)
    detail = (
        f"{summary['streaks']} streaks, {summary['challenges']} challenges, {summary['rules']} rules and "
        f"{summary['pointsRules']} points rules."
    )
    return Item("program", "Programme published", True, detail, None)


def _widget(entry: dict[str, Any] | None) -> Item:
    embedding = (entry or {}).get("embedding") or {}
    fix = Action("Embed the widget", post="embed")
    if embedding.get("embedded"):
        detail = f"Embedded at {embedding.get('at')}."
        if embedding.get("disabled"):
            detail += " Switched off on the Storefront page: shoppers do not see it."
        return Item("widget", "Widget embedded on the site", True, detail, None)
    if embedding:
        detail = f"Embedding failed at {embedding.get('at')}: {embedding.get('error')}"
        return Item("widget", "Widget embedded on the site", False, detail, fix)
    return Item("widget", "Widget embedded on the site", False, "The widget has not been embedded.", fix)


def _wix_program(entry: dict[str, Any] | None) -> Item:
    status = (entry or {}).get("wixProgramStatus")
    title = "Wix loyalty program active"
    if status == "ACTIVE":
        return Item(
            "wix-program", title, True, f"ACTIVE (read at {entry and entry['wixProgramReadAt']}).", None
        )
    if status == "DRAFT":
        detail = "The program is a draft: the bootstrap activates it."
        return Item("wix-program", title, False, detail, Action("Start the bootstrap", post="bootstrap"))
    if status:
        detail = f"The program is {status}: resume it in Wix's Loyalty Program page, then read again."
        return Item("wix-program", title, False, detail, Action("Read the status again", post="embed"))
    detail = "The program's status has not been read."
    return Item("wix-program", title, False, detail, Action("Read the status", post="embed"))


def _webhooks(entry: dict[str, Any] | None) -> Item:
    last = (entry or {}).get("lastEventAt")
    if last:
        return Item("webhooks", "Webhooks arriving", True, f"The last event arrived at {last}.", None)
    detail = (
        "No event has arrived yet. Check the webhooks' URL and public key on the app's Webhooks page in "
        "the Wix app dashboard."
    )
    return Item("webhooks", "Webhooks arriving", False, detail, Action("See the README: webhooks"))


def _accounts(record: dict[str, Any] | None) -> Item:
    title = "Loyalty accounts bootstrapped"
    start = Action("Start the bootstrap", post="bootstrap")
    if record is None:
        return Item("accounts", title, False, "The bootstrap has not run for this site.", start)
    done = f"{record['done']} accounts made, {record['skipped']} skipped, {record['failed']} failed"
    if record["status"] == "running":
        return Item("accounts", title, False, f"The bootstrap is running: {done} so far.", None)
    if record["status"] == "succeeded":
        return Item("accounts", title, True, f"Finished at {record['finishedAt']}: {done}.", None)
    return Item("accounts", title, False, f"The bootstrap {record['status']}: {done}.", start)


def checklist(client: redis.Redis, instance_id: str) -> list[Item]:
    """The Home page's checklist for one site, read from the store."""
    entry = instances.get(client, instance_id)
    return [
        _program(client, instance_id),
        _widget(entry),
        _wix_program(entry),
        _webhooks(entry),
        _accounts(last_job(client, instance_id, BOOTSTRAP)),
    ]


def start_bootstrap(client: redis.Redis, follow_ups: Dispatcher, instance_id: str, who: str) -> bool:
    """Start the site's `bootstrap` job (a running one is answered, not doubled); True when it started.
    A start is written to the site's audit log."""
    record, new = Jobs(client, KINDS).start(instance_id, BOOTSTRAP)
    if new:
        audit_log.record(client, instance_id, who, "bootstrap_started", {"jobId": record["id"]})
        follow_ups.run_job(record["id"], job_queue(BOOTSTRAP))
    return new


def complete_install_again(client: redis.Redis, follow_ups: Dispatcher, instance_id: str, who: str) -> None:
    """Run the install completion again (read the Wix program status, embed the widget's script): the
    same task the install sends, safe to repeat; the request is written to the site's audit log."""
    audit_log.record(client, instance_id, who, "embed_requested")
    follow_ups.resend(ON_INSTALLED, {"instance_id": instance_id}, queue_of(ON_INSTALLED))
