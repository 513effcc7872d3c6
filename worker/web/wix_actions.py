"""`POST /wix/actions/v1/invoke`: the Wix automation actions (wix-facts.md §5.1).

Wix's action provider sends the raw JWT as the body (RS256, the app's key, `aud` the app id, `iss`
`wix.com`); its `data` claim is an object `{"request": {"actionKey", "actionParams", ...}, "metadata":
{"requestId", "instanceId", ...}}`. The instance comes only from the verified token. The work is a few
Redis round trips, so the answer is synchronous: `{"result": {...}}` with the outputs the seed lists.

Errors are answered as Wix's SDK answers a service plugin's (`@wix/sdk` `service-plugin-modules.js`
`processRequest`: `{"applicationError": {"code", "data"}}` with the HTTP status; wix-facts.md §8), plus a
`description`, the field Wix's `ApplicationError` type also has (`@wix/auto_sdk_loyalty_transactions`
`meta.d.ts`: `{code, description, data}`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from worker.dispatch import Dispatcher
from worker.engine.logs import LogRejected
from worker.infra import log_config
from worker.progress.record import (
    ActivityRequest,
    Conflict,
    Kind,
    NotFound,
    parse_moment,
)
from worker.rewards.follow_ups import issue_and_follow_up, record_and_follow_up
from worker.settings import Settings
from worker.store.progress import Contention
from worker.web.errors import ApiError, application_error
from worker.web.receiver import BodyTooLarge, ReceiverState, read_body
from worker.web.wix_actions_openapi import INVOKE_DOCS
from worker.wix.tokens import InvalidToken

logger = logging.getLogger(__name__)


class _ApplicationErrorRoute(APIRoute):
    """A route whose `ApiError`s are answered in the action provider's shape, not the contract's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return application_error(exc.status, exc.code, exc.message, exc.details)

        return handle


router = APIRouter(tags=["wix actions"], route_class=_ApplicationErrorRoute)

ISSUER = "wix.com"
EXECUTE_ACTIONS: dict[str, tuple[Kind, str]] = {
    "execute-streak": ("streak", "streakId"),
    "execute-challenge": ("challenge", "challengeId"),
}
UPDATE_REWARD_LOG = "update-reward-log"
ACTION_KEYS = [*EXECUTE_ACTIONS, UPDATE_REWARD_LOG]


@dataclass(frozen=True)
class Invocation:
    """One verified action call: whose it is, which action, with which parameters."""

    instance_id: str
    request_id: str | None
    action_key: str
    params: dict[str, Any]


@dataclass(frozen=True)
class RewardUpdate:
    reward_log_id: str
    coupon_code: str
    issued_at: datetime
    expiry_at: datetime


def _invalid(message: str, problems: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(400, "invalid_payload", message, problems)


def parse_invocation(claims: dict[str, Any]) -> Invocation:
    """The invocation in the token's `data` claim, or a 400 saying what is not in Wix's shape."""
    data = claims.get("data")
    if not isinstance(data, dict):
        raise _invalid("the token's data claim must be an object with request and metadata")
    problems: list[dict[str, str]] = []
    request = data.get("request")
    metadata = data.get("metadata")
    if not isinstance(request, dict):
        problems.append({"field": "request", "message": "must be an object"})
        request = {}
    if not isinstance(metadata, dict):
        problems.append({"field": "metadata", "message": "must be an object"})
        metadata = {}
    action_key = request.get("actionKey")
    if not isinstance(action_key, str) or not action_key:
        problems.append({"field": "request.actionKey", "message": "must be a non-empty string"})
    params = request.get("actionParams", {})
    if not isinstance(params, dict):
        problems.append({"field": "request.actionParams", "message": "must be an object"})
    instance_id = metadata.get("instanceId")
    if not isinstance(instance_id, str) or not instance_id:
        problems.append({"field": "metadata.instanceId", "message": "must be a non-empty string"})
    request_id = metadata.get("requestId")
    if request_id is not None and not isinstance(request_id, str):
        problems.append({"field": "metadata.requestId", "message": "must be a string"})
    if problems:
        raise _invalid(_summary("not a Wix action invocation", problems), problems)
    assert isinstance(action_key, str) and isinstance(instance_id, str) and isinstance(params, dict)
    if action_key not in ACTION_KEYS:
        raise ApiError(
            400,
            "unknown_action",
            f"unknown actionKey {action_key!r}; known: {', '.join(ACTION_KEYS)}",
            {"actionKey": action_key, "known": ACTION_KEYS},
        )
    return Invocation(instance_id, request_id or None, action_key, params)


def _summary(prefix: str, problems: list[dict[str, str]]) -> str:
    return f"{prefix}: " + "; ".join(f"{p['field']} {p['message']}" for p in problems)


class _Params:
    """Reads actionParams, collecting every shape problem so one 400 names them all."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._params = params
        self.problems: list[dict[str, str]] = []

    def _problem(self, name: str, message: str) -> None:
        self.problems.append({"field": f"request.actionParams.{name}", "message": message})

    def text(self, name: str) -> str:
        value = self._params.get(name)
        if not isinstance(value, str) or not value:
            self._problem(name, "is required (a non-empty string)")
            return ""
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._params.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self._problem(name, "must be a string")
            return None
        return value

    def number(self, name: str) -> Any:
        """A number or a decimal string; absent is left to the engine (a sum needs it, a count not)."""
        value = self._params.get(name)
        if value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool)):
            return value
        self._problem(name, "must be a number or a decimal string")
        return None

    def check(self, action_key: str) -> None:
        if self.problems:
            raise _invalid(
                _summary(f"{action_key}: actionParams are not as expected", self.problems), self.problems
            )


def activity_request(invocation: Invocation) -> ActivityRequest:
    """The log an execute-streak or execute-challenge invocation asks for. Without a
    uniqueIdentifier, Wix's `metadata.requestId` stands in, so a retry of the same call counts once."""
    kind, id_field = EXECUTE_ACTIONS[invocation.action_key]
    params = _Params(invocation.params)
    contact_id = params.text("contactId")
    item_id = params.text(id_field)
    activity_id = params.text("activityId")
    activity_value = params.number("activityValue")
    activity_at_text = params.text("activityAt")
    unique_identifier = params.optional_text("uniqueIdentifier")
    if unique_identifier is None and invocation.request_id is None:
        params.problems.append(
            {
                "field": "request.actionParams.uniqueIdentifier",
                "message": "is required when the call carries no metadata.requestId",
            }
        )
    params.check(invocation.action_key)
    return ActivityRequest(
        kind=kind,
        item_id=item_id,
        contact_id=contact_id,
        activity_id=activity_id,
        activity_value=activity_value,
        activity_at=parse_moment(activity_at_text, "activityAt"),
        unique_identifier=unique_identifier or f"wix-action:{invocation.request_id}",
    )


def reward_update(invocation: Invocation) -> RewardUpdate:
    params = _Params(invocation.params)
    reward_log_id = params.text("rewardLogId")
    coupon_code = params.text("couponCode")
    issued_at = params.text("rewardIssuedAt")
    expiry_at = params.text("rewardExpiryAt")
    params.check(invocation.action_key)
    return RewardUpdate(
        reward_log_id=reward_log_id,
        coupon_code=coupon_code,
        issued_at=parse_moment(issued_at, "rewardIssuedAt"),
        expiry_at=parse_moment(expiry_at, "rewardExpiryAt"),
    )


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """The answer exactly as the store keeps it, so a duplicate's answer equals the first one's."""
    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return plain


def execute(
    client: redis.Redis, instance_id: str, activity: ActivityRequest, follow_ups: Dispatcher
) -> dict[str, Any]:
    outcome = record_and_follow_up(client, follow_ups, instance_id, activity, datetime.now(UTC))
    return {**_plain(outcome.answer), "duplicate": outcome.duplicate}


def update_reward_log(
    client: redis.Redis, instance_id: str, update: RewardUpdate, follow_ups: Dispatcher
) -> dict[str, Any]:
    reward_log, changed = issue_and_follow_up(
        client,
        follow_ups,
        instance_id,
        update.reward_log_id,
        coupon_code=update.coupon_code,
        issued_at=update.issued_at,
        expiry_at=update.expiry_at,
        now=datetime.now(UTC),
    )
    return {"rewardLog": reward_log, "duplicate": not changed}


def _verify(request: Request, body: bytes) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    receiver: ReceiverState = request.app.state.receiver
    if receiver.verifier is None or not settings.wix_app_id:
        missing = "WIX_PUBLIC_KEY" if receiver.verifier is None else "WIX_APP_ID"
        raise ApiError(503, "not_configured", f"{missing} is not configured")
    try:
        claims = receiver.verifier.verify(body.strip(), audience=settings.wix_app_id, issuer=ISSUER)
    except InvalidToken as exc:
        logger.info("wix action refused", extra={"reason": exc.reason})
        raise ApiError(401, "invalid_token", exc.message, {"reason": exc.reason}) from None
    for claim in ("exp", "iat"):
        if claim not in claims:
            raise ApiError(
                401,
                "invalid_token",
                f"the token is not valid: it has no {claim}",
                {"reason": "missing_claim"},
            )
    return claims


def _action(invocation: Invocation, follow_ups: Dispatcher) -> Callable[[redis.Redis], dict[str, Any]]:
    """The work the invocation asks for, its parameters checked (400, or 422 for a bad time)."""
    if invocation.action_key in EXECUTE_ACTIONS:
        activity = activity_request(invocation)
        return lambda client: execute(client, invocation.instance_id, activity, follow_ups)
    update = reward_update(invocation)
    return lambda client: update_reward_log(client, invocation.instance_id, update, follow_ups)


@router.post("/wix/actions/v1/invoke", **INVOKE_DOCS)
async def invoke_action(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    try:
        body = await read_body(request, settings.webhook_max_bytes)
    except BodyTooLarge:
        raise ApiError(413, "too_large", f"the body exceeds {settings.webhook_max_bytes} bytes") from None
    invocation = parse_invocation(_verify(request, body))
    log_config.bind(instance_id=invocation.instance_id)
    try:
        action = _action(invocation, request.app.state.follow_ups)
        result = await run_in_threadpool(action, request.app.state.store)
        logger.info(
            "wix action performed",
            extra={
                "action": invocation.action_key,
                "request_id": invocation.request_id,
                "duplicate": result["duplicate"],
            },
        )
    except LogRejected as exc:
        raise ApiError(422, "rejected", str(exc)) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except redis.RedisError:
        logger.warning("wix action not performed: Redis unavailable", extra={"action": invocation.action_key})
        raise ApiError(503, "unavailable", "Redis is unavailable; try again") from None
    except Contention:
        raise ApiError(503, "unavailable", "the member's progress is busy; try again") from None
    finally:
        log_config.clear()
    return JSONResponse({"result": result})
