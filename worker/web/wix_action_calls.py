"""What a Wix action call says, read by pydantic: the token's `data` claim (`request`, `metadata`;
wix-facts.md §5.1) and one model per action for its `actionParams`. A call not in that shape is a 400
`invalid_payload` whose problems name each bad field by its path (`request.actionParams.streakId`), so
Wix's run log says what to fix; the Wix actions' route answers it in the `applicationError` shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from worker.progress.record import ActivityRequest, parse_moment
from worker.store.progress import Kind
from worker.web.errors import ApiError

# A field left out is validated as None (`validate_default`), so it is named like a field of a bad type.
_ABSENT: Any = None


def _required(message: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise PydanticCustomError("text", message)
        return value

    return PlainValidator(check)


def _optional_text(value: Any) -> str | None:
    """A string, or None for absent or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("text", "must be a string")
    return value


def _number(value: Any) -> Any:
    """A number or a decimal string; absent is left to the engine (a sum needs it, a count not)."""
    if value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("number", "must be a number or a decimal string")


Text = Annotated[str, _required("is required (a non-empty string)")]
OptionalText = Annotated[str | None, PlainValidator(_optional_text)]
Number = Annotated[int | float | str | None, PlainValidator(_number)]
EnvelopeText = Annotated[str, _required("must be a non-empty string")]
_SHAPES = {"model_type": "must be an object", "dict_type": "must be an object"}


class _Model(BaseModel):
    model_config = ConfigDict(validate_default=True, frozen=True)


class _Request(_Model):
    actionKey: EnvelopeText = _ABSENT
    actionParams: dict[str, Any] = {}  # pydantic copies a mutable default


class _Metadata(_Model):
    instanceId: EnvelopeText = _ABSENT
    requestId: OptionalText = None


class ActionCall(_Model):
    """The `data` claim of an action call."""

    request: _Request = _ABSENT
    metadata: _Metadata = _ABSENT


class _Execute(_Model):
    """Execute Streak or Execute Challenge: one log. Without a uniqueIdentifier, Wix's
    `metadata.requestId` stands in, so a retry of the same call counts once."""

    KIND: ClassVar[Kind]
    ITEM: ClassVar[str]  # the field naming the streak or challenge
    if TYPE_CHECKING:  # declared by each action in Wix's order, which is the order problems are named in
        contactId: str
        activityId: str
        activityValue: Any
        activityAt: str
        uniqueIdentifier: str | None

    @field_validator("uniqueIdentifier", check_fields=False)
    @classmethod
    def _retries_recognised(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and not (info.context or {}).get("request_id"):
            raise PydanticCustomError("retry", "is required when the call carries no metadata.requestId")
        return value

    def activity(self, request_id: str | None) -> ActivityRequest:
        return ActivityRequest(
            kind=self.KIND,
            item_id=getattr(self, self.ITEM),
            contact_id=self.contactId,
            activity_id=self.activityId,
            activity_value=self.activityValue,
            activity_at=parse_moment(self.activityAt, "activityAt"),
            unique_identifier=self.uniqueIdentifier or f"wix-action:{request_id}",
        )


class ExecuteStreak(_Execute):
    KIND = "streak"
    ITEM = "streakId"
    contactId: Text = _ABSENT
    streakId: Text = _ABSENT
    activityId: Text = _ABSENT
    activityValue: Number = None
    activityAt: Text = _ABSENT
    uniqueIdentifier: OptionalText = None


class ExecuteChallenge(_Execute):
    KIND = "challenge"
    ITEM = "challengeId"
    contactId: Text = _ABSENT
    challengeId: Text = _ABSENT
    activityId: Text = _ABSENT
    activityValue: Number = None
    activityAt: Text = _ABSENT
    uniqueIdentifier: OptionalText = None


@dataclass(frozen=True)
class RewardUpdate:
    reward_log_id: str
    coupon_code: str
    issued_at: datetime
    expiry_at: datetime


class UpdateRewardLog(_Model):
    """Update Reward Log: stamp a coupon on a reward log."""

    rewardLogId: Text = _ABSENT
    couponCode: Text = _ABSENT
    rewardIssuedAt: Text = _ABSENT
    rewardExpiryAt: Text = _ABSENT

    def update(self) -> RewardUpdate:
        return RewardUpdate(
            reward_log_id=self.rewardLogId,
            coupon_code=self.couponCode,
            issued_at=parse_moment(self.rewardIssuedAt, "rewardIssuedAt"),
            expiry_at=parse_moment(self.rewardExpiryAt, "rewardExpiryAt"),
        )


ACTIONS: dict[str, type[_Execute] | type[UpdateRewardLog]] = {
    "execute-streak": ExecuteStreak,
    "execute-challenge": ExecuteChallenge,
    "update-reward-log": UpdateRewardLog,
}
ACTION_KEYS = list(ACTIONS)


@dataclass(frozen=True)
class Invocation:
    """One verified action call: whose it is, which action, with its parameters checked."""

    instance_id: str
    request_id: str | None
    action_key: str
    params: _Execute | UpdateRewardLog


def _problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [
        {
            "field": prefix + ".".join(str(part) for part in error["loc"]),
            "message": _SHAPES.get(error["type"], error["msg"]),
        }
        for error in exc.errors()
    ]


def _invalid(prefix: str, problems: list[dict[str, str]]) -> ApiError:
    summary = "; ".join(f"{p['field']} {p['message']}" for p in problems)
    return ApiError(400, "invalid_payload", f"{prefix}: {summary}", problems)


def parse_invocation(claims: dict[str, Any]) -> Invocation:
    """The invocation in the token's `data` claim, or a 400 saying what is not in Wix's shape."""
    data = claims.get("data")
    if not isinstance(data, dict):
        message = "the token's data claim must be an object with request and metadata"
        raise ApiError(400, "invalid_payload", message)
    try:
        call = ActionCall.model_validate(data)
    except ValidationError as exc:
        raise _invalid("not a Wix action invocation", _problems(exc)) from None
    key, request_id = call.request.actionKey, call.metadata.requestId
    if key not in ACTIONS:
        known = ", ".join(ACTION_KEYS)
        details = {"actionKey": key, "known": ACTION_KEYS}
        raise ApiError(400, "unknown_action", f"unknown actionKey {key!r}; known: {known}", details)
    try:
        params = ACTIONS[key].model_validate(call.request.actionParams, context={"request_id": request_id})
    except ValidationError as exc:
        problems = _problems(exc, "request.actionParams.")
        raise _invalid(f"{key}: actionParams are not as expected", problems) from None
    return Invocation(call.metadata.instanceId, request_id, key, params)
