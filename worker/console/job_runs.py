"""The operations room's Jobs page: the jobs a site may start with their options, a start checked and
audited, and the site's runs (running and past, newest first) read from its index (`keys.job_runs`,
written by `Jobs.start`), never by scanning every job record.

A start goes through `Jobs.start`, so a job of a name already running for the site is answered, not
doubled. `since` (catch-up) is typed in a `datetime-local` field: a time without an offset is UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.identifiers import identifier_problem
from worker.jobs.registry import KINDS, job_queue
from worker.jobs.runner import RUNS_KEPT, Jobs
from worker.store import audit_log

RUNS_SHOWN = 20
FAILURES_SHOWN = 5  # the latest failure reasons shown for a run


@dataclass(frozen=True)
class JobOption:
    """One option of a job, as a form field: `kind` is the input's type."""

    name: str
    label: str
    kind: str
    hint: str


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    description: str
    options: tuple[JobOption, ...] = ()


SINCE = JobOption(
    "since",
    "Orders updated since (UTC)",
    "datetime-local",
    "Optional. Empty: since the last catch-up (the first run looks back as far as late activity counts).",
)
JOB_KINDS: tuple[JobKind, ...] = (
    JobKind(
        "birthdays", "Birthdays", "Earn the points of the program's birthday rules for today's birthdays."
    ),
    JobKind(
        "bootstrap", "Bootstrap", "Activate a draft Wix loyalty program and open an account per contact."
    ),
    JobKind(
        "catch-up", "Catch-up", "Find paid orders whose webhooks never arrived and process them.", (SINCE,)
    ),
    JobKind("expire-rewards", "Expire rewards", "Mark issued rewards whose expiry has passed as expired."),
    JobKind("index-coupon-codes", "Index coupon codes", "Index older rewards' coupon codes for redemptions."),
    JobKind("index-reward-times", "Index reward times", "List older rewards on the Rewards page."),
    JobKind("monthly-messages", "Monthly messages", "Send members their monthly balance message."),
    JobKind(
        "release-referrals", "Release referrals", "Reward referrals whose hold (return window) has ended."
    ),
    JobKind(
        "reward-expiring", "Reward expiring", "Report rewards about to expire to the site's automations."
    ),
    JobKind("streak-at-risk", "Streak at risk", "Report streaks about to break to the site's automations."),
    JobKind(
        "birthdays", "Birthdays", "Earn the points of the program's birthday rules for today's birthdays."
    ),
    JobKind(
        "sweep", "Sweep", "Close streaks and challenges past their grace without waiting for a next order."
    ),
)
BY_NAME = {kind.name: kind for kind in JOB_KINDS}


@dataclass(frozen=True)
class Started:
    """What a start did: its HTTP status, the notice, each refused field's problem, and the job."""

    status: int = 200
    notice: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    job: dict[str, Any] | None = None


def parse_since(text: str, now: datetime) -> datetime | None:
    """The `since` option: empty → None; an ISO-8601 time (no offset: UTC) not in the future, else
    ValueError saying what is wrong."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date and time: {text[:40]!r} (e.g. 2026-12-01T09:30)") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if moment > now:
        raise ValueError("must not be in the future")
    return moment


def start(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    form: dict[str, str],
    who: str,
    now: datetime,
) -> Started:
    """Start the job the form names for the site with its options (422 naming the field when one is not
    valid); a running job of that name is answered instead. A start is written to the audit log."""
    kind = BY_NAME.get(form.get("name", ""))
    if kind is None:
        return Started(422, problems={"name": "there is no such job"})
    since: datetime | None = None
    if any(option.name == "since" for option in kind.options):
        try:
            since = parse_since(form.get("since", ""), now)
        except ValueError as exc:
            return Started(422, problems={"since": f"{SINCE.label} {exc}"})
    stamp = since.astimezone(UTC).isoformat().replace("+00:00", "Z") if since else None
    record, new = Jobs(client, KINDS).start(instance_id, kind.name, stamp)
    if not new:
        return Started(
            200, f"The {kind.title.lower()} job is already running: its progress is below.", job=record
        )
    details = {"jobId": record["id"], "name": kind.name, "since": stamp}
    audit_log.record(client, instance_id, who, "job_started", details)
    follow_ups.run_job(record["id"], job_queue(kind.name))
    return Started(200, f"The {kind.title.lower()} job started.", job=record)


def run(client: redis.Redis, instance_id: str, job_id: str) -> dict[str, Any] | None:
    """One of the site's job runs, with what the page shows; None when it is not the site's."""
    record = Jobs(client, KINDS).get(job_id) if identifier_problem(job_id, 100) is None else None
    if record is None or record["instanceId"] != instance_id:
        return None
    return shown(record)


def runs(client: redis.Redis, instance_id: str, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    """The site's newest job runs whose records are still kept, newest first."""
    ids: list[str] = client.zrevrange(keys.job_runs(instance_id), 0, min(limit, RUNS_KEPT) - 1)  # type: ignore[assignment]
    jobs = Jobs(client, KINDS)
    records = (jobs.get(job_id) for job_id in ids)
    return [shown(record) for record in records if record is not None and record["instanceId"] == instance_id]


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """A job record with its title, its progress in percent (None while it runs and its total is unknown)
    and only its latest failures."""
    total, handled = record["total"], record["done"] + record["skipped"] + record["failed"]
    if total:
        percent: int | None = min(100, round(100 * handled / total))
    else:  # the total is not known yet (or there was nothing to do)
        percent = {"succeeded": 100, "running": None}.get(record["status"], 0)
    kind = BY_NAME.get(record["name"])
    return {
        **record,
        "title": kind.title if kind else record["name"],
        "handled": handled,
        "percent": percent,
        "latestFailures": record["failures"][-FAILURES_SHOWN:],
    }
