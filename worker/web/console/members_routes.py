"""`/dashboard/sites/{id}/members`: find a member; `.../members/{contactId}` (`?page=N`: the timeline's
page): their page; `POST .../members/{contactId}/grant|resend|points|status`: the actions, each
CSRF-checked, site-checked, audited and idempotent by the action id in its form (worker/console/members.py
decides; these routes stay thin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from worker.console import members as domain
from worker.console.sessions import Session
from worker.web.console.pages import ConsoleRoute, now, page, posted_form, session_of, site_for
from worker.web.wix_dependency import Wix

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)


def member(
    request: Request,
    session: Session,
    site: str,
    contact_id: str,
    wix: Any,
    outcome: domain.Outcome | None = None,
) -> Response:
    """The member's page (with the outcome of the action just posted, and its status code)."""
    outcome = outcome or domain.Outcome()
    shown = domain.member_page(
        request.app.state.store,
        site,
        contact_id,
        now(),
        wix=lambda: wix,
        journal_ttl=request.app.state.settings.event_journal_ttl_seconds,
        page=_page_number(request.query_params.get("page", "1")),
    )
    response = page(request, "member.html", session, site, member=shown, outcome=outcome)
    response.status_code = outcome.status
    return response


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else 1


async def _act(
    request: Request,
    instance_id: str,
    contact_id: str,
    wix: Any,
    action: Callable[..., domain.Outcome],
    *args: Any,
) -> Response:
    session, form = await posted_form(request)
    site = site_for(request, session, instance_id)
    outcome = await run_in_threadpool(
        action, request.app.state.store, *args, site, contact_id, form, session.who
    )
    return member(request, session, site, contact_id, wix, outcome)


@router.get("/sites/{instance_id}/members")
def members(instance_id: str, request: Request, q: str = "") -> Response:
    session = session_of(request)
    site = site_for(request, session, instance_id)
    found = domain.find(request.app.state.store, site, q[:400])
    return page(request, "members.html", session, site, query=q[:400], found=found)


@router.get("/sites/{instance_id}/members/{contact_id}")
def member_page(instance_id: str, contact_id: str, request: Request, wix: Wix) -> Response:
    session = session_of(request)
    return member(request, session, site_for(request, session, instance_id), contact_id, wix)


@router.post("/sites/{instance_id}/members/{contact_id}/grant")
async def grant(instance_id: str, contact_id: str, request: Request, wix: Wix) -> Response:
    state = request.app.state
    return await _act(request, instance_id, contact_id, wix, _grant_now, state.follow_ups)


def _grant_now(
    store: Any, follow_ups: Any, site: str, contact_id: str, form: Any, who: str
) -> domain.Outcome:
    return domain.grant(store, follow_ups, site, contact_id, form, who, now())


@router.post("/sites/{instance_id}/members/{contact_id}/resend")
async def resend(instance_id: str, contact_id: str, request: Request, wix: Wix) -> Response:
    return await _act(request, instance_id, contact_id, wix, domain.send_again, request.app.state.follow_ups)


@router.post("/sites/{instance_id}/members/{contact_id}/points")
async def points(instance_id: str, contact_id: str, request: Request, wix: Wix) -> Response:
    state = request.app.state
    return await _act(request, instance_id, contact_id, wix, _adjust, state.follow_ups, state.settings)


def _adjust(
    store: Any, follow_ups: Any, settings: Any, site: str, contact_id: str, form: Any, who: str
) -> domain.Outcome:
    ttl = settings.event_journal_ttl_seconds
    return domain.adjust_points(store, follow_ups, site, contact_id, form, who, ttl)


@router.post("/sites/{instance_id}/members/{contact_id}/status")
async def member_status(instance_id: str, contact_id: str, request: Request, wix: Wix) -> Response:
    return await _act(request, instance_id, contact_id, wix, domain.set_member_status)
