"""`POST /sync/v1/points`: an external loyalty system's points change (worker/sync/inbound.py says what
is checked and what each answer means); the body is read here, up to `WEBHOOK_MAX_BYTES`."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from worker.runtime.dispatcher import send_by_name
from worker.settings import Settings
from worker.sync.inbound import PointsIn, Send, receive_inbound
from worker.web.errors import ApiError

router = APIRouter(prefix="/sync/v1", tags=["points sync"])


@router.post(
    "/points",
    summary="An external loyalty system's points change (Standard Webhooks signed)",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PointsIn.model_json_schema()}},
        }
    },
)
async def receive_points(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    store: redis.Redis = request.app.state.store
    body = await request.body()  # BodyLimit (worker/web/guards.py) stops reading past the limit
    if len(body) > settings.webhook_max_bytes:
        raise ApiError(413, "too_large", f"the body is over {settings.webhook_max_bytes} bytes")
    send: Send = getattr(request.app.state, "points_sync_send", None) or send_by_name
    status, answer = await run_in_threadpool(receive_inbound, store, send, body, request.headers, settings)
    return JSONResponse(answer, status_code=status)
