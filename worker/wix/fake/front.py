"""The door every call comes through: a request id on every answer, the call log, injected faults.

Wix puts an `X-Wix-Request-Id` header on its answers (wix-facts.md §4.6); the fake does too, on every
answer including its own `/_fake/` ones. Calls to Wix endpoints are logged, and an injected fault may
delay them (before handling them, or after: the work is done but the answer is late, as when a
client times out on Wix) or answer 429 (with `Retry-After`) or a 5xx in Wix's shape instead.

Random faults (`RandomFaults`, switched on with `POST /_fake/faults {"rate": ...}`) hit every Wix
endpoint, OAuth's included (Wix's token endpoint fails as any other; the client retries it too), after
the queued faults: 429, 500, or `timeout`: the work is done and the answer lost, the connection dropped
(`DroppedConnection`, after `stall_seconds`). The `/_fake/` controls are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.wix.fake.errors import RESOURCE_EXHAUSTED, WixError, system_error
from worker.wix.fake.state import FakeWix
from worker.wix.fake.traffic import CallRecord, Fault

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_fake/"
CALL_KEY = "wix_fake.call"  # the scope key under which handlers find the call's log record
MAX_LOGGED_BODY = 4000


class DroppedConnection(Exception):
    """Raised after the answer's status line so the server closes the connection without a body."""


def new_request_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**16):016d}"


def call_record(scope: Scope) -> CallRecord | None:
    record = scope.get(CALL_KEY)
    return record if isinstance(record, CallRecord) else None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body already read, then behaves as the original."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _loggable(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text))
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_LOGGED_BODY]


def _fault_error(fault: Fault) -> WixError:
    if fault.status == 429:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return WixError(
            429, "Too many requests", RESOURCE_EXHAUSTED, "injected by the fake Wix", headers=headers
        )
    return system_error(fault.status or 500)


def _describe(fault: Fault) -> str:
    parts = []
    if fault.delay_seconds:
        parts.append("delay")
    if fault.status is not None:
        parts.append(f"status:{fault.status}")
    return "+".join(parts) or "none"


class WixFront:
    """Pure ASGI middleware (it must see every answer, and hold or replay bodies)."""

    def __init__(self, app: ASGIApp, fake: FakeWix, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.fake = fake
        self.routes = routes

    def _endpoint(self, scope: Scope) -> str:
        """`METHOD /path/{template}` of the route the call goes to, for per-endpoint counts."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return f"{scope['method']} {getattr(route, 'path', scope['path'])}"
        return f"{scope['method']} {scope['path']}"

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, with an unexpected exception answered as Wix answers one: an empty 500."""
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("the fake Wix failed on %s %s", scope["method"], scope["path"])
            if not started:
                await system_error().response()(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        statuses: list[int] = []

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-wix-request-id", request_id)
                statuses.append(message["status"])
            await send(message)

        if scope["path"].startswith(CONTROL_PREFIX):
            await self._handle(scope, receive, stamped)
            return

        # Read the body now, so a delayed call is still handled if its client has given up.
        body = await _read_body(receive)
        replay = _replaying(body, receive)
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        record = self.fake.calls.start(
            request_id, scope["method"], scope["path"], self._endpoint(scope), _loggable(body, content_type)
        )
        scope[CALL_KEY] = record
        fault = self.fake.faults.take(scope["method"], scope["path"])
        try:
            if fault is not None:
                record.fault = _describe(fault)
                await self._faulted(fault, scope, replay, stamped)
                return
            kind = self.fake.random_faults.draw()
            if kind is None:
                await self._handle(scope, replay, stamped)
                return
            record.fault = f"random:{kind}"
            if kind != "timeout":  # refused before authentication: name the instance from the token
                record.instance_id = self._instance_of(scope)
            await self._random_fault(kind, scope, replay, stamped)
        finally:
            record.status = statuses[0] if statuses else None

    def _instance_of(self, scope: Scope) -> str | None:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        token = header.split(" ", 1)[1] if header.lower().startswith("bearer ") else header
        grant = self.fake.tokens.get(token.strip()) if token.strip() else None
        return grant.instance_id if grant is not None else None

    async def _random_fault(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.fake.random_faults
        if kind == "429":
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            error = WixError(
                429, "Too many requests", RESOURCE_EXHAUSTED, "injected by the fake Wix", headers=headers
            )
            await error.response()(scope, receive, send)
            return
        if kind != "timeout":
            await system_error(500).response()(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._handle(scope, receive, hold)  # the work is done...
        if faults.stall_seconds:
            await asyncio.sleep(faults.stall_seconds)
        start = next((message for message in held if message["type"] == "http.response.start"), None)
        if start is not None:
            await send(start)  # ...and the answer lost: a status line, then the connection closes
        raise DroppedConnection(f"{scope['method']} {scope['path']}: answer dropped (injected timeout)")

    async def _faulted(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if not fault.delay_after and fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status is not None:
            if fault.delay_after and fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            await _fault_error(fault).response()(scope, receive, send)
            return
        if not fault.delay_after:
            await self._handle(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._handle(scope, receive, hold)
        await asyncio.sleep(fault.delay_seconds)
        for message in held:
            await send(message)
