"""`POST /webhooks/wix`: verify, validate, enqueue, answer. No lookups, no domain work.

Wix retries anything that is not a 200 (wix-facts.md §2), so a 200 means the event is safely on the
queue (or was already, or is a type we ignore), and every failure on our side is a 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.exceptions
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.infra import log_config
from worker.infra.redis_client import FAST_TIMEOUT
from worker.runtime.metrics import ReceiverMetrics, event_type_label
from worker.web.errors import error_response
from worker.web.event_queue import EventQueue
from worker.wix.envelope import EnvelopeError, parse_envelope
from worker.wix.tokens import InvalidToken, TokenVerifier

logger = logging.getLogger(__name__)
router = APIRouter()


# Wix waits 1,250 ms; a Redis that has not answered in half a second gets a 503 and Wix delivers again.
ENQUEUE_TIMEOUT = FAST_TIMEOUT


class BodyTooLarge(Exception):
    pass


@dataclass
class ReceiverState:
    verifier: TokenVerifier | None
    queue: EventQueue
    metrics: ReceiverMetrics
    max_bytes: int


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_QUEUED = b'{"status":"queued"}'
_DUPLICATE = b'{"status":"duplicate"}'
_IGNORED = b'{"status":"ignored"}'
_REMOVED = b'{"status":"ignored","reason":"the app was removed from this site"}'
_ANSWERS = {"queued": _QUEUED, "duplicate": _DUPLICATE, "removed": _REMOVED}


async def handle_webhook(request: Request) -> Response:
    """The receiver itself: verify, validate, enqueue, answer."""
    state: ReceiverState = request.app.state.receiver
    count = state.metrics.count
    try:
        body = await read_body(request, state.max_bytes)
    except BodyTooLarge:
        count("unknown", "too_large")
        return error_response(413, "too_large", f"the body exceeds {state.max_bytes} bytes")
    if state.verifier is None:
        count("unknown", "not_configured")
        return error_response(503, "not_configured", "the Wix public key is not configured")
    try:
        token = body.strip()
        claims = state.verifier.verify(token)
    except InvalidToken as exc:
        count("unknown", "unauthorized")
        logger.info("webhook refused", extra={"reason": exc.reason})
        return error_response(401, "invalid_token", exc.message, {"reason": exc.reason})
    try:
        envelope = parse_envelope(claims, token)
    except EnvelopeError as exc:
        count("unknown", "bad_payload")
        return error_response(400, "invalid_payload", f"not a Wix webhook payload: {exc}")

    label = event_type_label(envelope.event_type)
    if not envelope.handled:
        count(label, "ignored")
        return Response(_IGNORED, media_type="application/json")
    log_config.bind(instance_id=envelope.instance_id, event_id=envelope.event_id)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT):
            outcome = await state.queue.enqueue(envelope)
    except (redis.exceptions.RedisError, OSError, TimeoutError):
        count(label, "unavailable")
        logger.warning("could not enqueue a webhook: Redis unavailable")
        return error_response(503, "unavailable", "the queue is unavailable; deliver again later")
    finally:
        log_config.clear()
    state.metrics.enqueue_seconds.observe(time.perf_counter() - started)
    count(label, outcome)
    return Response(_ANSWERS[outcome], media_type="application/json")


class WebhookFastPath:
    """Answers `POST /webhooks/wix` ahead of FastAPI's routing and dependency machinery, which costs
    about 80 µs a request on this machine (`make bench`). Every other request goes on to FastAPI; the
    route stays declared there too, for the OpenAPI document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/webhooks/wix":
            response = await handle_webhook(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


@router.post(
    "/webhooks/wix",
    summary="Receive a Wix webhook",
    description=(
        "The body is the raw JWT Wix sends (RS256, signed with the app's key). Answers 200 with "
        "`queued`, `duplicate` or `ignored`; 401 for a bad token, 400 for a payload not in Wix's "
        "shape, 413 over 1 MiB, 503 when the queue cannot take it (Wix delivers again)."
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
    responses={200: {"content": {"application/json": {"example": {"status": "queued"}}}}},
)
async def receive_wix_webhook(request: Request) -> Response:
    return await handle_webhook(request)
