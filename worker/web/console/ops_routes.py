"""`/dashboard/sites/{id}/...`: the operations room's routes (thin: worker/console/ decides, ops_pages.py
renders). A merchant's session opens its own site only; an operator's, the site it opened.

- `GET .../jobs`: the jobs to start with their options, running jobs, past runs; `POST .../jobs` starts
  one (CSRF-checked, audited); `GET .../jobs/{job_id}`: a run's progress fragment (htmx polls it).
- `GET .../dead-letters` (`?page=N`, `?id=` to inspect one); `POST .../dead-letters/replay` (`id`, or
  `all=yes`); `POST .../dead-letters/purge` (`id`, or `all=yes`; without `confirm=yes` it only asks).
- `GET .../events?id=`: an event's journal record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from worker.console import dead_letters, job_runs
from worker.web.console import ops_pages
from worker.web.console.pages import ConsoleRoute, now, posted_form, session_of, site_for

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)


@router.get("/sites/{instance_id}/jobs")
def jobs(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    return ops_pages.jobs(request, session, site_for(request, session, instance_id))


@router.post("/sites/{instance_id}/jobs")
async def start_job(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, state = site_for(request, session, instance_id), request.app.state
    started = await run_in_threadpool(
        job_runs.start, state.store, state.follow_ups, site, form, session.who, now()
    )
    return ops_pages.jobs(request, session, site, started, form if started.problems else None)


@router.get("/sites/{instance_id}/jobs/{job_id}")
def job_progress(instance_id: str, job_id: str, request: Request) -> Response:
    session = session_of(request)
    return ops_pages.job_run(request, site_for(request, session, instance_id), job_id)


@router.get("/sites/{instance_id}/dead-letters")
def dead_letter_list(
    instance_id: str, request: Request, page: str = "1", entry_id: Annotated[str, Query(alias="id")] = ""
) -> Response:
    session = session_of(request)
    site = site_for(request, session, instance_id)
    return ops_pages.dead_letter_list(request, session, site, number=page[:9], inspected=entry_id)


@router.post("/sites/{instance_id}/dead-letters/replay")
async def replay_dead_letters(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, state, entry_id = site_for(request, session, instance_id), request.app.state, form.get("id", "")
    if form.get("all") == "yes":
        done = await run_in_threadpool(
            dead_letters.replay_all, state.store, state.follow_ups, site, session.who
        )
    else:
        done = await run_in_threadpool(
            dead_letters.replay, state.store, state.follow_ups, site, entry_id, session.who
        )
    return ops_pages.dead_letter_list(request, session, site, done=done)


@router.post("/sites/{instance_id}/dead-letters/purge")
async def purge_dead_letters(instance_id: str, request: Request) -> Response:
    """Without `confirm=yes`, the page asks first (nothing is purged)."""
    session, form = await posted_form(request)
    site, entry_id = (
        site_for(request, session, instance_id),
        None if form.get("all") == "yes" else form.get("id", ""),
    )
    if form.get("confirm") != "yes":
        confirm = {"id": entry_id or "", "all": "yes" if entry_id is None else ""}
        return ops_pages.dead_letter_list(request, session, site, inspected=entry_id or "", confirm=confirm)
    done = await run_in_threadpool(dead_letters.purge, request.app.state.store, site, entry_id, session.who)
    return ops_pages.dead_letter_list(request, session, site, done=done)


@router.get("/sites/{instance_id}/events")
def event_lookup(
    instance_id: str, request: Request, event_id: Annotated[str, Query(alias="id")] = ""
) -> Response:
    session = session_of(request)
    return ops_pages.events(request, session, site_for(request, session, instance_id), event_id)
