"""OAuth 2 for apps (wix-facts.md §4.1) and the authentication every other endpoint goes through.

`POST /oauth2/token` trades the app's credentials and an instance id for a 4-hour access token;
`POST /oauth2/token-info` says what a token stands for. Calls carry the token as `Authorization:
<token>` (what the SDK sends) or `Authorization: Bearer <token>`.

UNCONFIRMED choices: a wrong client id or secret is a 401 `UNAUTHENTICATED`; token-info for an unknown,
expired or revoked token answers 200 `{"active": false}` (as OAuth token introspection does). Site
tokens (what an embedded script gets, §6.2) are minted under `/_fake/`: a logged-in member's reads back
as `subjectType: "MEMBER"` with the member id, an anonymous visitor's as `subjectType: "VISITOR"` with a
visitor id (the enum's values are UNCONFIRMED, §4.1); both live 4 hours like app tokens and may call no
app-only method (403). So does a dashboard page's `instance` token (a Wix user's, `subjectType: "USER"`,
UNCONFIRMED), which may be issued to another app to model that app's page on the same site.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from worker.wix.fake.errors import (
    PERMISSION_DENIED,
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    Violations,
    WixError,
    invalid,
    json_object,
)
from worker.wix.fake.front import call_record
from worker.wix.fake.state import TOKEN_LIFETIME, FakeWix, Grant, InstanceState
from worker.wix.fake.traffic import RateLimiter

router = APIRouter(tags=["oauth"])


def fake_of(request: Request) -> FakeWix:
    fake: FakeWix = request.app.state.fake
    return fake


@dataclass
class Caller:
    """An authenticated call: the fake, the instance the token belongs to, and the token's grant."""

    fake: FakeWix
    instance: InstanceState
    grant: Grant


def _token_from(header: str) -> str:
    scheme, _, rest = header.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else header.strip()


async def authenticate(request: Request) -> Caller:
    """The caller of a Wix endpoint: a live app token, within the instance's rate limit."""
    fake = fake_of(request)
    token = _token_from(request.headers.get("authorization", ""))
    grant = fake.tokens.get(token) if token else None
    if grant is None or not grant.active(fake.clock()):
        raise WixError(
            401, "Unauthorized", UNAUTHENTICATED, "the access token is missing, unknown or expired"
        )
    record = call_record(request.scope)
    if record is not None:
        record.instance_id = grant.instance_id
    if grant.subject_type != "APP":
        raise WixError(403, "Forbidden", PERMISSION_DENIED, "this method needs an app identity")
    wait = fake.limiter.admit(
        grant.instance_id, fake.settings.rate_limit_per_minute, fake.settings.rate_limit_window_seconds
    )
    if wait is not None:
        if record is not None:
            record.fault = "rate-limit"
        raise WixError(
            429,
            "Too many requests",
            RESOURCE_EXHAUSTED,
            f"more than {fake.settings.rate_limit_per_minute} requests a minute for this instance",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    return Caller(fake, fake.instance(grant.instance_id), grant)


CallerDep = Annotated[Caller, Depends(authenticate)]


async def _form_or_json(request: Request) -> dict[str, Any]:
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return await json_object(request)


@router.post("/oauth2/token")
async def create_access_token(request: Request) -> dict[str, Any]:
    """Client credentials → `{access_token, token_type: "Bearer", expires_in: 14400}` (§4.1)."""
    fake = fake_of(request)
    body = await _form_or_json(request)
    violations = Violations()
    for name in ("grant_type", "client_id", "client_secret", "instance_id"):
        if not isinstance(body.get(name), str) or not body[name]:
            violations.add(name, f"{name} is required", "REQUIRED_FIELD")
    if body.get("grant_type") not in (None, "", "client_credentials"):
        violations.add("grant_type", "only client_credentials is supported", "CUSTOM")
    violations.check()
    right_id = hmac.compare_digest(body["client_id"].encode(), fake.settings.app_id.encode())
    right_secret = hmac.compare_digest(body["client_secret"].encode(), fake.settings.app_secret.encode())
    if not (right_id and right_secret):
        raise WixError(401, "Unauthorized", UNAUTHENTICATED, "invalid client_id or client_secret")
    record = call_record(request.scope)
    if record is not None:
        record.instance_id = body["instance_id"]
    token = fake.issue_token(body["instance_id"])
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}


@router.post("/oauth2/token-info")
async def token_info(request: Request) -> dict[str, Any]:
    """What a token stands for: `{active, subjectType, subjectId, exp, iat, clientId, siteId,
    instanceId}`, the times as strings as in Wix's example (§4.1, §6.2)."""
    fake = fake_of(request)
    body = await json_object(request)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise invalid("token", "token is required", "REQUIRED_FIELD")
    grant = fake.tokens.get(token)
    if grant is None or not grant.active(fake.clock()):
        return {"active": False}
    record = call_record(request.scope)
    if record is not None:
        record.instance_id = grant.instance_id
    return {
        "active": True,
        "subjectType": grant.subject_type,
        "subjectId": grant.subject_id,
        "exp": str(int(grant.expires_at)),
        "iat": str(int(grant.issued_at)),
        "clientId": grant.app_id,
        "siteId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"wix-site:{grant.instance_id}")),
        "instanceId": grant.instance_id,
    }
