"""The API clients' routes (`Authorization: Bearer <instance API key>`): streak and challenge logs,
reward logs and member progress, named as Gamopanda names them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from worker.identifiers import MAX_LENGTH, PATTERN, Identifier, LongIdentifier, ShortIdentifier
from worker.progress.member_progress import member_progress
from worker.progress.record import ActivityRequest, parse_moment
from worker.rewards.follow_ups import issue_and_follow_up, record_and_follow_up
from worker.store.api_keys import instance_for, was_revoked
from worker.store.progress import Kind, ProgressStore
from worker.web.errors import REDIS_UNAVAILABLE, ApiError
from worker.web.wix_dependency import Wix

router = APIRouter(tags=["records"])


API_KEY_INSTANCE = "api_key_instance"  # request.state: the instance worker.web.guards.AuthFirst found


def require_api_key(request: Request) -> str:
    """The instance whose API key authorizes the request (found once, before the body is read)."""
    found = getattr(request.state, API_KEY_INSTANCE, None)
    if isinstance(found, str):
        return found
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "an instance API key is required (Authorization: Bearer <key>)")
    try:  # also called by worker.web.guards.AuthFirst, outside the routes' error handlers
        instance_id = instance_for(request.app.state.store, key)
        revoked = instance_id is None and was_revoked(request.app.state.store, key)
    except redis.RedisError:
        raise ApiError(503, "unavailable", REDIS_UNAVAILABLE) from None
    if revoked:
        raise ApiError(401, "unauthorized", "the API key was revoked")
    if instance_id is None:
        raise ApiError(401, "unauthorized", "the API key is not valid")
    return instance_id


Instance = Annotated[str, Depends(require_api_key)]
RewardLogId = Annotated[str, Path(max_length=MAX_LENGTH, pattern=PATTERN)]
ContactId = Annotated[str, Path(max_length=MAX_LENGTH, pattern=PATTERN)]

_LOG_EXAMPLE: JsonDict = {
    "contactId": "24de6f0b-60ce-4faa-9138-2e39f1415615",
    "activityId": "order_paid",
    "activityValue": 1,
    "activityAt": "2026-11-24T10:15:00+01:00",
    "uniqueIdentifier": "wix:order:880fa895-dfd5-4d50-a2d4-971b03fd4b86:order_paid",
}


class _LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contactId: Identifier
    activityId: ShortIdentifier
    activityValue: Decimal | None = None
    activityAt: Annotated[str, Field(max_length=100)]
    uniqueIdentifier: LongIdentifier


class StreakLogIn(_LogIn):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"streakId": "weekly-shopper", **_LOG_EXAMPLE}}
    )

    streakId: ShortIdentifier


class ChallengeLogIn(_LogIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"challengeId": "spend-500", **_LOG_EXAMPLE, "activityValue": "49.90"}},
    )

    challengeId: ShortIdentifier


class RewardLogPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "couponCode": "STRK-7Q2X9",
                "rewardIssuedAt": "2026-11-24T10:20:00Z",
                "rewardExpiryAt": "2026-12-24T10:20:00Z",
            }
        },
    )

    couponCode: Annotated[str, Field(min_length=1, max_length=100)]
    rewardIssuedAt: Annotated[str, Field(max_length=100)]
    rewardExpiryAt: Annotated[str, Field(max_length=100)]


_ANSWER_EXAMPLE = {
    "log": {"challengeId": "spend-500", **_LOG_EXAMPLE, "activityValue": "260"},
    "applied": True,
    "challengeProgress": {
        "challengeId": "spend-500",
        "periodKey": "2026-11-01",
        "status": "in_progress",
        "currentProgressValue": "260",
        "completionTargetValue": "500",
        "challengeCompletedAt": None,
        "challengeFailedAt": None,
    },
    "taskProgress": {"periodKey": "2026-11-01", "value": "260", "target": "500", "complete": False},
    "achievedMilestone": {"id": "half", "name": "Halfway", "milestoneTargetValue": "250"},
    "achievedMilestoneRewardLog": {
        "id": "rl_3f1c0a9e5b7d2c4e6a8b0d1f",
        "linkedSchemaSlug": "challenge",
        "linkedSchemaRecordId": "spend-500",
        "milestoneId": "half",
        "periodKey": "2026-11-01",
        "reward": {"type": "manual"},
        "status": "pending",
        "couponCode": None,
    },
    "nextMilestone": {"id": "full", "name": "Done", "milestoneTargetValue": "500"},
}

_RECORD_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The log was recorded: the log, progress, taskProgress, milestones and reward logs",
        "content": {"application/json": {"example": _ANSWER_EXAMPLE}},
    },
    409: {"description": "Duplicate uniqueIdentifier: `error.details` is the original answer"},
    422: {"description": "The domain refuses the log; the message says why"},
}


def _record(request: Request, instance_id: str, activity: ActivityRequest) -> JSONResponse:
    state = request.app.state
    outcome = record_and_follow_up(state.store, state.follow_ups, instance_id, activity, datetime.now(UTC))
    if outcome.duplicate:
        raise ApiError(
            409, "duplicate", "a log with this uniqueIdentifier was recorded before", outcome.answer
        )
    return JSONResponse(outcome.answer, status_code=201)


def _activity(body: _LogIn, kind: Kind, item_id: str) -> ActivityRequest:
    return ActivityRequest(
        kind=kind,
        item_id=item_id,
        contact_id=body.contactId,
        activity_id=body.activityId,
        activity_value=body.activityValue,
        activity_at=parse_moment(body.activityAt, "activityAt"),
        unique_identifier=body.uniqueIdentifier,
    )


@router.post(
    "/schema/streak_log/record",
    status_code=201,
    summary="Record a streak log (Gamopanda's Execute Streak)",
    responses=_RECORD_RESPONSES,
)
def record_streak_log(body: StreakLogIn, request: Request, instance_id: Instance) -> JSONResponse:
    return _record(request, instance_id, _activity(body, "streak", body.streakId))


@router.post(
    "/schema/challenge_log/record",
    status_code=201,
    summary="Record a challenge log (Gamopanda's Execute Challenge)",
    responses=_RECORD_RESPONSES,
)
def record_challenge_log(body: ChallengeLogIn, request: Request, instance_id: Instance) -> JSONResponse:
    return _record(request, instance_id, _activity(body, "challenge", body.challengeId))


@router.get("/schema/reward_log/{reward_log_id}", summary="A reward log")
def get_reward_log(reward_log_id: RewardLogId, request: Request, instance_id: Instance) -> dict[str, Any]:
    reward_log = ProgressStore(request.app.state.store).reward_log(instance_id, reward_log_id)
    if reward_log is None:
        raise ApiError(404, "not_found", f"no reward log {reward_log_id}")
    return reward_log


@router.patch(
    "/schema/reward_log/{reward_log_id}",
    summary="Stamp a coupon on a reward log (Gamopanda's Update Reward Log)",
    responses={409: {"description": "Already issued with another coupon code"}},
)
def patch_reward_log(
    reward_log_id: RewardLogId, body: RewardLogPatch, request: Request, instance_id: Instance
) -> dict[str, Any]:
    reward_log, _ = issue_and_follow_up(
        request.app.state.store,
        request.app.state.follow_ups,
        instance_id,
        reward_log_id,
        coupon_code=body.couponCode,
        issued_at=parse_moment(body.rewardIssuedAt, "rewardIssuedAt"),
        expiry_at=parse_moment(body.rewardExpiryAt, "rewardExpiryAt"),
        now=datetime.now(UTC),
    )
    return reward_log


@router.get("/v1/members/{contact_id}/progress", summary="A member's streaks, challenges and reward logs")
def get_member_progress(
    contact_id: ContactId, request: Request, instance_id: Instance, wix: Wix
) -> dict[str, Any]:
    store = ProgressStore(request.app.state.store)
    return member_progress(store, instance_id, contact_id, datetime.now(UTC), wix=lambda: wix)
