"""The operations room's pages (worker/console/job_runs.py, dead_letters.py and event_lookup.py decide
what they show): Jobs with each running job's progress fragment (polled by htmx every 2 seconds while it
runs, then no more), Dead letters (a page of them, one inspected, the purge's confirm step), Event lookup."""

from __future__ import annotations

from fastapi import Request, Response

from worker.console import dead_letters, event_lookup, job_runs
from worker.console.sessions import Refused, Session
from worker.web.console.pages import TEMPLATES, page


def jobs(
    request: Request,
    session: Session,
    instance_id: str,
    started: job_runs.Started | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """The Jobs page; a refused start answers its 422 with the posted values and the problem beside the
    field."""
    started = started or job_runs.Started()
    runs = job_runs.runs(request.app.state.store, instance_id)
    response = page(
        request,
        "jobs.html",
        session,
        instance_id,
        kinds=job_runs.JOB_KINDS,
        started=started,
        form=form or {},
        running=[run for run in runs if run["status"] == "running"],
        past=[run for run in runs if run["status"] != "running"],
    )
    response.status_code = started.status
    return response


def job_run(request: Request, instance_id: str, job_id: str) -> Response:
    """One run's progress fragment; polling goes on only while the run is running."""
    run = job_runs.run(request.app.state.store, instance_id, job_id)
    if run is None:
        raise Refused(404, "there is no such job on this site")
    return TEMPLATES.TemplateResponse(request, "job_run.html", {"site": instance_id, "run": run})


def dead_letter_list(
    request: Request,
    session: Session,
    instance_id: str,
    *,
    number: str = "1",
    inspected: str = "",
    done: dead_letters.Done | None = None,
    confirm: dict[str, str] | None = None,
) -> Response:
    """The Dead letters page: page `number`, the dead letter `inspected` (404 when not the site's), what
    an action did, or the purge's confirm step."""
    store = request.app.state.store
    entry = dead_letters.entry(store, instance_id, inspected) if inspected else None
    if inspected and entry is None and done is None:
        raise Refused(404, "there is no such dead letter on this site")
    response = page(
        request,
        "dead_letters.html",
        session,
        instance_id,
        listed=dead_letters.page(store, instance_id, int(number) if number.isdigit() else 1),
        inspected=dead_letters.shown(entry) if entry is not None else None,
        done=done,
        confirm=confirm,
    )
    response.status_code = done.status if done is not None else 200
    return response


def events(request: Request, session: Session, instance_id: str, event_id: str) -> Response:
    """The Event lookup page, with the event `event_id` found, missing (404) or refused (422)."""
    found = event_lookup.lookup(
        request.app.state.store, instance_id, event_id, request.app.state.settings.event_journal_ttl_seconds
    )
    response = page(request, "events.html", session, instance_id, lookup=found)
    response.status_code = found.status
    return response
