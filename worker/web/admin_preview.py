"""Preview before publishing (`Bearer ADMIN_TOKEN`): `POST /admin/v1/instances/{id}/program/dry-run`
replays the site's journaled events against a program document (YAML or JSON, as PUT .../program takes)
and against the live program, with no side effect (worker.events.preview)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from worker.events.preview import preview_document
from worker.web.admin import _PROGRAM_BODY, Admin, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])

MAX_BODY = 1024 * 1024

_EXAMPLE = {
    "instanceId": "6b1e...",
    "events": 1200,
    "members": 310,
    "current": {"logs": 900, "members": 280, "milestonesReached": 40, "rewardLogs": 40, "coupons": 30,
                "points": 5200, "rewardLogsByKind": {"coupon": 30, "points": 10, "manual": 0}},
    "draft": {"logs": 900, "members": 280, "milestonesReached": 95, "rewardLogs": 95, "coupons": 70,
              "points": 7900, "rewardLogsByKind": {"coupon": 70, "points": 25, "manual": 0}},
    "byItem": [{"kind": "streak", "id": "weekly-order", "name": "Order every week", "current": {},
                "draft": {}}],
    "stopped": False,
}  # fmt: skip


async def program_text(request: Request) -> str:
    """The request's body as UTF-8 text, at most 1 MiB."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "too_large", "the program exceeds 1 MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_request", "the program must be UTF-8 text") from None


@router.post(
    "/instances/{instance_id}/program/dry-run",
    summary="What a program would have done with the site's past events, beside the live program",
    description=(
        "Replays the journaled events (kept `EVENT_JOURNAL_TTL_SECONDS`) in the order they occurred; "
        "nothing is written, no task sent, no Wix call. More than `DRY_RUN_MAX_EVENTS` events: the "
        "answer covers that many and says `stopped`."
    ),
    openapi_extra={"requestBody": _PROGRAM_BODY},
    responses={
        200: {"content": {"application/json": {"example": _EXAMPLE}}},
        422: {"description": "`invalid_program`: `error.details` lists each problem as {path, message}"},
    },
)
async def dry_run(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    text = await program_text(request)
    client = request.app.state.store
    cap = request.app.state.settings.dry_run_max_events
    return await run_in_threadpool(preview_document, client, instance_id, text, max_events=cap)
