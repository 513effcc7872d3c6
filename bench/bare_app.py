"""The baseline of `make bench`: a bare Starlette endpoint that only reads the body and LPUSHes it.

`uvicorn bare_app:app --app-dir bench`, with REDIS_URL set. It answers `POST /webhooks/wix` like the
receiver does when all is well, so the difference between the two is the receiver's own work.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

QUEUE = "events"


async def receive(request: Request) -> Response:
    client: redis.asyncio.Redis = request.app.state.redis
    body = await request.body()
    await client.lpush(QUEUE, body)  # type: ignore[misc]  # redis-py types sync and async alike
    return JSONResponse({"status": "queued"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.redis = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
    try:
        yield
    finally:
        await app.state.redis.aclose()


app = Starlette(routes=[Route("/webhooks/wix", receive, methods=["POST"])], lifespan=lifespan)
