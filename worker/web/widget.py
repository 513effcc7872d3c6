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

import gzip
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import brotli
import redis
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.engine.program import Program
from worker.engine.storefront import DEFAULT_ID, UnknownResource
from worker.progress.member_progress import member_progress
from worker.store.progress import NoProgram, ProgressStore
from worker.storefront.sessions import SessionRefused, open_session
from worker.storefront.widget_json import member_view, public_content
from worker.storefront.widget_tokens import (
    InvalidWidgetToken,
    verify_widget_token,
)
from worker.web.errors import ApiError
from worker.web.wix_dependency import Wix, wix_for_request
from worker.wix.client import WixClient

logger = logging.getLogger(__name__)

PREFIX = "/widget/v1"
SCRIPT_PATH = Path(__file__).resolve().parent / "static" / "widget.js"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
PUBLIC_MAX_AGE = 60
SCRIPT_MAX_AGE = 300
IMMUTABLE = "public, max-age=31536000, immutable"
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


def _token_secret(request: Request) -> str:
    """WIDGET_TOKEN_SECRET, or 503 saying it is not set (production refuses to start without it)."""
    secret = request.app.state.settings.widget_token_secret
    value = secret.get_secret_value() if secret is not None else ""
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ApiError(
            503,
            "not_configured",
            "member sessions are off: WIDGET_TOKEN_SECRET is not set or shorter than "
            f"{MIN_SECRET_BYTES} bytes",
        )
    return value


def _bearer(request: Request, what: str, *, bare: bool = False) -> str:
    """The token of `Authorization: Bearer <token>`; with `bare`, also a token sent alone, as Wix's
    SDK sends its access tokens (`fetchWithAuth`, wix-facts.md §4 "Common")."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return token
    if bare and header and " " not in header and header.lower() != "bearer":
        return header
    raise ApiError(401, "invalid_token", f"{what} is required (Authorization: Bearer <token>)")


def visitor_token(request: Request) -> str:
    """The visitor's Wix access token of a session request; checked for presence before the body is read
    (web.guards.AuthFirst): only Wix can say whether it is good."""
    return _bearer(request, "the visitor's Wix access token", bare=True)


# --- The Wix client --------------------------------------------------------------------------------------


wix_for_widget = wix_for_request  # the dependency tests override (worker.web.wix_dependency)


def _require_wix(wix: WixClient | None) -> WixClient:
    if wix is None:
        raise ApiError(503, "not_configured", "Wix is not configured (WIX_APP_ID, WIX_APP_SECRET)")
    return wix


# --- widget.js -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetScript:
    """The script's bytes, read once, and their compressed forms."""

    identity: bytes
    gzip: bytes
    brotli: bytes
    hash: str  # the first 16 hex digits of the SHA-256

    @property
    def hashed_path(self) -> str:
        return f"{PREFIX}/widget.{self.hash}.js"

    @classmethod
    def load(cls, path: Path) -> WidgetScript | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            logger.warning("widget.js is not available: its route answers 503", extra={"reason": str(exc)})
            return None
        return cls(
            identity=data,
            gzip=gzip.compress(data, compresslevel=9, mtime=0),
            brotli=brotli.compress(data, quality=11),
            hash=hashlib.sha256(data).hexdigest()[:16],
        )


def _accepted_encodings(header: str) -> set[str]:
    """The codings `Accept-Encoding` accepts (q > 0); `*` stands for any."""
    accepted = set()
    for part in header.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding and quality > 0:
            accepted.add(coding.lower())
    return accepted


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of `If-None-Match` against our ETag."""
    if not if_none_match:
        return False
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def _script_response(request: Request, cache_control: str) -> Response:
    script: WidgetScript | None = request.app.state.widget_script
    if script is None:
        raise ApiError(503, "unavailable", "widget.js is not installed on this server")
    etag = f'W/"{script.hash}"'
    headers = {"cache-control": cache_control, "etag": etag, "vary": "Accept-Encoding"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    accepted = _accepted_encodings(request.headers.get("accept-encoding", ""))
    body = script.identity
    if "br" in accepted:
        body, headers["content-encoding"] = script.brotli, "br"
    elif "gzip" in accepted or "*" in accepted:
        body, headers["content-encoding"] = script.gzip, "gzip"
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


@router.get("/widget.js", summary="The widget's script (short cache, for the snippet's fixed URL)")
def widget_script(request: Request) -> Response:
    return _script_response(request, f"public, max-age={SCRIPT_MAX_AGE}")


@router.get("/widget.{script_hash}.js", summary="The widget's script at its content-hashed URL (immutable)")
def widget_script_hashed(script_hash: str, request: Request) -> Response:
    script: WidgetScript | None = request.app.state.widget_script
    # Compared as bytes: `compare_digest` refuses str with non-ASCII characters (TypeError, a 500).
    if script is not None and not hmac.compare_digest(script_hash.encode(), script.hash.encode()):
        raise ApiError(404, "not_found", f"no widget script with hash {script_hash[:32]!r}")
    return _script_response(request, IMMUTABLE)


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
    try:
        return open_session(
            _require_wix(wix),
            token,
            account_id,
            lambda: _token_secret(request),
            datetime.now(UTC),
            request.app.state.store,
        )
    except SessionRefused as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


# --- Public content --------------------------------------------------------------------------------------


def _program(request: Request, instance_id: str) -> Program:
    try:
        return ProgressStore(request.app.state.store).program(instance_id)
    except NoProgram:
        raise ApiError(
            404, "not_found", f"no program for instance {instance_id!r}", {"instance": instance_id}
        ) from None
    except redis.RedisError:
        raise ApiError(503, "unavailable", "Redis is unavailable") from None


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
    program = _program(request, instance)
    try:
        content = public_content(
            program,
            instance,
            template_id=template,
            theme_id=theme,
            floating_widget_id=floatingWidget,
            locale=locale,
            now=datetime.now(UTC),
        )
    except UnknownResource as exc:
        raise ApiError(404, "not_found", str(exc), {exc.kind: exc.resource_id}) from None
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"etag": etag, "cache-control": f"public, max-age={PUBLIC_MAX_AGE}"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


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
    token = _bearer(request, "a widget token")
    secret = _token_secret(request)
    try:
        claims = verify_widget_token(secret, token, store=request.app.state.store)
    except InvalidWidgetToken as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    if instance is not None and instance != claims.instance_id:
        raise ApiError(401, "invalid_token", "the widget token belongs to another instance")
    program = _program(request, claims.instance_id)
    store = ProgressStore(request.app.state.store)
    try:
        progress = member_progress(
            store, claims.instance_id, claims.contact_id, datetime.now(UTC), wix=lambda: wix
        )
    except NoProgram:
        raise ApiError(404, "not_found", f"no program for instance {claims.instance_id!r}") from None
    except redis.RedisError:
        raise ApiError(503, "unavailable", "Redis is unavailable") from None
    return member_view(program, claims.instance_id, progress)


# --- Wiring ----------------------------------------------------------------------------------------------


def install(app: FastAPI, script_path: Path = SCRIPT_PATH) -> None:
    """Read widget.js once, add the routes and the CORS of `/widget/v1/` (one line in create_app)."""
    app.state.widget_script = WidgetScript.load(script_path)
    app.add_middleware(WidgetCors)
    app.include_router(router)
