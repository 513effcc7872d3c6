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
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.types import Message, Receive, Scope, Send

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


def _headers(body: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The headers Starlette's `Response` would send with `body` as JSON, built once."""
    return ((b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"))


_OK = {outcome: (body, _headers(body)) for outcome, body in {**_ANSWERS, "ignored": _IGNORED}.items()}


class ClientGone(Exception):
    """The client closed the connection before its body arrived: there is no one to answer."""


async def _receive_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """`read_body` on the ASGI messages themselves (the hot path builds no `Request`)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # uvicorn hands a small body over in one message
        if len(body) > limit:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def handle_webhook(state: ReceiverState, scope: Scope, receive: Receive, send: Send) -> None:
    """The receiver itself: verify, validate, enqueue, answer. Plain ASGI, so a webhook that is queued
    builds no `Request`, `Response` or header objects (errors are rare and answer with Starlette's)."""
    count = state.metrics.count
    try:
        body = await _receive_body(scope, receive, state.max_bytes)
    except BodyTooLarge:
        count("unknown", "too_large")
        response = error_response(413, "too_large", f"the body exceeds {state.max_bytes} bytes")
        return await response(scope, receive, send)
    except ClientGone:
        return None
    if state.verifier is None:
        count("unknown", "not_configured")
        response = error_response(503, "not_configured", "the Wix public key is not configured")
        return await response(scope, receive, send)
    try:
        token = body.strip()
        claims = state.verifier.verify(token)
    except InvalidToken as exc:
        count("unknown", "unauthorized")
        logger.info("webhook refused", extra={"reason": exc.reason})
        response = error_response(401, "invalid_token", exc.message, {"reason": exc.reason})
        return await response(scope, receive, send)
    try:
        envelope = parse_envelope(claims, token)
    except EnvelopeError as exc:
        count("unknown", "bad_payload")
        response = error_response(400, "invalid_payload", f"not a Wix webhook payload: {exc}")
        return await response(scope, receive, send)

    label = event_type_label(envelope.event_type)
    if not envelope.handled:
        count(label, "ignored")
        outcome = "ignored"
    else:
        log_config.bind(instance_id=envelope.instance_id, event_id=envelope.event_id)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                outcome = await state.queue.enqueue(envelope)
        except (redis.exceptions.RedisError, OSError, TimeoutError):
            count(label, "unavailable")
            logger.warning("could not enqueue a webhook: Redis unavailable")
            response = error_response(503, "unavailable", "the queue is unavailable; deliver again later")
            return await response(scope, receive, send)
        finally:
            log_config.clear()
        state.metrics.enqueue_seconds.observe(time.perf_counter() - started)
        count(label, outcome)
    body, headers = _OK[outcome]
    # Fresh messages each time: a layer around this one may change what it is sent.
    await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})
    return None


class WebhookFirstApp(FastAPI):
    """The service's app: FastAPI, with `POST /webhooks/wix` answered before any of FastAPI's layers
    (its telemetry check, the error and guard middleware, routing and dependencies), which cost more
    than the receiver's own work (`make bench`). Every other request goes on to FastAPI; the route stays
    declared there too, for the OpenAPI document."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/webhooks/wix" and scope["method"] == "POST":
            await _answer_webhook(self.state.receiver, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _answer_webhook(state: ReceiverState, scope: Scope, receive: Receive, send: Send) -> None:
    """`handle_webhook`, with what the skipped error middleware did: a failure of our own is logged
    (Sentry takes it from the log) and answered 500 in the contract's shape."""
    started = False

    async def watched_send(message: Message) -> None:
        nonlocal started
        started = True
        await send(message)

    try:
        await handle_webhook(state, scope, receive, watched_send)
    except Exception:
        logger.exception("unexpected error")
        if started:
            raise
        response = error_response(500, "internal_error", "something went wrong on our side")
        await response(scope, receive, send)


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
    # Never reached: WebhookFirstApp answers this path first. Declared for the OpenAPI document.
    raise AssertionError("POST /webhooks/wix is answered by WebhookFirstApp")
