"""Errors as Wix sends them (wix-facts.md §4.6; Wix's guides/Errors.md).

Application errors: `{"message", "details": {"applicationError": {"code", "description", "data"}}}`.
Validation errors: `{"message", "details": {"validationError": {"fieldViolations": [...]}}}`.
System errors (5xx) are empty by design: `{"message": "", "details": {}}`.

The codes the fake answers are Wix's standard application codes (UNAUTHENTICATED, PERMISSION_DENIED,
NOT_FOUND, ALREADY_EXISTS, ABORTED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION); the Coupons and Loyalty
reference pages say those methods "don't return any custom errors, but may return standard errors".
Which standard code each situation gets is **UNCONFIRMED**: see the constants below.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# The applicationError codes the fake chooses where Wix does not document one (all UNCONFIRMED).
UNAUTHENTICATED = "UNAUTHENTICATED"  # 401: unknown, expired or revoked token; wrong app secret
PERMISSION_DENIED = "PERMISSION_DENIED"  # 403: a member token calling an app-only method
NOT_FOUND = "NOT_FOUND"  # 404: no such account, coupon, order, contact, conversation
ALREADY_EXISTS = "ALREADY_EXISTS"  # unused: an existing account or coupon code is a 400 (wix-facts.md §8)
ABORTED = "ABORTED"  # 409: adjust-points with a stale `revision`
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # 429: over 200 requests a minute for the instance
FAILED_PRECONDITION = "FAILED_PRECONDITION"  # 428: the instance's loyalty program is not ACTIVE


class WixError(Exception):
    """An error answer in Wix's shape; raised by handlers, rendered by the exception handler."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        description: str | None = None,
        *,
        data: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        if details is not None:
            self.details = details
        elif code is not None:
            error: dict[str, Any] = {"code": code, "description": description or message}
            if data is not None:
                error["data"] = data
            self.details = {"applicationError": error}
        else:
            self.details = {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "details": self.details}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def system_error(status: int = 500) -> WixError:
    """A 5xx as Wix sends it: empty message and details."""
    return WixError(status, "")


def not_found(what: str, identifier: str) -> WixError:
    return WixError(404, f"{what} not found", NOT_FOUND, f"{what} with id {identifier} was not found")


class Violations:
    """Collects field violations; `check()` raises them as one 400 validation error."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, description: str, rule: str, data: dict[str, Any] | None = None) -> None:
        violation: dict[str, Any] = {"field": field, "description": description, "violatedRule": rule}
        if data is not None:
            violation["data"] = data
        self.items.append(violation)

    def error(self, message: str = "INVALID_ARGUMENT") -> WixError:
        return WixError(400, message, details={"validationError": {"fieldViolations": self.items}})

    def check(self) -> None:
        if self.items:
            raise self.error()


def invalid(
    field: str, description: str, rule: str = "FORMAT", data: dict[str, Any] | None = None
) -> WixError:
    """A 400 validation error about one field, to raise."""
    violations = Violations()
    violations.add(field, description, rule, data)
    return violations.error()


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is `{}`), or a 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WixError(400, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise WixError(400, "the request body must be a JSON object")
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WixError)
    async def _wix_error(_: Request, exc: WixError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return WixError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        violations = Violations()
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0])
            violations.add(field, str(error["msg"]), "FORMAT")
        return violations.error().response()
