"""Who calls the widget API: a visitor's Wix access token (for a session), a member's widget token (for
`/me`), and the configuration a session needs (`WIDGET_TOKEN_SECRET`, a Wix client). Tokens appear in no
log line."""

from __future__ import annotations

import redis
from fastapi import Request

from worker.storefront.widget_tokens import InvalidWidgetToken, WidgetClaims, verify_widget_token
from worker.web.errors import REDIS_UNAVAILABLE, ApiError
from worker.wix.client import WixClient

MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
WIDGET_CLAIMS = "widget_claims"  # request.state: the member worker.web.guards.AuthFirst found


def token_secret(request: Request) -> str:
    """WIDGET_TOKEN_SECRET, or 503 saying it is not set (production refuses to start without it)."""
    secret = request.app.state.settings.widget_token_secret
    value = secret.get_secret_value() if secret is not None else ""
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ApiError(
            503,
            "not_configured",
            "member sessions are off: WIDGET_TOKEN_SECRET is not set or shorter than "
            f"{MIN_SECRET_BYTES} bytes",
        )
    return value


def _bearer(request: Request, what: str, *, bare: bool = False) -> str:
    """The token of `Authorization: Bearer <token>`; with `bare`, also a token sent alone, as Wix's
    SDK sends its access tokens (`fetchWithAuth`, wix-facts.md §4 "Common")."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return token
    if bare and header and " " not in header and header.lower() != "bearer":
        return header
    raise ApiError(401, "invalid_token", f"{what} is required (Authorization: Bearer <token>)")


def visitor_token(request: Request) -> str:
    """The visitor's Wix access token of a session request; checked for presence before the body is read
    (web.guards.AuthFirst): only Wix can say whether it is good."""
    return _bearer(request, "the visitor's Wix access token", bare=True)


def widget_member(request: Request, instance: str | None) -> WidgetClaims:
    """The member a widget token names (found once, before the body is read, on the routes
    web.guards.AuthFirst checks); with `instance`, the token must be that instance's."""
    claims = getattr(request.state, WIDGET_CLAIMS, None)
    if not isinstance(claims, WidgetClaims):
        token = _bearer(request, "a widget token")
        claims = verify_widget_token(token_secret(request), token, store=request.app.state.store)
    if instance is not None and instance != claims.instance_id:
        raise InvalidWidgetToken("the widget token belongs to another instance")
    return claims


def widget_member_first(request: Request) -> WidgetClaims:
    """`widget_member` for web.guards.AuthFirst, which runs outside the routes' error handlers: every
    refusal is an `ApiError` in the answer the route itself would give."""
    try:
        return widget_member(request, None)
    except InvalidWidgetToken as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    except redis.RedisError:
        raise ApiError(503, "unavailable", REDIS_UNAVAILABLE) from None


def require_wix(wix: WixClient | None) -> WixClient:
    if wix is None:
        raise ApiError(503, "not_configured", "Wix is not configured (WIX_APP_ID, WIX_APP_SECRET)")
    return wix
