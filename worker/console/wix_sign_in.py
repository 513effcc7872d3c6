"""Who Wix's dashboard says is opening the console: its `instance` parameter → the site and who.

Wix opens the console's iframe with the `instance` query parameter (wix-facts.md §6.2). Its two forms are
told apart by their shape, not by a setting:

- a legacy signed instance, `<signature>.<payload>` (exactly one dot): verified here with the app secret
  (`sessions.verify_instance`, at most `INSTANCE_MAX_AGE` old), with no call to Wix. Wix calls this
  decoding legacy, but the value is signed with our own secret, so the local check is as sound and keeps
  the sign-in working while Wix is slow;
- anything else (an access token, `OauthNG.JWS.…`, or a JWT: both have two dots): Wix's Token Info
  (`POST /oauth2/token-info`) with the value as the token, as Wix now advises. It is accepted only when Wix
  says it is active, it was issued to our app (`clientId` and `app_id`, whichever Wix sends, all equal to
  WIX_APP_ID: §4.1 says check both), it names an instance, and it stands for a Wix user (`subjectType`
  `USER`, the enum's values UNCONFIRMED, §4.1): a site member's or visitor's token, which any storefront
  visitor holds, never opens the console. The session's `who` is the token's subject.

A token Wix does not vouch for is a 401; Wix not answering is a 503 saying so. The value reaches no log
line and no message (the access log drops query strings, worker/infra/log_config.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from worker.console.sessions import MAX_PARAMETER_CHARS, Refused, verify_instance
from worker.identifiers import is_instance_id
from worker.settings import Settings
from worker.wix.client import WixApiError, WixClient, WixError, WixTransientError

DASHBOARD_SUBJECT = "USER"  # a Wix user: the site's owner or a collaborator in the dashboard
AGAIN = "open the app again from the Wix dashboard"
WIX_UNAVAILABLE = "Wix does not answer now, so the console cannot check who you are: try again soon"


@dataclass(frozen=True)
class WixSignIn:
    instance_id: str
    who: str


def is_legacy_instance(value: str) -> bool:
    """True for the legacy `<signature>.<payload>` form; an access token or a JWT has two dots."""
    return value.count(".") == 1


def sign_in_from_wix(value: str, settings: Settings, wix: WixClient | None, now: datetime) -> WixSignIn:
    """The site and who an `instance` parameter opens, or `Refused` saying why not."""
    if is_legacy_instance(value):
        app_secret = settings.wix_app_secret.get_secret_value() if settings.wix_app_secret else ""
        if not app_secret or not settings.wix_app_id:
            raise Refused(503, "the console cannot check Wix's signature: WIX_APP_ID, WIX_APP_SECRET")
        claims = verify_instance(value, app_secret=app_secret, app_id=settings.wix_app_id, now=now)
        return WixSignIn(claims.instance_id, claims.uid)
    if wix is None:
        raise Refused(503, "the console cannot ask Wix who you are: WIX_APP_ID, WIX_APP_SECRET are not set")
    return sign_in_with_token_info(wix, value)


def sign_in_with_token_info(wix: WixClient, token: str) -> WixSignIn:
    """What Wix's Token Info says of `token`, when it is our app's dashboard token for a site."""
    if not token or len(token) > MAX_PARAMETER_CHARS:
        raise Refused(401, f"the instance parameter is not a Wix token: {AGAIN}")
    try:
        info = wix.token_info(token)
    except WixTransientError:
        raise Refused(503, WIX_UNAVAILABLE) from None
    except WixApiError:
        raise Refused(401, f"Wix does not accept the instance parameter: {AGAIN}") from None
    except WixError:
        raise Refused(503, "Wix's answer about the instance parameter could not be read: try again") from None
    if not info.active:
        raise Refused(401, f"Wix says the instance parameter is not valid or has expired: {AGAIN}")
    app_ids = [info.raw.get(name) for name in ("clientId", "app_id") if info.raw.get(name) is not None]
    if not app_ids or any(app_id != wix.app_id for app_id in app_ids):
        raise Refused(401, "the instance parameter was issued to another Wix app")
    if info.instance_id is None or not is_instance_id(info.instance_id):
        raise Refused(401, "the instance parameter names no site")
    if info.subject_type != DASHBOARD_SUBJECT or not info.subject_id:
        raise Refused(401, "the instance parameter is not a Wix user's: open the app from the Wix dashboard")
    return WixSignIn(info.instance_id, info.subject_id)
