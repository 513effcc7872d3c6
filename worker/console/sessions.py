"""Who gets into the merchant console, and the session that then travels in the page.

Wix opens the console in an iframe with the signed `instance` query parameter (wix-facts.md §6.2):
`<signature>.<payload>`, both base64url without padding, the signature an HMAC-SHA256 of the payload part
with the app secret. `verify_instance` checks it in constant time, that it is for our app and that it was
signed recently (a value of any other shape goes to Wix's Token Info: worker/console/wix_sign_in.py).
A good one opens a console session: an HS256 token (`CONSOLE_SECRET`, one hour) naming the instance
(or `*` for an operator), who (Wix's `uid`, `operator`, `link`) and a random session id.
The session's CSRF token is not in the token (a JWT's payload is readable): it is an HMAC of the session
id, so only a page the server rendered knows it, and a session token that leaked through a plain link
cannot change anything. Tokens and secrets appear in no log line and no error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from worker.identifiers import is_instance_id

SESSION_LIFETIME = timedelta(hours=1)
LINK_LIFETIME = timedelta(minutes=15)
# How old a legacy signed `instance` may be. wix-facts.md §6.2 gives the decoded fields (`signDate`, and in
# some forms `expirationDate`) but no lifetime; Wix signs the value as it opens the dashboard page, so a
# fresh one is minutes old, and the console then lives on its own one-hour session. Ten minutes covers a
# slow load and the clock skew; an older value (a copied URL, a replay) is refused, and so is one whose
# `expirationDate` has passed, whichever comes first.
INSTANCE_MAX_AGE = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=1)
ANY_SITE = "*"  # an operator's session opens every site
ISSUER = "wix-rewards-worker"
SESSION_AUDIENCE = "wix-rewards-console"
LINK_AUDIENCE = "wix-rewards-console-link"
MIN_SECRET_BYTES = 32
MAX_PARAMETER_CHARS = 4096


class Refused(Exception):
    """The caller may not do this; `status` is the HTTP status to answer and the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class InstanceClaims:
    instance_id: str
    uid: str
    permissions: str


@dataclass(frozen=True)
class Session:
    instance_id: str  # ANY_SITE for an operator
    who: str
    session_id: str
    expires: datetime

    @property
    def is_operator(self) -> bool:
        return self.instance_id == ANY_SITE

    def may_open(self, instance_id: str) -> bool:
        return self.is_operator or hmac.compare_digest(self.instance_id, instance_id)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def verify_instance(value: str, *, app_secret: str, app_id: str, now: datetime) -> InstanceClaims:
    """The claims of a Wix-signed `instance` parameter, or `Refused` (403) saying why not: a signature
    that does not verify, another app's, a `signDate` missing, more than INSTANCE_MAX_AGE old or ahead of
    `now` by more than CLOCK_SKEW, an `expirationDate` passed, or no instance id."""
    if not value or len(value) > MAX_PARAMETER_CHARS or value.count(".") != 1:
        raise Refused(403, "the instance parameter is not a Wix-signed instance")
    signature, payload = value.split(".")
    expected = hmac.new(app_secret.encode(), payload.encode(), hashlib.sha256).digest()
    try:
        given = _b64decode(signature)
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        raise Refused(403, "the instance parameter is not a Wix-signed instance") from None
    if not hmac.compare_digest(given, expected):
        raise Refused(403, "the instance parameter's signature does not verify")
    if not isinstance(claims, dict) or claims.get("appDefId") != app_id:
        raise Refused(403, "the instance parameter is for another app")
    signed = _parse_time(claims.get("signDate"))
    if signed is None or not now - INSTANCE_MAX_AGE <= signed <= now + CLOCK_SKEW:
        raise Refused(403, "the instance parameter has expired: open the app again from the Wix dashboard")
    expires = _parse_time(claims.get("expirationDate"))
    if expires is not None and expires <= now:
        raise Refused(403, "the instance parameter has expired: open the app again from the Wix dashboard")
    instance_id = claims.get("instanceId")
    if not isinstance(instance_id, str) or not is_instance_id(instance_id):
        raise Refused(403, "the instance parameter names no instance")
    uid, permissions = claims.get("uid"), claims.get("permissions")
    return InstanceClaims(
        instance_id=instance_id,
        uid=uid if isinstance(uid, str) and uid else "wix-user",
        permissions=permissions if isinstance(permissions, str) else "",
    )


def sign_instance(payload: dict[str, Any], app_secret: str) -> str:
    """An `instance` parameter as Wix signs it (the tests sign with it; the service only verifies)."""
    part = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    digest = hmac.new(app_secret.encode(), part.encode(), hashlib.sha256).digest()
    return f"{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}.{part}"


def _mint(secret: str, audience: str, instance_id: str, who: str, now: datetime, life: timedelta) -> str:
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "sub": who,
        "instanceId": instance_id,
        "sid": secrets.token_urlsafe(16),
        "iat": int(now.timestamp()),
        "exp": int((now + life).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _decode(secret: str, token: str, audience: str, what: str) -> Session:
    """The session a token carries; PyJWT checks its signature, audience, issuer and expiry."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Refused(401, f"the {what} has expired: open the console again") from None
    except jwt.PyJWTError:
        raise Refused(401, f"the {what} is not valid: open the console again") from None
    instance_id, who, sid = claims.get("instanceId"), claims.get("sub"), claims.get("sid")
    if not all(isinstance(value, str) and value for value in (instance_id, who, sid)):
        raise Refused(401, f"the {what} is not valid: open the console again")
    return Session(str(instance_id), str(who), str(sid), datetime.fromtimestamp(claims["exp"], UTC))


def mint_session(secret: str, instance_id: str, who: str, now: datetime) -> str:
    """A console session token for one instance (or ANY_SITE), valid for SESSION_LIFETIME."""
    return _mint(secret, SESSION_AUDIENCE, instance_id, who, now, SESSION_LIFETIME)


def verify_session(secret: str, token: str) -> Session:
    return _decode(secret, token, SESSION_AUDIENCE, "console session")


def mint_link(secret: str, instance_id: str, now: datetime) -> str:
    """A sign-in token for one site (`python -m worker console link`), valid for LINK_LIFETIME; it opens
    a session and is good for nothing else (a session token is refused where a link is asked, and back)."""
    return _mint(secret, LINK_AUDIENCE, instance_id, "link", now, LINK_LIFETIME)


def verify_link(secret: str, token: str) -> Session:
    return _decode(secret, token, LINK_AUDIENCE, "sign-in link")


def csrf_token(secret: str, session: Session) -> str:
    """The session's CSRF token: an HMAC of its id, given only in the pages the server renders."""
    message = f"console-csrf:{session.session_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_csrf(secret: str, session: Session, given: str | None) -> None:
    if not given or not hmac.compare_digest(given.encode(), csrf_token(secret, session).encode()):
        raise Refused(403, "the request has no valid CSRF token: reload the page and try again")


def check_admin_token(configured: str | None, given: str) -> None:
    """An operator's sign-in: the deployment's ADMIN_TOKEN, compared in constant time."""
    if not configured:
        raise Refused(503, "operator sign-in is off: ADMIN_TOKEN is not set")
    if not hmac.compare_digest(given.encode(), configured.encode()):
        raise Refused(403, "that is not the admin token")


def check_secret(secret: str | None) -> str:
    if secret is None or len(secret.encode()) < MIN_SECRET_BYTES:
        raise Refused(
            503, f"the console is off: CONSOLE_SECRET is not set or shorter than {MIN_SECRET_BYTES} bytes"
        )
    return secret
