"""The console's gate (worker/console/sessions.py): Wix's signed `instance` parameter, the session token,
the sign-in link and the CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from worker.console.sessions import (
    ANY_SITE,
    Refused,
    check_admin_token,
    check_csrf,
    csrf_token,
    mint_link,
    mint_session,
    sign_instance,
    verify_instance,
    verify_link,
    verify_session,
)

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "the-app-secret"
SECRET = "console-secret-0123456789abcdef0123456789"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def payload(**changes: Any) -> dict[str, Any]:
    return {
        "instanceId": "site-a",
        "appDefId": APP_ID,
        "signDate": (NOW - timedelta(seconds=5)).isoformat().replace("+00:00", "Z"),
        "uid": "owner-1",
        "permissions": "OWNER",
        **changes,
    }


def verify(value: str, now: datetime = NOW) -> Any:
    return verify_instance(value, app_secret=APP_SECRET, app_id=APP_ID, now=now)


class TestInstanceParameter:
    def test_a_wix_signed_instance_opens_its_site(self) -> None:
        claims = verify(sign_instance(payload(), APP_SECRET))
        assert (claims.instance_id, claims.uid, claims.permissions) == ("site-a", "owner-1", "OWNER")

    def test_a_forged_signature_is_refused(self) -> None:
        """Signed with another secret, or the payload changed after signing: 403."""
        with pytest.raises(Refused, match="signature does not verify") as caught:
            verify(sign_instance(payload(), "someone-elses-secret"))
        assert caught.value.status == 403
        signature, _ = sign_instance(payload(), APP_SECRET).split(".")
        other = sign_instance(payload(instanceId="site-b"), APP_SECRET).split(".")[1]
        with pytest.raises(Refused, match="signature"):
            verify(f"{signature}.{other}")

    @pytest.mark.parametrize("value", ["", "no-dot", "a.b.c", "!!!.???", "x" * 5000])
    def test_garbage_is_refused_not_a_crash(self, value: str) -> None:
        with pytest.raises(Refused) as caught:
            verify(value)
        assert caught.value.status == 403

    def test_an_old_or_future_sign_date_is_refused(self) -> None:
        with pytest.raises(Refused, match="expired"):
            verify(sign_instance(payload(), APP_SECRET), now=NOW + timedelta(minutes=11))
        future = (NOW + timedelta(minutes=5)).isoformat()
        with pytest.raises(Refused, match="expired"):
            verify(sign_instance(payload(signDate=future), APP_SECRET))
        with pytest.raises(Refused, match="expired"):
            verify(sign_instance(payload(signDate=None), APP_SECRET))

    def test_a_past_expiration_date_is_refused(self) -> None:
        gone = (NOW - timedelta(seconds=1)).isoformat()
        with pytest.raises(Refused, match="expired"):
            verify(sign_instance(payload(expirationDate=gone), APP_SECRET))

    def test_another_apps_instance_is_refused(self) -> None:
        with pytest.raises(Refused, match="another app"):
            verify(sign_instance(payload(appDefId="another-app"), APP_SECRET))

    def test_an_instance_id_outside_the_rule_is_refused(self) -> None:
        with pytest.raises(Refused, match="names no instance"):
            verify(sign_instance(payload(instanceId="a}b"), APP_SECRET))


def at(when: datetime, verify: Any, *args: Any) -> Any:
    """`verify(*args)` with the clock at `when` (PyJWT checks the expiry against the clock)."""
    with time_machine.travel(when, tick=False):
        return verify(*args)


class TestSessionToken:
    def test_a_session_names_its_site_and_who(self) -> None:
        session = at(NOW, verify_session, SECRET, mint_session(SECRET, "site-a", "owner-1", NOW))
        assert (session.instance_id, session.who) == ("site-a", "owner-1")
        assert session.may_open("site-a") and not session.may_open("site-b")

    def test_an_operator_session_opens_any_site(self) -> None:
        session = at(NOW, verify_session, SECRET, mint_session(SECRET, ANY_SITE, "operator", NOW))
        assert session.is_operator and session.may_open("site-b")

    def test_an_expired_or_foreign_token_is_refused(self) -> None:
        token = mint_session(SECRET, "site-a", "owner-1", NOW)
        with pytest.raises(Refused, match="expired") as caught:
            at(NOW + timedelta(hours=1, seconds=1), verify_session, SECRET, token)
        assert caught.value.status == 401
        with pytest.raises(Refused, match="not valid"):
            at(NOW, verify_session, "another-secret-0123456789abcdef0123", token)
        with pytest.raises(Refused, match="not valid"):
            at(NOW, verify_session, SECRET, "not.a.token")

    def test_a_link_is_not_a_session_and_a_session_not_a_link(self) -> None:
        link = mint_link(SECRET, "site-a", NOW)
        assert at(NOW, verify_link, SECRET, link).instance_id == "site-a"
        with pytest.raises(Refused):
            at(NOW, verify_session, SECRET, link)
        with pytest.raises(Refused):
            at(NOW, verify_link, SECRET, mint_session(SECRET, "site-a", "x", NOW))
        with pytest.raises(Refused, match="expired"):
            at(NOW + timedelta(minutes=16), verify_link, SECRET, link)


class TestCsrf:
    def test_the_sessions_own_token_passes_and_no_other(self) -> None:
        session = at(NOW, verify_session, SECRET, mint_session(SECRET, "site-a", "owner-1", NOW))
        other = at(NOW, verify_session, SECRET, mint_session(SECRET, "site-a", "owner-1", NOW))
        check_csrf(SECRET, session, csrf_token(SECRET, session))
        for given in (None, "", csrf_token(SECRET, other), "0" * 64):
            with pytest.raises(Refused, match="CSRF") as caught:
                check_csrf(SECRET, session, given)
            assert caught.value.status == 403

    def test_the_csrf_token_is_not_readable_from_the_session_token(self) -> None:
        """A leaked session token (a plain link) does not carry what a POST needs."""
        token = mint_session(SECRET, "site-a", "owner-1", NOW)
        assert csrf_token(SECRET, at(NOW, verify_session, SECRET, token)) not in token


class TestAdminToken:
    def test_only_the_configured_token_signs_in(self) -> None:
        check_admin_token("admin-token", "admin-token")
        with pytest.raises(Refused) as caught:
            check_admin_token("admin-token", "wrong")
        assert caught.value.status == 403
        with pytest.raises(Refused) as unset:
            check_admin_token(None, "")
        assert unset.value.status == 503
