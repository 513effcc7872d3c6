"""`/dashboard/`: the merchant console's routes (thin: worker/console/ decides, pages.py renders).

- `GET /dashboard/?instance=...`: Wix opens the page with its `instance` parameter (a legacy signed
  instance, or a token Wix's Token Info vouches for: worker/console/wix_sign_in.py);
  `GET /dashboard/?link=...`: a sign-in link (`python -m worker console link`); with neither, the
  operator's sign-in form, posted to `POST /dashboard/signin` with ADMIN_TOKEN and a site id.
- `GET /dashboard/sites/{id}/`: a site's Home page (the set-up checklist); `.../program`: the Programme
  page (`?from=A&to=B`: the diff from A to B, each a version number, `live` or `draft`; `?version=N`:
  N's diff against live).
- `POST /dashboard/sites/{id}/bootstrap|embed`: the checklist's actions, CSRF-checked.
- `POST /dashboard/sites/{id}/program/draft|fields|publish|rollback`: the Programme page's actions,
  CSRF-checked.
- `GET /dashboard/sites/{id}/preview`: the Preview page (the draft replayed against the journal beside
  live; nothing written).
- `GET /dashboard/sites/{id}/storefront` (`?templateId=&themeId=&floatingWidgetId=&locale=`: picked, not
  saved), `.../storefront/preview` (the preview frame); `POST .../storefront` (Save) and
  `POST .../storefront/shown` (the switch), CSRF-checked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from worker.console import preview, programme
from worker.console import storefront as storefront_domain
from worker.console.checklist import complete_install_again, start_bootstrap
from worker.console.sessions import (
    ANY_SITE,
    Refused,
    check_admin_token,
    mint_session,
    verify_link,
)
from worker.console.wix_sign_in import sign_in_from_wix
from worker.web.console import pages, storefront_pages
from worker.web.console.pages import (
    ConsoleRoute,
    home,
    now,
    posted,
    posted_form,
    secret,
    session_of,
    site_for,
    started,
)
from worker.web.wix_dependency import Wix

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
def enter(
    request: Request, wix: Wix, instance: Annotated[str | None, Query()] = None, link: str | None = None
) -> Response:
    key = secret(request)
    if instance is not None:
        signed_in = sign_in_from_wix(instance, request.app.state.settings, wix, now())
        site, who = signed_in.instance_id, signed_in.who
    elif link is not None:
        site, who = verify_link(key, link).instance_id, "link"
    else:
        return pages.TEMPLATES.TemplateResponse(request, "signin.html", {})
    session = started(request, mint_session(key, site, who, now()))
    return home(request, session, site_for(request, session, site))


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await pages.form_of(request)
    admin = request.app.state.settings.admin_token
    check_admin_token(admin.get_secret_value() if admin is not None else None, form.get("admin_token", ""))
    session = started(request, mint_session(secret(request), ANY_SITE, "operator", now()))
    return home(request, session, site_for(request, session, form.get("instance_id", "").strip()))


@router.get("/sites/{instance_id}/")
def site_home(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    return home(request, session, site_for(request, session, instance_id))


@router.get("/sites/{instance_id}/program")
def program(
    instance_id: str,
    request: Request,
    version: str = "",
    old: Annotated[str, Query(alias="from")] = "",
    new: Annotated[str, Query(alias="to")] = "",
    view: str = "forms",
) -> Response:
    session = session_of(request)
    compare = (version[:9], "live") if version else (old[:9], new[:9])
    site = site_for(request, session, instance_id)
    return pages.programme(request, session, site, compare=compare, view=view)


@router.post("/sites/{instance_id}/program/draft")
async def save_draft(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, text = site_for(request, session, instance_id), form.get("program", "")
    store = request.app.state.store
    outcome = await run_in_threadpool(programme.save_draft, store, site, text, session.who)
    kept = text if outcome.problems else None
    return pages.programme(request, session, site, outcome, text=kept, view="yaml")


@router.post("/sites/{instance_id}/program/fields")
async def save_fields(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, store = site_for(request, session, instance_id), request.app.state.store
    outcome = await run_in_threadpool(programme.save_fields, store, site, form, session.who)
    return pages.programme(request, session, site, outcome)


@router.post("/sites/{instance_id}/program/publish")
async def publish(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site = site_for(request, session, instance_id)
    outcome = programme.publish(request.app.state.store, site, session.who, form.get("note", ""))
    return pages.programme(request, session, site, outcome, view=form.get("view", ""))


@router.post("/sites/{instance_id}/program/rollback")
async def roll_back(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site = site_for(request, session, instance_id)
    outcome = programme.rollback(request.app.state.store, site, form.get("version", ""), session.who)
    return pages.programme(request, session, site, outcome, view=form.get("view", ""))


@router.post("/sites/{instance_id}/bootstrap")
async def bootstrap(instance_id: str, request: Request) -> Response:
    session = await posted(request)
    site = site_for(request, session, instance_id)
    started = start_bootstrap(request.app.state.store, request.app.state.follow_ups, site, session.who)
    return home(request, session, site, "The bootstrap started." if started else "The bootstrap is running.")


@router.post("/sites/{instance_id}/embed")
async def embed(instance_id: str, request: Request) -> Response:
    session = await posted(request)
    site = site_for(request, session, instance_id)
    complete_install_again(request.app.state.store, request.app.state.follow_ups, site, session.who)
    return home(request, session, site, "Embedding the widget and reading the program's status: reload soon.")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in pages.STATIC_FILES:
        raise Refused(404, "there is no such file")
    path, media_type = pages.STATIC_FILES[name]
    return FileResponse(pages.STATIC / path, media_type=media_type)


@router.get("/sites/{instance_id}/preview")
async def draft_preview(instance_id: str, request: Request) -> Response:
    """The draft replayed against the journal beside live; a GET, as the replay writes nothing."""
    session = session_of(request)
    site, settings = site_for(request, session, instance_id), request.app.state.settings
    shown = await run_in_threadpool(
        preview.preview,
        request.app.state.store,
        site,
        max_events=settings.dry_run_max_events,
        journal_seconds=settings.event_journal_ttl_seconds,
    )
    return pages.page(request, "preview.html", session, site, preview=shown)


@router.get("/sites/{instance_id}/storefront")
def storefront(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    site = site_for(request, session, instance_id)
    return storefront_pages.storefront(request, session, site, picked=dict(request.query_params))


@router.get("/sites/{instance_id}/storefront/preview")
def storefront_preview(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    return storefront_pages.preview(request, site_for(request, session, instance_id), request.query_params)


@router.post("/sites/{instance_id}/storefront")
async def save_storefront(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, state = site_for(request, session, instance_id), request.app.state
    outcome = await run_in_threadpool(
        storefront_domain.save, state.store, state.follow_ups, site, form, session.who
    )
    return storefront_pages.storefront(
        request, session, site, outcome, picked=form if outcome.problems else None
    )


@router.post("/sites/{instance_id}/storefront/shown")
async def show_widget(instance_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, state, shown = site_for(request, session, instance_id), request.app.state, form.get("shown") == "on"
    outcome = await run_in_threadpool(
        storefront_domain.set_shown, state.store, state.follow_ups, site, shown, session.who
    )
    return storefront_pages.storefront(request, session, site, outcome)
