"""The operators' erasure of one member (`Bearer ADMIN_TOKEN`): what `contact_deleted` does, by hand."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from worker.members.erasure import erase_member
from worker.web.admin import Admin, IdPath, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.delete(
    "/instances/{instance_id}/members/{contact_id}",
    summary="Erase a member's personal data (idempotent); answers what was erased, as counts",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "instanceId": "6b1e...",
                        "erased": {"members": 1, "logs": 3, "rewardLogs": 1, "coupons": 1, "keys": 7},
                    }
                }
            }
        }
    },
)
async def erase(
    instance_id: InstanceIdPath, contact_id: IdPath, request: Request, _: Admin
) -> dict[str, Any]:
    try:
        counts = await run_in_threadpool(erase_member, request.app.state.store, instance_id, contact_id)
    except redis.RedisError:
        raise ApiError(503, "unavailable", "Redis is unavailable") from None
    return {"instanceId": instance_id, "erased": counts}
