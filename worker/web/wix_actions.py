"""`POST /wix/actions/v1/invoke`: the Wix automation actions (wix-facts.md §5.1).

Wix's action provider sends the raw JWT as the body (RS256, the app's key, `aud` the app id, `iss`
`wix.com`); its `data` claim is an object `{"request": {"actionKey", "actionParams", ...}, "metadata":
{"requestId", "instanceId", ...}}`. The instance comes only from the verified token. The work is a few
Redis round trips, so the answer is synchronous: `{"result": {...}}` with the outputs the seed lists.

Errors are answered as Wix's SDK answers a service plugin's (`@wix/sdk` `service-plugin-modules.js`
`processRequest`: `{"applicationError": {"code", "data"}}` with the HTTP status; wix-facts.md §8), plus a
`description`, the field Wix's `ApplicationError` type also has (`@wix/auto_sdk_loyalty_transactions`
`meta.d.ts`: `{code, description, data}`). The router's route class (`ApplicationErrorRoute`) makes every
error of this route, the domain's included (worker/web/errors.py), answer in that shape; the shape of a
call and of each action's parameters is checked by the models of worker/web/wix_action_calls.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from worker.dispatch import Dispatcher
from worker.infra import log_config
from worker.progress.record import ActivityRequest
from worker.rewards.follow_ups import issue_and_follow_up, record_and_follow_up
from worker.settings import Settings
from worker.store.instances import require_installed
from worker.web.errors import ApiError, ApplicationErrorRoute
from worker.web.receiver import BodyTooLarge, ReceiverState, read_body
from worker.web.wix_action_calls import (
    Invocation,
    RewardUpdate,
    UpdateRewardLog,
    parse_invocation,
)
from worker.web.wix_actions_openapi import INVOKE_DOCS
from worker.wix.tokens import InvalidToken

logger = logging.getLogger(__name__)

router = APIRouter(tags=["wix actions"], route_class=ApplicationErrorRoute)

ISSUER = "wix.com"
# `wix-app check` (worker/wixapp) asks this module's parsing what it accepts.
__all__ = ["invoke_action", "parse_invocation", "router"]


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


async def _body(request: Request) -> bytes:
    limit = request.app.state.settings.webhook_max_bytes
    try:
        return await read_body(request, limit)
    except BodyTooLarge:
        raise ApiError(413, "too_large", f"the body exceeds {limit} bytes") from None


def _verify(request: Request, body: bytes) -> dict[str, Any]:
    """The claims of Wix's token: RS256 with the app's key, `aud` the app id, `iss` wix.com, `exp` and
    `iat` present (wix.tokens.InvalidToken, a 401, says why not)."""
    settings: Settings = request.app.state.settings
    receiver: ReceiverState = request.app.state.receiver
    if receiver.verifier is None or not settings.wix_app_id:
        missing = "WIX_PUBLIC_KEY" if receiver.verifier is None else "WIX_APP_ID"
        raise ApiError(503, "not_configured", f"{missing} is not configured")
    try:
        claims = receiver.verifier.verify(body.strip(), audience=settings.wix_app_id, issuer=ISSUER)
    except InvalidToken as exc:
        logger.info("wix action refused", extra={"reason": exc.reason})
        raise
    for claim in ("exp", "iat"):
        if claim not in claims:
            message = f"the token is not valid: it has no {claim}"
            raise ApiError(401, "invalid_token", message, {"reason": "missing_claim"})
    return claims


def _action(invocation: Invocation, follow_ups: Dispatcher) -> Callable[[redis.Redis], dict[str, Any]]:
    """The work the invocation asks for; a time that is not one is refused here (LogRejected, 422)."""
    params = invocation.params
    if isinstance(params, UpdateRewardLog):
        update = params.update()
        return lambda client: update_reward_log(client, invocation.instance_id, update, follow_ups)
    activity = params.activity(invocation.request_id)
    return lambda client: execute(client, invocation.instance_id, activity, follow_ups)


@router.post("/wix/actions/v1/invoke", **INVOKE_DOCS)
async def invoke_action(request: Request) -> JSONResponse:
    invocation = parse_invocation(_verify(request, await _body(request)))
    log_config.bind(instance_id=invocation.instance_id)
    try:
        await run_in_threadpool(require_installed, request.app.state.store, invocation.instance_id)
        action = _action(invocation, request.app.state.follow_ups)
        result = await run_in_threadpool(action, request.app.state.store)
    finally:
        log_config.clear()
    performed = {"action": invocation.action_key, "request_id": invocation.request_id}
    logger.info("wix action performed", extra={**performed, "duplicate": result["duplicate"]})
    return JSONResponse({"result": result})
