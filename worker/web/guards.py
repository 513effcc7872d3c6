"""Two ASGI guards in front of every route: credentials before the body, and a limit on the body.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so a check of the
`Authorization` header written as a dependency comes after a 30 MB body is read and parsed. `AuthFirst`
checks the header of the admin and records routes before anything reads the body (the same functions
the routes depend on, so the rule is written once), the member's widget token of the widget's member
routes (`WIDGET_MEMBER_ROUTES`: progress, *Spend points*, referrals; a bad token with a bad body or query
is 401, not 422), and that a widget session request carries a Wix token at all (only a call to Wix can
say more, so that waits for the route). `BodyLimit` refuses a body over the limit: at once when
`Content-Length` says so, else as soon as the bytes read pass it (a chunked body too). The routes whose
credential is the body itself (webhooks, Wix actions, points sync) are signed, and the limit bounds what
they read before verifying.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.web.admin import require_admin
from worker.web.errors import ApiError, error_response
from worker.web.records import API_KEY_INSTANCE, require_api_key
from worker.web.widget_auth import WIDGET_CLAIMS, visitor_token, widget_member_first

ADMIN_PREFIX = "/admin/"
RECORDS_PREFIXES = ("/schema/", "/v1/members/", "/v1/activities")
SESSION_PATH = "/widget/v1/session"
# The widget's *Spend points* (worker.web.widget_spend): the token is checked here, the route reads it.
WIDGET_MEMBER_ROUTES = frozenset(
    {
        ("GET", "/widget/v1/me"),
        ("GET", "/widget/v1/loyalty-rewards"),
        ("POST", "/widget/v1/redeem"),
        ("GET", "/widget/v1/referrals/me"),
        ("POST", "/widget/v1/referrals/claim"),
    }
)
# The receiver and the Wix actions read with the same limit themselves: the receiver counts it in its
# metrics, the actions answer it in the action provider's `applicationError` shape.
_OWN_LIMIT = ("/webhooks/wix", "/wix/actions/")


class BodyTooLarge(HTTPException):
    """Raised by the limited `receive`; a 413 in the contract's shape wherever it surfaces."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_OWN_LIMIT):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> Any:
    response = error_response(413, "too_large", f"the body exceeds {limit} bytes")
    response.headers["connection"] = "close"  # the rest of the body is not read
    return response


class AuthFirst:
    """The admin token, an instance API key, or a member's widget token, checked from the headers before
    the body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            try:
                if path.startswith(ADMIN_PREFIX):
                    require_admin(Request(scope))
                elif path == SESSION_PATH and scope["method"] == "POST":
                    visitor_token(Request(scope))  # a token there at all; Wix judges it after
                elif (scope["method"], path) in WIDGET_MEMBER_ROUTES:
                    claims = await run_in_threadpool(widget_member_first, Request(scope))
                    scope.setdefault("state", {})[WIDGET_CLAIMS] = claims
                elif path.startswith(RECORDS_PREFIXES):
                    instance_id = await run_in_threadpool(require_api_key, Request(scope))
                    scope.setdefault("state", {})[API_KEY_INSTANCE] = instance_id
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message, exc.details)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
