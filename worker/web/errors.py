"""Every error answer, decided in one place.

Two shapes: the contract's `{"error": {"code", "message", "details"}}` for every answer but the Wix
actions', which answer in Wix's `{"applicationError": {"code", "description", "data"}}`. A router picks
its shape with its route class (`ApplicationErrorRoute` for the Wix actions); the handlers installed by
`install_error_handlers` render every error in the shape of the route it came from.

Routes call the domain and let its exceptions rise: `DOMAIN_ERRORS` says which HTTP answer each one is.
To answer a new domain exception, add one entry: `MyError: Answer(404, "not_found")` (the message is
`str(exc)` unless `message=` says otherwise; `details=` gives the details), or, when the status or code
depends on the exception, a function of it returning the `Answer`. A subclass answers as its nearest
listed ancestor unless it has an entry of its own. `ApiError(status, code, message, details)` stays
for what only the web layer knows (a missing credential, a body over the limit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.analytics.overview import ALLOWED_DAYS, BadRange
from worker.engine.logs import LogRejected
from worker.engine.program import ProgramInvalid
from worker.engine.storefront import UnknownResource
from worker.identifiers import InvalidIdentifier, validation_message
from worker.jobs.runner import UnknownJob
from worker.loyalty.referral_claims import ClaimRefused, NoReferralProgram, UnknownReferralCode
from worker.loyalty.referral_records import NoReferral
from worker.loyalty.spending import RedeemRefused
from worker.progress.record import Conflict, NotFound
from worker.store.audit_log import InvalidAuditEntry
from worker.store.instances import InstanceRemoved
from worker.store.program_versions import NoDraft, NoVersion
from worker.store.progress import Contention, NoProgram
from worker.storefront.sessions import TokenRefused, WixUnavailable, WrongInstance
from worker.storefront.widget_tokens import InvalidWidgetToken
from worker.sync.inbound import InboundRefused
from worker.wix.client import LoyaltyAppNotInstalled, WixApiError, WixError, WixTransientError
from worker.wix.tokens import InvalidToken

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def application_error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """An error in the action provider's shape: `data` is always an object (a list goes under
    `problems`)."""
    data = details if isinstance(details, dict) else {} if details is None else {"problems": details}
    body = {"applicationError": {"code": code, "description": message, "data": data}}
    return JSONResponse(body, status_code=status)


Renderer = Callable[[int, str, str, Any], JSONResponse]


class ApplicationErrorRoute(APIRoute):
    """The route class of a router whose errors are answered in the action provider's shape."""

    render_error: Renderer = staticmethod(application_error)


def _no_details(_: Any) -> Any:
    return None


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a domain exception: status and code, the message and details from it."""

    status: int
    code: str
    message: Callable[[Any], str] = str
    details: Callable[[Any], Any] = _no_details


BUSY = "the member's progress is busy; try again"
REDIS_UNAVAILABLE = "Redis is unavailable; try again"  # as the Wix actions' OpenAPI example shows


def _wix_failure(exc: WixError) -> Answer:
    """Wix's answer after the client's tries in place: the site lacks the Loyalty app (409); Wix refuses
    what the program's state does not allow (409) or rejects a value (422), with its status, code and
    request id; cannot answer now (503, `retryAfter`); anything else it refused (our app's permissions or
    credentials: 502)."""
    if isinstance(exc, LoyaltyAppNotInstalled):
        return Answer(409, "loyalty_app_not_installed", lambda e: e.message)
    if isinstance(exc, WixTransientError):
        retry_after = round(exc.suggested_delay(0), 1)
        message = f"Wix cannot answer now, try again shortly ({exc.message})"
        return Answer(503, "wix_unavailable", lambda _: message, lambda _: {"retryAfter": retry_after})
    details = None
    if isinstance(exc, WixApiError):
        details = {"wixStatus": exc.status, "wixCode": exc.code, "wixRequestId": exc.request_id}
        if exc.status in (409, 412, 428):
            return Answer(409, "wix_refused", lambda e: e.message, lambda _: details)
        if exc.status == 400:
            return Answer(422, "wix_rejected", lambda e: e.message, lambda _: details)
    return Answer(502, "wix_refused", lambda e: e.message, lambda _: details)


# An entry: the answer, or a function of the exception deciding it.
Entry = Answer | Callable[[Any], Answer]

DOMAIN_ERRORS: dict[type[Exception], Entry] = {
    LogRejected: Answer(422, "rejected"),
    # An identifier that cannot name a Redis key (a key builder refused it), wherever a route met it.
    InvalidIdentifier: Answer(422, "invalid_request"),
    ProgramInvalid: Answer(
        422, "invalid_program", lambda _: "the program has problems", lambda e: e.problems
    ),
    NotFound: Answer(404, "not_found"),
    Conflict: Answer(409, "conflict"),
    Contention: Answer(503, "unavailable", lambda _: BUSY),
    NoProgram: Answer(
        404,
        "not_found",
        lambda e: f"no program for instance {e.instance_id!r}",
        lambda e: {"instance": e.instance_id},
    ),
    UnknownJob: Answer(404, "not_found"),
    NoDraft: Answer(404, "not_found", details=lambda e: {"instance": e.instance_id}),
    NoVersion: Answer(404, "not_found", details=lambda e: {"version": e.version}),
    InvalidAuditEntry: Answer(422, "invalid_request"),
    BadRange: Answer(422, "invalid_request", details=lambda _: {"days": list(ALLOWED_DAYS)}),
    UnknownResource: Answer(404, "not_found", details=lambda e: {e.kind: e.resource_id}),
    InvalidWidgetToken: Answer(401, "invalid_token"),
    TokenRefused: Answer(401, "invalid_token"),
    WrongInstance: Answer(403, "wrong_instance"),
    WixUnavailable: Answer(503, "wix_unavailable"),
    InvalidToken: Answer(401, "invalid_token", lambda e: e.message, lambda e: {"reason": e.reason}),
    InstanceRemoved: Answer(401, "instance_removed"),
    WixError: _wix_failure,
    InboundRefused: lambda e: Answer(e.status, e.code, lambda x: x.message, lambda x: x.details),
    RedeemRefused: lambda e: Answer(e.status, e.code, lambda x: x.message, lambda x: x.details),
    UnknownReferralCode: Answer(404, "not_found"),
    NoReferral: Answer(404, "not_found"),
    NoReferralProgram: Answer(404, "not_found"),
    ClaimRefused: Answer(422, "claim_refused", details=lambda e: {"reason": e.reason}),
}


def _answering(entry: Entry) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """The handler of one entry (Starlette finds it by the exception's nearest listed class)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        answer = entry if isinstance(entry, Answer) else entry(exc)
        return _renderer(request)(answer.status, answer.code, answer.message(exc), answer.details(exc))

    return handle


def _renderer(request: Request) -> Renderer:
    render: Renderer = getattr(request.scope.get("route"), "render_error", error_response)
    return render


_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    for exception, entry in DOMAIN_ERRORS.items():
        app.add_exception_handler(exception, _answering(entry))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _renderer(request)(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, _CODES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"path": ".".join(str(part) for part in error["loc"]), "message": validation_message(error)}
            for error in exc.errors()
        ]
        return error_response(422, "invalid_request", "the request is not valid", details)

    @app.exception_handler(redis.RedisError)
    async def _redis_error(request: Request, exc: redis.RedisError) -> JSONResponse:
        # Every route: Redis down, frozen (a timeout) or refusing is 503, so the client tries again.
        logger.warning("Redis unavailable", extra={"error": type(exc).__name__, "path": request.url.path})
        return _renderer(request)(503, "unavailable", REDIS_UNAVAILABLE, None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return error_response(500, "internal_error", "something went wrong on our side")
