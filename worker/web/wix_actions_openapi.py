"""The OpenAPI documentation of `POST /wix/actions/v1/invoke` (worker/web/wix_actions.py): its
description, decoded-token examples, and an example of every answer in Wix's `applicationError` shape."""

from __future__ import annotations

import json
from typing import Any

from worker.web.errors import application_error

_DECODED_EXECUTE = {
    "aud": "<your app id>",
    "iss": "wix.com",
    "iat": 1790000000,
    "exp": 1790000300,
    "data": {
        "request": {
            "actionKey": "execute-streak",
            "actionParams": {
                "contactId": "24de6f0b-60ce-4faa-9138-2e39f1415615",
                "streakId": "weekly-shopper",
                "activityId": "order_paid",
                "activityValue": 1,
                "activityAt": "2026-11-24T10:00:00+01:00",
                "uniqueIdentifier": "wix:order:880fa895-dfd5-4d50-a2d4-971b03fd4b86:order_paid",
            },
            "activationContext": {"invocationToken": "..."},
        },
        "metadata": {
            "requestId": "2c4b2c7e-6f5b-4a43-9d0a-1f0c2a3b4c5d",
            "instanceId": "6b1e6a2c-0000-4000-8000-00000000a001",
            "identity": {"identityType": "APP"},
        },
    },
}
_DECODED_UPDATE = {
    "request": {
        "actionKey": "update-reward-log",
        "actionParams": {
            "rewardLogId": "rl_5d0c1f3e8a9b7c6d5e4f3a2b",
            "couponCode": "STREAK-5OFF-7KQ2",
            "rewardIssuedAt": "2026-11-24T10:00:05Z",
            "rewardExpiryAt": "2026-12-24T10:00:05Z",
        },
    },
    "metadata": {"requestId": "...", "instanceId": "6b1e6a2c-0000-4000-8000-00000000a001"},
}
_REWARD_LOG = {
    "id": "rl_5d0c1f3e8a9b7c6d5e4f3a2b",
    "instanceId": "6b1e6a2c-0000-4000-8000-00000000a001",
    "contactId": "24de6f0b-60ce-4faa-9138-2e39f1415615",
    "linkedSchemaSlug": "streak",
    "linkedSchemaRecordId": "weekly-shopper",
    "milestoneId": "two-weeks",
    "milestoneName": "Two weeks running",
    "rewardInstructions": "Use this code at checkout",
    "periodKey": "2026-11-16",
    "reward": {"type": "coupon", "coupon": {"name": "5% off", "percentOffRate": "5"}, "validDays": 30},
    "status": "pending",
    "couponCode": None,
    "rewardIssuedAt": None,
    "rewardExpiryAt": None,
    "createdAt": "2026-11-24T09:00:01Z",
    "updatedAt": "2026-11-24T09:00:01Z",
}
_EXECUTE_RESULT = {
    "log": {
        "streakId": "weekly-shopper",
        "contactId": "24de6f0b-60ce-4faa-9138-2e39f1415615",
        "activityId": "order_paid",
        "activityValue": "1",
        "activityAt": "2026-11-24T10:00:00+01:00",
        "uniqueIdentifier": "wix:order:880fa895-dfd5-4d50-a2d4-971b03fd4b86:order_paid",
    },
    "applied": True,
    "streakProgress": {
        "streakId": "weekly-shopper",
        "periodKey": "2026-11-16",
        "status": "in_progress",
        "currentProgressValue": 2,
        "completionTargetValue": 8,
        "streakStartedAt": "2026-11-15T23:00:00+00:00",
        "lastCompletedPeriodKey": "2026-11-23",
        "streakBrokenAt": None,
        "streakCompletedAt": None,
        "at_risk": False,
    },
    "taskProgress": {
        "periodKey": "2026-11-23",
        "periodStartsAt": "2026-11-22T23:00:00Z",
        "periodEndsAt": "2026-11-29T23:00:00Z",
        "value": "1",
        "target": "1",
        "complete": True,
    },
    "achievedMilestone": {"id": "two-weeks", "name": "Two weeks running", "milestoneTargetValue": "2"},
    "achievedMilestoneRewardLog": _REWARD_LOG,
    "achievedMilestones": [{"id": "two-weeks", "name": "Two weeks running", "milestoneTargetValue": "2"}],
    "achievedMilestoneRewardLogs": [_REWARD_LOG],
    "nextMilestone": {"id": "four-weeks", "name": "Four weeks running", "milestoneTargetValue": "4"},
    "duplicate": False,
}
_ISSUED_LOG = {
    **_REWARD_LOG,
    "status": "issued",
    "couponCode": "STREAK-5OFF-7KQ2",
    "rewardIssuedAt": "2026-11-24T10:00:05Z",
    "rewardExpiryAt": "2026-12-24T10:00:05Z",
    "updatedAt": "2026-11-24T10:00:06Z",
}


def _error_example(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "application/json": {
            "example": json.loads(bytes(application_error(400, code, message, details).body))
        }
    }


_DESCRIPTION = f"""
Wix's action-provider call for the app's automation actions: **Execute Streak** (`execute-streak`),
**Execute Challenge** (`execute-challenge`) and **Update Reward Log** (`update-reward-log`).

The body is the raw JWT Wix sends, RS256-signed with the app's key; `aud` must be the app id
(`WIX_APP_ID`), `iss` `wix.com`, and `iat`/`exp` are checked. Its `data` claim is an object; the
instance is `data.metadata.instanceId`, and nothing else in the call can name another instance.

`execute-streak` / `execute-challenge` take `contactId`, `streakId` (or `challengeId`), `activityId`,
`activityValue` (ignored by a count, required by a sum), `activityAt` (ISO-8601 with an offset) and an
optional `uniqueIdentifier`. Without one, the call's `metadata.requestId` stands in (`wix-action:<id>`);
map a business id (an order id, say) to count each business event once whatever Wix does. The result
is the log, `streakProgress` or `challengeProgress`, `taskProgress`, `achievedMilestone`,
`nextMilestone`, `achievedMilestoneRewardLog` (chain its `id` into Update Reward Log), every milestone
achieved with its reward log, and `duplicate`: a repeated `uniqueIdentifier` changes nothing and
answers the original result with `"duplicate": true`.

`update-reward-log` takes `rewardLogId`, `couponCode`, `rewardIssuedAt` and `rewardExpiryAt`, marks the
reward log `issued` and answers it; the same values again change nothing (`"duplicate": true`), another
code on an issued log is 409.

Errors: 400 a payload not in the expected shape (a missing parameter is named), 401 a bad token,
404 an unknown reward log (in this instance), 409 a conflict, 413 over 1 MiB, 422 what the domain
rejects (an unknown or paused streak, an activity it does not take, a time without an offset...),
503 not configured or Redis unavailable. Each is `{{"applicationError": {{"code", "description", "data"}}}}`,
the shape Wix's SDK gives a service plugin's errors.

Decoded token of an Execute Streak call:

```json
{json.dumps(_DECODED_EXECUTE, indent=2)}
```

Decoded `data` of an Update Reward Log call:

```json
{json.dumps(_DECODED_UPDATE, indent=2)}
```
"""


INVOKE_DOCS: dict[str, Any] = dict(
    summary="Run a Wix automation action (execute-streak, execute-challenge, update-reward-log)",
    description=_DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The JWT Wix signs; its decoded claims are shown in the description above.",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJkYXRhIjp7InJlcXVlc3QiOnsi...",
                }
            },
        }
    },
    responses={
        200: {
            "description": "The action's result",
            "content": {
                "application/json": {
                    "examples": {
                        "execute-streak": {
                            "summary": "A log that achieves a milestone",
                            "value": {"result": _EXECUTE_RESULT},
                        },
                        "update-reward-log": {
                            "summary": "A reward log marked issued",
                            "value": {"result": {"rewardLog": _ISSUED_LOG, "duplicate": False}},
                        },
                    }
                }
            },
        },
        400: {
            "description": "Not in the expected shape",
            "content": _error_example(
                "invalid_payload",
                "execute-streak: actionParams are not as expected: request.actionParams.streakId is "
                "required (a non-empty string)",
                [{"field": "request.actionParams.streakId", "message": "is required (a non-empty string)"}],
            ),
        },
        401: {
            "description": "A bad, expired or foreign token",
            "content": _error_example(
                "invalid_token", "the token is not valid: Signature has expired", {"reason": "expired"}
            ),
        },
        404: {
            "description": "No such reward log in this instance",
            "content": _error_example("not_found", "no reward log rl_5d0c1f3e8a9b7c6d5e4f3a2b"),
        },
        409: {
            "description": "The reward log was issued with another coupon",
            "content": _error_example(
                "conflict", "reward log rl_5d0c1f3e8a9b7c6d5e4f3a2b was already issued with another coupon"
            ),
        },
        413: {"description": "The body is over 1 MiB"},
        422: {
            "description": "The domain rejects the request",
            "content": _error_example("rejected", "streak 'paused-one' is paused, not live"),
        },
        503: {
            "description": "Not configured, or Redis unavailable",
            "content": _error_example("unavailable", "Redis is unavailable; try again"),
        },
    },
)
