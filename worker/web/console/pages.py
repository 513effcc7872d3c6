"""What every console route shares: the session it carries, the CSRF check of a POST, rendering, the
security headers, and a refusal as a clear page (or a fragment for htmx) with its 4xx status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from worker.console import program_form
from worker.console import programme as programme_domain
from worker.console.checklist import checklist
from worker.console.points_budgets import budget_uses
from worker.console.programme import Outcome
from worker.console.sessions import Refused, Session, check_csrf, check_secret, csrf_token, verify_session
from worker.identifiers import is_instance_id
from worker.store import audit_log
from worker.store.instances import is_removed
from worker.web.errors import error_response

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = {
    "console.css": ("console.css", "text/css"),
    "htmx.min.js": ("vendor/htmx.min.js", "text/javascript"),
    "icon.svg": ("console-icon.svg", "image/svg+xml"),
    "storefront-preview.js": ("storefront-preview.js", "text/javascript"),
}
SESSION_HEADER = "x-console-session"
CSRF_HEADER = "x-csrf-token"
# Wix's dashboard (manage.wix.com) frames the page; nothing else may. No inline script or style.
CSP = (
    "default-src 'self'; frame-ancestors https://manage.wix.com https://*.wix.com; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",  # a plain link's session never leaves in a Referer
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def now() -> datetime:
    return datetime.now(UTC)


def secret(request: Request) -> str:
    configured = request.app.state.settings.console_secret
    return check_secret(configured.get_secret_value() if configured is not None else None)


def session_of(request: Request, given: str | None = None) -> Session:
    """The request's console session: the `X-Console-Session` header (htmx), else `given` (a form field
    or the `session` query parameter of a plain link)."""
    token = request.headers.get(SESSION_HEADER) or given or request.query_params.get("session")
    if not token:
        raise Refused(401, "no console session: open the app from the Wix dashboard, or sign in")
    session = verify_session(secret(request), token)
    request.state.console_token = token
    return session


def started(request: Request, token: str) -> Session:
    """A session just minted, carried from here on by the page this request renders."""
    request.state.console_token = token
    return verify_session(secret(request), token)


def site_for(request: Request, session: Session, instance_id: str) -> str:
    """The site the URL names, when the session may open it."""
    if not is_instance_id(instance_id):
        raise Refused(404, "there is no such site")
    if not session.may_open(instance_id):
        raise Refused(403, "this session is for another site")
    if not session.is_operator and is_removed(request.app.state.store, instance_id):
        raise Refused(403, "the app was removed from this site")
    return instance_id


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields (application/x-www-form-urlencoded), each field's first value."""
    body = (await request.body()).decode(errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


async def posted(request: Request) -> Session:
    """The session of a POST, its CSRF token checked (the header, or the form's `csrf` field)."""
    return (await posted_form(request))[0]


async def posted_form(request: Request) -> tuple[Session, dict[str, str]]:
    """The session of a POST, its CSRF token checked, and the posted form's fields."""
    form = await form_of(request)
    session = session_of(request, form.get("session"))
    check_csrf(secret(request), session, request.headers.get(CSRF_HEADER) or form.get("csrf"))
    return session, form


AUDIT_SHOWN = 10  # the newest audit entries on the Home page


def home(request: Request, session: Session, instance_id: str, notice: str = "") -> Response:
    """The Home page of a site for a session, its token and CSRF token carried in the page."""
    return page(request, "home.html", session, instance_id, notice=notice)


def page(request: Request, template: str, session: Session, instance_id: str, **context: Any) -> Response:
    """A page of a site, the session's token (`request.state.console_token`) and CSRF token in it."""
    token = request.state.console_token
    csrf = csrf_token(secret(request), session)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "site": instance_id,
            "session": session,
            "token": token,
            "csrf": csrf,
            "headers": {"X-Console-Session": token, "X-CSRF-Token": csrf},
            "items": checklist(request.app.state.store, instance_id),
            "audit": audit_log.recent(request.app.state.store, instance_id, AUDIT_SHOWN),
            **context,
        },
    )


CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 503: "not_configured"}


def refused(request: Request, exc: Refused) -> Response:
    """The refusal as a page, or in the API's JSON shape for a client that asks for JSON only."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return error_response(exc.status, CODES.get(exc.status, "refused"), exc.message)
    return TEMPLATES.TemplateResponse(
        request, "refused.html", {"status": exc.status, "message": exc.message}, status_code=exc.status
    )


class ConsoleRoute(APIRoute):
    """A console route: a `Refused` becomes its page, and every answer carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except Refused as exc:
                response = refused(request, exc)
            own_csp = response.headers.get("content-security-policy")  # a page with its own (a preview)
            response.headers.update(SECURITY_HEADERS)
            if own_csp:
                response.headers["content-security-policy"] = own_csp
            return response

        return guarded


def programme(
    request: Request,
    session: Session,
    instance_id: str,
    outcome: Outcome | None = None,
    *,
    text: str | None = None,
    compare: tuple[str, str] = ("", ""),
    view: str = "forms",
) -> Response:
    """The Programme page: the forms tab or the YAML tab (`view`; each shows what was posted when it was
    refused), the versions, and the diff between the two documents `compare` names; a refused POST
    answers its 4xx with the page."""
    store, outcome = request.app.state.store, outcome or Outcome()
    shown_text, is_draft = programme_domain.editor_text(store, instance_id)
    document = outcome.document or programme_domain.editor_document(store, instance_id)
    old, new = compare
    response = page(
        request,
        "program.html",
        session,
        instance_id,
        outcome=outcome,
        view="yaml" if view == "yaml" else "forms",
        text=shown_text if text is None or outcome.source != "yaml" else text,
        fields=document,
        values=program_form.form_fields(document),
        working=program_form.as_json(document),
        schema=program_form.SCHEMA,
        is_draft=is_draft,
        versions=programme_domain.versions(store, instance_id),
        compare_from=old,
        compare_to=new,
        changes=programme_domain.diff_between(store, instance_id, old, new) if old and new else None,
        budgets=budget_uses(store, instance_id, datetime.now(UTC)),
    )
    response.status_code = outcome.status
    return response
