"""Every reward log of an instance for operators (`Bearer ADMIN_TOKEN`), with the console's filters and
paging (worker/console/rewards.py): `GET /admin/v1/instances/{id}/reward-logs?status=&kind=&item=&
milestone=&from=&to=&cursor=&limit=` answers `{"instanceId", "rewardLogs": [...], "next"}`, newest
first; `next` (null on the last page) is the `cursor` of the next page. A bad filter is a 422 naming it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from worker.console import rewards
from worker.web.admin import Admin, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.get(
    "/instances/{instance_id}/reward-logs",
    summary="The instance's reward logs, newest first, filtered and paged",
    responses={422: {"description": "`error.details` lists the problem as {path, message}"}},
)
def reward_logs(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    try:
        query = rewards.parse_query(request.query_params)
    except rewards.BadFilter as exc:
        details = [{"path": exc.field, "message": exc.message}]
        raise ApiError(422, "invalid_request", str(exc), details) from None
    listed = rewards.listing(request.app.state.store, instance_id, query)
    return {
        "instanceId": instance_id,
        "rewardLogs": listed.reward_logs,
        "next": listed.next.text() if listed.next else None,
    }
