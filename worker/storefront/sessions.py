"""The widget session's decision (`POST /widget/v1/session`): a visitor's Wix access token → who it is, by
Wix's token-info; a guest gets `{"mode": "guest"}`, a member a widget token bound to its contact."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from worker.engine.timestamps import utc_stamp
from worker.store.instances import is_removed
from worker.storefront.widget_tokens import mint_widget_token
from worker.wix.client import WixApiError, WixClient, WixError, WixTransientError

logger = logging.getLogger(__name__)

WIX_UNAVAILABLE = "Wix does not answer now; try again shortly"
REMOVED = "the app was removed from this site"


class SessionRefused(Exception):
    """No session; the message says why."""


class TokenRefused(SessionRefused):
    """Wix does not know the access token, or it is not a member's of this app (401 invalid_token)."""


class WrongInstance(SessionRefused):
    """The token belongs to another site than the `accountId` asked for (403 wrong_instance)."""


class WixUnavailable(SessionRefused):
    """Wix does not answer now (503 wix_unavailable)."""


def open_session(
    client: WixClient,
    token: str,
    account_id: str | None,
    secret: Callable[[], str],
    now: datetime,
    store: redis.Redis | None = None,
) -> dict[str, Any]:
    """The session for the visitor whose Wix access token is `token`; `secret()` is the widget token
    secret, asked for only when a member's token is minted. With `store`, a site that removed the app
    gets no session (401)."""
    try:
        info = client.token_info(token)
    except WixTransientError:
        raise WixUnavailable(WIX_UNAVAILABLE) from None
    except WixApiError:
        raise TokenRefused("Wix does not accept this access token") from None
    if not info.active or not info.instance_id:
        raise TokenRefused("Wix does not know this access token, or it has expired")
    if info.app_id and info.app_id != client.app_id:
        raise TokenRefused("the access token was issued to another Wix app")
    instance_id = info.instance_id
    if store is not None and is_removed(store, instance_id):
        raise TokenRefused(REMOVED)
    if account_id is not None and account_id != instance_id:
        raise WrongInstance("the access token belongs to another site than accountId")
    if info.subject_type != "MEMBER" or not info.subject_id:
        return {"mode": "guest", "instanceId": instance_id}
    widget_secret = secret()
    member_id = info.subject_id
    try:
        member = client.get_member(instance_id, member_id)
    except WixError as exc:
        logger.warning(
            "Wix did not say who the member is",
            extra={"instance_id": instance_id, "reason": type(exc).__name__},
        )
        raise WixUnavailable(WIX_UNAVAILABLE) from None
    contact_id = member.get("contactId") if member is not None else None
    if not isinstance(contact_id, str) or not contact_id:
        raise TokenRefused("Wix knows no member with a contact for this access token")
    widget_token, expires = mint_widget_token(widget_secret, instance_id, contact_id, member_id, now)
    return {
        "mode": "member",
        "instanceId": instance_id,
        "contactId": contact_id,
        "memberId": member_id,
        "token": widget_token,
        "expiresAt": utc_stamp(expires),
    }
