"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac

import redis.asyncio.cluster
import redis.exceptions
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.infra.redis_client import FAST_TIMEOUT
from worker.web.errors import ApiError, error_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store's Redis answers, and the broker when it is another server",
    responses={503: {"description": "Redis or the broker does not answer; `details.failed` names which"}},
)
async def readyz(request: Request) -> JSONResponse:
    failed = [
        name
        for name, ok in zip(
            ("redis", "broker"),
            await asyncio.gather(_redis_answers(request), _broker_answers(request)),
            strict=True,
        )
        if not ok
    ]
    if failed:
        what = " and ".join({"redis": "Redis", "broker": "the broker"}[name] for name in failed)
        verb = "do" if len(failed) > 1 else "does"
        return error_response(503, "unavailable", f"{what} {verb} not answer", {"failed": failed})
    return JSONResponse({"status": "ready"})


async def _redis_answers(request: Request) -> bool:
    """The store answers: on a Redis Cluster, every primary (each serves its slots alone)."""
    client = request.app.state.async_redis
    try:
        async with asyncio.timeout(FAST_TIMEOUT):
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                await client.ping(target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)
            else:
                await client.ping()
    except (redis.exceptions.RedisError, OSError, TimeoutError):
        return False
    return True


async def _broker_answers(request: Request) -> bool:
    """True when the broker is the store's Redis (the check above covers it); otherwise the receiver's
    publisher's own check (RabbitMQ: its channel open, or opened within the bound; another Redis: PING)."""
    publisher = getattr(request.app.state, "event_publisher", None)
    if publisher is None:
        return True
    try:
        async with asyncio.timeout(FAST_TIMEOUT):
            await publisher.check()
    except Exception:  # any failure to reach the broker: not ready (the reason is the publisher's to log)
        return False
    return True


def require_metrics_token(request: Request) -> None:
    """With `METRICS_TOKEN` set, a scrape must bring it as a Bearer token (Prometheus's `authorization`
    in its scrape config); without, `/metrics` is public (README "Who listens where")."""
    expected = request.app.state.settings.metrics_token
    if expected is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "a Bearer METRICS_TOKEN is required")
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "the metrics token is not valid")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_token)],
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
