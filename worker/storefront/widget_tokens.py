"""Widget tokens: HS256 JWTs (`WIDGET_TOKEN_SECRET`, 15 minutes) bound to an instance and a contact, minted
by `POST /widget/v1/session` and verified by `GET /widget/v1/me` (worker/web/widget.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import redis

from worker.store.instances import is_removed

TOKEN_LIFETIME = timedelta(minutes=15)
TOKEN_ISSUER = "wix-rewards-worker"  # noqa: S105  # a JWT claim, not a password
TOKEN_AUDIENCE = "wix-rewards-widget"  # noqa: S105  # a JWT claim, not a password


class InvalidWidgetToken(Exception):
    """The widget token is missing, malformed, expired, signed with another secret or not ours."""


@dataclass(frozen=True)
class WidgetClaims:
    instance_id: str
    contact_id: str
    member_id: str


def mint_widget_token(
    secret: str, instance_id: str, contact_id: str, member_id: str, now: datetime
) -> tuple[str, datetime]:
    """An HS256 widget token bound to (instance, contact) and its expiry."""
    expires = now + TOKEN_LIFETIME
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": contact_id,
        "instanceId": instance_id,
        "memberId": member_id,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256"), expires


EXPIRED = "the widget token has expired: start a new session"


def verify_widget_token(
    secret: str, token: str, now: datetime | None = None, *, store: redis.Redis | None = None
) -> WidgetClaims:
    """The claims of a valid widget token at `now`; `InvalidWidgetToken` says why not (never quoting it).
    With `store`, a token of a site that removed the app is no longer valid."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidWidgetToken(EXPIRED) from None
    except jwt.PyJWTError:
        raise InvalidWidgetToken("the widget token is not valid") from None
    moment = now or datetime.now(UTC)  # PyJWT checked against the clock; `now` may be later (tests)
    if not isinstance(claims["exp"], int) or claims["exp"] <= moment.timestamp():
        raise InvalidWidgetToken(EXPIRED)
    instance_id, member_id, contact_id = claims.get("instanceId"), claims.get("memberId"), claims["sub"]
    if not all(isinstance(value, str) and value for value in (instance_id, member_id, contact_id)):
        raise InvalidWidgetToken("the widget token is not valid")
    if store is not None and is_removed(store, str(instance_id)):
        raise InvalidWidgetToken("the app was removed from this site")
    return WidgetClaims(instance_id=str(instance_id), contact_id=str(contact_id), member_id=str(member_id))
