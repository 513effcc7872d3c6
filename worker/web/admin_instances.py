"""`GET /admin/v1/instances` and `GET /admin/v1/instances/{id}`: every site that installed the app, its
status (`installed`, `removed`), install date, program summary, Wix loyalty program status, widget
embedding and last event (worker/installs/overview.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from worker.installs.overview import MAX_PAGE, instance_view, instances_view
from worker.web.admin import Admin, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])

_EXAMPLE: dict[str, Any] = {
    "instanceId": "6b1e6a2c-8f3e-4c2d-9a51-0c9d3e5b7f11",
    "status": "installed",
    "installedAt": "2026-12-01T09:00:00Z",
    "installedVia": "AppInstalled",
    "removedAt": None,
    "purgedAt": None,
    "lastEventAt": "2026-12-06T17:42:10Z",
    "wixProgramStatus": "ACTIVE",
    "wixProgramReadAt": "2026-12-01T09:00:02Z",
    "embedding": {"embedded": True, "parameters": {"host": "https://rewards.example.com"}, "at": "..."},
    "program": {"timezone": "Europe/Berlin", "streaks": 1, "challenges": 1, "rules": 2, "pointsRules": 1},
}


@router.get(
    "/instances",
    summary="Every site that installed the app",
    responses={200: {"content": {"application/json": {"example": {"instances": [_EXAMPLE], "total": 1}}}}},
)
async def list_instances(
    request: Request,
    _: Admin,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    return await run_in_threadpool(instances_view, request.app.state.store, offset, limit)


@router.get(
    "/instances/{instance_id}",
    summary="One site: status, install date, program, Wix program status, widget embedding, last event",
    responses={
        200: {"content": {"application/json": {"example": _EXAMPLE}}},
        404: {"description": "Unknown"},
    },
)
async def show_instance(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    view = await run_in_threadpool(instance_view, request.app.state.store, instance_id)
    if view is None:
        raise ApiError(404, "not_found", f"no instance {instance_id!r} has installed the app")
    return view
