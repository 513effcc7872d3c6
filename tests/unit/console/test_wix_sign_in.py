"""Signing in to the console from Wix's dashboard (worker/console/wix_sign_in.py): a legacy signed
`instance` is checked locally, any other value is asked of Wix's Token Info (the in-process fake Wix) and
opens the console only when it is our app's, active, a Wix user's and names a site."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.console.sessions import Refused, sign_instance
from worker.console.wix_sign_in import WixSignIn, sign_in_from_wix, sign_in_with_token_info
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.web.app import create_app
from worker.web.wix_dependency import wix_for_request
from worker.wix.client import WixClient
from worker.wix.fake import FakeSettings, FakeWix
from worker.wix.fake import create_app as create_fake_app

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "unit-fake-secret"
CONSOLE_SECRET = "console-secret-0123456789abcdef0123456789"
SITE = "site-a"
SETTINGS = Settings(
    redis_url="redis://unused",
    wix_app_id=APP_ID,
    wix_app_secret=APP_SECRET,
    console_secret=CONSOLE_SECRET,
    _env_file=None,  # type: ignore[call-arg]
)


@pytest.fixture
def fake_wix(private_key: Any) -> FakeWix:
    return FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key)


def client_through(transport: httpx.MockTransport, store: Any) -> WixClient:
    http = httpx.Client(base_url="https://www.wixapis.test", transport=transport)
    return WixClient(
        http, store, app_id=APP_ID, app_secret=APP_SECRET, max_rate_limit_wait=0, sleep=lambda _: None
    )


@pytest.fixture
def wix(fake_wix: FakeWix, fake_store: Any) -> Iterator[WixClient]:
    """Our Wix client talking to the in-process fake Wix."""
    fake_app = TestClient(create_fake_app(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    client = client_through(httpx.MockTransport(through_the_fake), fake_store)
    yield client
    client.close()


def fake_control(wix: WixClient, method: str, path: str, **kwargs: Any) -> Any:
    answer = wix._http.request(method, f"/_fake/{path}", **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def dashboard_token(wix: WixClient, site: str = SITE, **body: str) -> str:
    """The `instance` value the fake Wix's dashboard opens our page with (a Wix user's token)."""
    return str(fake_control(wix, "POST", f"instances/{site}/dashboard-tokens", json=body)["instance"])


def refusal(wix: WixClient | None, value: str, settings: Settings = SETTINGS) -> Refused:
    with pytest.raises(Refused) as caught:
        sign_in_from_wix(value, settings, wix, datetime.now(UTC))
    return caught.value


class TestTokenInfoSignIn:
    def test_a_dashboard_token_opens_its_site_as_its_user(self, wix) -> None:
        token = dashboard_token(wix, userId="owner-7")
        assert token.count(".") == 2  # `OauthNG.JWS.…`: not a legacy signed instance
        assert sign_in_from_wix(token, SETTINGS, wix, datetime.now(UTC)) == WixSignIn(SITE, "owner-7")

    def test_a_legacy_signed_instance_is_checked_here_without_asking_wix(self, wix) -> None:
        payload = {"instanceId": SITE, "appDefId": APP_ID, "signDate": datetime.now(UTC).isoformat()}
        instance = sign_instance({**payload, "uid": "owner-1"}, APP_SECRET)
        assert sign_in_from_wix(instance, SETTINGS, wix, datetime.now(UTC)) == WixSignIn(SITE, "owner-1")
        assert fake_control(wix, "GET", "calls", params={"endpoint": "/oauth2/token-info"})["calls"] == []

    def test_tokens_wix_does_not_vouch_for_are_401(self, wix, fake_wix) -> None:
        """Forged, revoked (expired), another app's, a site member's, a visitor's, an app's own."""
        revoked = dashboard_token(wix, site="site-r")
        fake_control(wix, "POST", "tokens/revoke", json={"instanceId": "site-r"})
        member = fake_control(wix, "POST", f"instances/{SITE}/member-tokens", json={"memberId": "m-1"})
        visitor = fake_control(wix, "POST", f"instances/{SITE}/visitor-tokens", json={})
        cases = {
            "OauthNG.JWS.forged-by-someone": "not valid or has expired",
            revoked: "not valid or has expired",
            dashboard_token(wix, appId="99999999-2222-3333-4444-555555555555"): "another Wix app",
            member["token"]: "not a Wix user's",
            visitor["token"]: "not a Wix user's",
            fake_wix.issue_token(SITE): "not a Wix user's",
        }
        for token, reason in cases.items():
            refused = refusal(wix, token)
            assert (refused.status, reason in refused.message) == (401, True), refused.message

    @pytest.mark.parametrize(
        ("answer", "reason"),
        [
            ({"clientId": APP_ID, "app_id": "another-app"}, "another Wix app"),
            ({"clientId": None}, "another Wix app"),
            ({"instanceId": None}, "names no site"),
            ({"instanceId": "a}b"}, "names no site"),
            ({"subjectId": ""}, "not a Wix user's"),
        ],
        ids=["app-ids-disagree", "no-app-id", "no-instance", "bad-instance", "no-subject"],
    )
    def test_an_answer_missing_what_the_console_needs_is_401(
        self, fake_store, answer: dict[str, Any], reason: str
    ) -> None:
        """Wix's answer checked field by field: both app-id spellings, the instance, the subject."""
        full = {"active": True, "subjectType": "USER", "subjectId": "u-1", "clientId": APP_ID}
        body = {
            key: value for key, value in {**full, "instanceId": SITE, **answer}.items() if value is not None
        }
        client = client_through(httpx.MockTransport(lambda _: httpx.Response(200, json=body)), fake_store)
        with pytest.raises(Refused, match=reason) as caught:
            sign_in_with_token_info(client, "OauthNG.JWS.some-token")
        assert caught.value.status == 401

    def test_wix_down_is_a_503_and_the_token_is_in_no_log_line(self, wix, caplog) -> None:
        token = dashboard_token(wix)
        fake_control(
            wix, "POST", "faults", json={"status": 500, "pathPrefix": "/oauth2/token-info", "count": 9}
        )
        with caplog.at_level(logging.DEBUG):
            refused = refusal(wix, token)
        assert refused.status == 503 and "Wix does not answer" in refused.message
        assert token not in caplog.text and token.split(".")[-1] not in caplog.text

    def test_a_token_wix_rejects_with_an_error_is_401_and_not_logged(self, fake_store, caplog) -> None:
        """Wix answering 400 INVALID_TOKEN (quoting the token back) is a refusal, not a 500."""
        token = "OauthNG.JWS.secret-part-of-the-token"
        error = {"message": f"bad token {token}", "details": {"applicationError": {"code": "INVALID_TOKEN"}}}
        client = client_through(httpx.MockTransport(lambda _: httpx.Response(400, json=error)), fake_store)
        with caplog.at_level(logging.DEBUG):
            refused = refusal(client, token)
        assert refused.status == 401 and token not in caplog.text and token not in refused.message

    def test_without_wix_credentials_a_token_is_a_503_naming_them(self) -> None:
        assert "WIX_APP_ID" in refusal(None, "OauthNG.JWS.x").message
        legacy = refusal(None, "a.b", Settings(redis_url="redis://unused", _env_file=None))  # type: ignore[call-arg]
        assert legacy.status == 503 and "WIX_APP_SECRET" in legacy.message


class TestTheRoute:
    @pytest.fixture
    def api(self, fake_async, fake_store, wix) -> TestClient:
        app = create_app(SETTINGS, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
        app.dependency_overrides[wix_for_request] = lambda: wix
        return TestClient(app, raise_server_exceptions=False)

    def test_a_dashboard_token_opens_home_and_a_forged_one_is_a_401_page(self, api, wix) -> None:
        home = api.get("/dashboard/", params={"instance": dashboard_token(wix, userId="owner-7")})
        assert home.status_code == 200 and f"<code>{SITE}</code>" in home.text and "owner-7" in home.text
        forged = api.get("/dashboard/", params={"instance": "OauthNG.JWS.forged"})
        assert forged.status_code == 401 and "not valid or has expired" in forged.text
        assert 'name="session"' not in forged.text


class TestLegacyInstanceAge:
    """A legacy signed instance is good for INSTANCE_MAX_AGE (ten minutes) after its `signDate`, and not
    past its `expirationDate`, whichever comes first (worker/console/sessions.py says why)."""

    NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

    def instance(self, signed_ago: timedelta, **extra: str) -> str:
        payload = {"instanceId": SITE, "appDefId": APP_ID, "signDate": (self.NOW - signed_ago).isoformat()}
        return sign_instance({**payload, "uid": "owner-1", **extra}, APP_SECRET)

    def test_ten_minutes_and_no_more(self) -> None:
        fresh = sign_in_from_wix(self.instance(timedelta(minutes=9, seconds=59)), SETTINGS, None, self.NOW)
        assert fresh == WixSignIn(SITE, "owner-1")
        with pytest.raises(Refused, match="has expired") as caught:
            sign_in_from_wix(self.instance(timedelta(minutes=10, seconds=1)), SETTINGS, None, self.NOW)
        assert caught.value.status == 403

    def test_a_later_expiration_date_does_not_stretch_the_age_and_a_past_one_ends_it_early(self) -> None:
        later = (self.NOW + timedelta(hours=4)).isoformat()
        with pytest.raises(Refused, match="has expired"):
            sign_in_from_wix(
                self.instance(timedelta(minutes=11), expirationDate=later), SETTINGS, None, self.NOW
            )
        past = (self.NOW - timedelta(seconds=1)).isoformat()
        with pytest.raises(Refused, match="has expired"):
            sign_in_from_wix(
                self.instance(timedelta(seconds=5), expirationDate=past), SETTINGS, None, self.NOW
            )
