"""The error shapes: the contract's `{"error": {"code", "message", "details"}}` for every answer but the
Wix actions', which answer in Wix's `{"applicationError": {"code", "description", "data"}}`."""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.identifiers import PATTERN_MEANINGS

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


_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def validation_message(error: Any) -> str:
    """Pydantic's message, or the identifier rule in words where a pattern says it in regex."""
    pattern = (error.get("ctx") or {}).get("pattern")
    mismatch = error.get("type") == "string_pattern_mismatch"
    meaning = PATTERN_MEANINGS.get(pattern) if mismatch and isinstance(pattern, str) else None
    return meaning or str(error["msg"])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

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
    async def _redis_error(_: Request, exc: redis.RedisError) -> JSONResponse:
        # Every route: Redis down, frozen (a timeout) or refusing is 503, so the client tries again.
        logger.warning("Redis unavailable", extra={"error": type(exc).__name__})
        return error_response(503, "unavailable", "Redis is unavailable; try again shortly")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return error_response(500, "internal_error", "something went wrong on our side")
