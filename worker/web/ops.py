"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

import redis.asyncio.cluster
import redis.exceptions
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.infra.redis_client import FAST_TIMEOUT
from worker.web.errors import error_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Redis answers", responses={503: {"description": "Redis does not answer"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the store answers: on a Redis Cluster, every primary (each serves its slots alone)."""
    client = request.app.state.async_redis
    try:
        async with asyncio.timeout(FAST_TIMEOUT):
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                await client.ping(target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)
            else:
                await client.ping()
    except (redis.exceptions.RedisError, OSError, TimeoutError):
        return error_response(503, "unavailable", "Redis does not answer")
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
