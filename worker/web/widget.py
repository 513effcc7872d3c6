"""The storefront widget's API, `/widget/v1/...` (docs/widget-api.md is the contract).

- `GET /widget/v1/widget.js` and `/widget/v1/widget.{hash}.js`: the script, read once at start-up and
  kept compressed (gzip and brotli); a missing file does not stop the app, the route answers 503.
- `POST /widget/v1/session`: a visitor's Wix access token → Wix's token-info says who it is; a member
  gets a widget token (HS256 with `WIDGET_TOKEN_SECRET`, 15 minutes, bound to instance and contact).
- `GET /widget/v1/public`: the programme's public content (ETag, `Cache-Control`).
- `GET /widget/v1/me`: the member's progress, the same numbers as `GET /v1/members/{id}/progress`.

CORS is open to any origin, without credentials, on these paths only (`WidgetCors`): the bearer widget
token is the credential, and the admin and records APIs stay same-origin. Wix tokens and widget tokens
appear in no log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.engine.storefront import DEFAULT_ID
from worker.progress.member_progress import member_progress
from worker.store.progress import ProgressStore
from worker.storefront.sessions import open_session
from worker.storefront.widget_json import member_view, public_content
from worker.web.widget_auth import require_wix, token_secret, visitor_token, widget_member
from worker.web.widget_script import (
    IMMUTABLE,
    SCRIPT_MAX_AGE,
    SCRIPT_PATH,
    WidgetScript,
    cached_json,
    installed_script,
    script_response,
)
from worker.web.wix_dependency import Wix, wix_for_request

logger = logging.getLogger(__name__)

PREFIX = "/widget/v1"
PUBLIC_MAX_AGE = 60
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "Authorization, Content-Type",
    "access-control-max-age": "600",
}

router = APIRouter(prefix=PREFIX, tags=["storefront widget"])


# --- CORS, for these paths only --------------------------------------------------------------------------


class WidgetCors:
    """`Access-Control-Allow-Origin: *` on every `/widget/v1/` answer (errors included); preflights are
    answered 204 here. Other paths pass untouched: Starlette's CORSMiddleware would open the whole app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await Response(status_code=204, headers=CORS_HEADERS)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"access-control-allow-origin"
                    ),
                    (b"access-control-allow-origin", b"*"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)


# --- The Wix client --------------------------------------------------------------------------------------


wix_for_widget = wix_for_request  # the dependency tests override (worker.web.wix_dependency)


# --- widget.js -------------------------------------------------------------------------------------------


@router.get("/widget.js", summary="The widget's script (short cache, for the snippet's fixed URL)")
def widget_script(request: Request) -> Response:
    return script_response(request, installed_script(request), f"public, max-age={SCRIPT_MAX_AGE}")


@router.get("/widget.{script_hash}.js", summary="The widget's script at its content-hashed URL (immutable)")
def widget_script_hashed(script_hash: str, request: Request) -> Response:
    return script_response(request, installed_script(request, script_hash), IMMUTABLE)


# --- Session ---------------------------------------------------------------------------------------------


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accountId: Annotated[str, Field(min_length=1, max_length=200)] | None = None


@router.post(
    "/session",
    summary="Trade the visitor's Wix access token for a widget session",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "mode": "member",
                        "instanceId": "6b1e6a2c-...",
                        "contactId": "24de6f0b-...",
                        "memberId": "a517751b-...",
                        "token": "eyJhbGciOiJIUzI1NiIs...",
                        "expiresAt": "2026-11-24T10:15:00Z",
                    }
                }
            }
        },
        401: {"description": "No Wix token, or Wix does not know it (`invalid_token`)"},
        403: {"description": "`accountId` is not the token's instance (`wrong_instance`)"},
        503: {"description": "Wix does not answer now, or the server is not configured for sessions"},
    },
)
def create_session(
    request: Request, response: Response, wix: Wix, body: SessionIn | None = None
) -> dict[str, Any]:
    response.headers["cache-control"] = "no-store"
    token = visitor_token(request)
    account_id = body.accountId if body is not None else None
    secret = partial(token_secret, request)  # asked for only when a member's token is minted
    return open_session(
        require_wix(wix), token, account_id, secret, datetime.now(UTC), request.app.state.store
    )


# --- Public content --------------------------------------------------------------------------------------


Identifier = Annotated[str, Query(min_length=1, max_length=200)]


@router.get(
    "/public",
    summary="The programme's public content: copy, theme, launcher, live streaks and challenges",
    responses={304: {"description": "`If-None-Match` matched the ETag"}, 404: {"description": "Unknown id"}},
)
def get_public(
    request: Request,
    instance: Identifier,
    template: Identifier,
    theme: Identifier = DEFAULT_ID,
    floatingWidget: Identifier = DEFAULT_ID,  # the contract's spelling
    locale: Annotated[str | None, Query(max_length=35)] = None,
) -> Response:
    program = ProgressStore(request.app.state.store).program(instance)
    content = public_content(
        program,
        instance,
        template_id=template,
        theme_id=theme,
        floating_widget_id=floatingWidget,
        locale=locale,
        now=datetime.now(UTC),
    )
    return cached_json(request, content, PUBLIC_MAX_AGE)


# --- The member's progress -------------------------------------------------------------------------------


@router.get(
    "/me",
    summary="The member's streaks, challenges, rewards and points, shaped for the widget",
    responses={401: {"description": "A bad, expired or foreign widget token (`invalid_token`)"}},
)
def get_me(
    request: Request,
    response: Response,
    wix: Wix,
    instance: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    response.headers["cache-control"] = "no-store"  # personal: no cache keeps it
    claims = widget_member(request, instance)
    store = ProgressStore(request.app.state.store)
    program = store.program(claims.instance_id)
    progress = member_progress(
        store, claims.instance_id, claims.contact_id, datetime.now(UTC), wix=lambda: wix
    )
    return member_view(program, claims.instance_id, progress)


# --- Wiring ----------------------------------------------------------------------------------------------


def install(app: FastAPI, script_path: Path = SCRIPT_PATH) -> None:
    """Read widget.js once, add the routes and the CORS of `/widget/v1/` (one line in create_app)."""
    app.state.widget_script = WidgetScript.load(script_path)
    app.add_middleware(WidgetCors)
    app.include_router(router)
