"""`POST /v1/activities`: a custom activity that earns points (`pointsRules[].activity`) without feeding a
streak or a challenge (a social follow, a visit). API key auth, as the records API (worker/web/records.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from worker.identifiers import Identifier, LongIdentifier, ShortIdentifier
from worker.rewards.activity_points import record_custom_activity
from worker.web.errors import ApiError
from worker.web.records import Instance

router = APIRouter(tags=["records"])


class ActivityIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "contactId": "24de6f0b-60ce-4faa-9138-2e39f1415615",
                "activityId": "social_follow",
                "uniqueIdentifier": "instagram-follow-2026-12",
            }
        },
    )

    contactId: Identifier
    activityId: ShortIdentifier
    uniqueIdentifier: LongIdentifier


@router.post(
    "/v1/activities",
    status_code=201,
    summary="Record a custom activity: the points its `activity` rules earn",
    responses={409: {"description": "Duplicate uniqueIdentifier: `error.details` is the original answer"}},
)
def record_activity(body: ActivityIn, request: Request, instance_id: Instance) -> JSONResponse:
    state = request.app.state
    answer, duplicate = record_custom_activity(
        state.store,
        state.follow_ups,
        instance_id,
        contact_id=body.contactId,
        activity_id=body.activityId,
        unique_identifier=body.uniqueIdentifier,
        now=datetime.now(UTC),
    )
    if duplicate:
        raise ApiError(409, "duplicate", "an activity with this uniqueIdentifier was recorded before", answer)
    return JSONResponse(answer, status_code=201)
