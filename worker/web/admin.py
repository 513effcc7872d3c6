"""The operators' API (`Bearer ADMIN_TOKEN`): what became of a webhook."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from worker.journal import EventJournal
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])


def require_admin(request: Request) -> None:
    expected = request.app.state.settings.admin_token
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "a Bearer ADMIN_TOKEN is required")
    if expected is None or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "the admin token is not valid")


Admin = Annotated[None, Depends(require_admin)]


@router.get(
    "/instances/{instance_id}/events/{event_id}",
    summary="What became of a webhook event",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "processed",
                        "instanceId": "6b1e...",
                        "eventId": "03756f6a-62c6-4f85-8356-b171adb7e4f3",
                        "eventType": "wix.ecom.v1.order_payment_status_updated",
                        "receivedAt": "2026-11-24T10:00:00.000Z",
                        "normalized": {"name": "order_paid"},
                    }
                }
            }
        }
    },
)
async def show_event(instance_id: str, event_id: str, request: Request, _: Admin) -> dict[str, Any]:
    journal = EventJournal(request.app.state.store, request.app.state.settings.event_journal_ttl_seconds)
    try:
        record = await run_in_threadpool(journal.get, instance_id, event_id)
    except redis.RedisError:
        raise ApiError(503, "unavailable", "Redis is unavailable") from None
    if record is None:
        raise ApiError(404, "not_found", f"no event {event_id} in instance {instance_id}")
    return record
