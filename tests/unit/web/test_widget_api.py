"""The storefront widget's API (`/widget/v1`, docs/widget-api.md) on fakeredis, with the fake Wix in
process as the Wix client's transport."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings, SettingsError
from worker.storefront.widget_tokens import mint_widget_token, verify_widget_token
from worker.web import widget
from worker.web.app import create_app
from worker.web.widget import WidgetScript
from worker.wix.client import WixClient
from worker.wix.fake import FakeSettings, FakeWix
from worker.wix.fake import create_app as create_fake_app

pytestmark = pytest.mark.calendar  # dates here must hold on any day: see tests/clock.py

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "unit-fake-secret"
SECRET = "widget-secret-of-at-least-32-bytes!!"
INSTANCE = "inst-w"
OTHER_INSTANCE = "inst-other"
ADMIN = {"authorization": "Bearer admin-secret"}
PROGRAM: dict[str, Any] = {
    **BASE_PROGRAM,
    "templates": [
        {"id": "shop", "defaultLocale": "en", "copy": {"en": {"title": "Club"}, "de": {"title": "Klub"}}}
    ],
}


@pytest.fixture
def fake_wix(private_key: Any) -> FakeWix:
    return FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key)


@pytest.fixture
def wix(fake_wix: FakeWix, fake_store: Any) -> Iterator[WixClient]:
    """Our Wix client talking to the in-process fake Wix (through a MockTransport: the TestClient
    refuses the per-request timeouts WixClient sets)."""
    fake_app = TestClient(create_fake_app(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET, max_rate_limit_wait=0)
    yield client
    client.close()


def make_app(fake_async: Any, fake_store: Any, wix: WixClient | None, **settings: Any) -> FastAPI:
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "admin_token": "admin-secret",
        "widget_token_secret": SECRET,
        **settings,
    }
    app = create_app(
        Settings(_env_file=None, **values),  # type: ignore[call-arg]
        async_redis=fake_async,
        store=fake_store,
        follow_ups=RecordedDispatcher(),
    )
    app.dependency_overrides[widget.wix_for_widget] = lambda: wix
    return app


@pytest.fixture
def app(fake_async: Any, fake_store: Any, wix: WixClient) -> FastAPI:
    return make_app(fake_async, fake_store, wix)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    client = TestClient(app)
    assert (
        client.put(f"/admin/v1/instances/{INSTANCE}/program", json=PROGRAM, headers=ADMIN).status_code == 200
    )
    return client


def fake_control(wix: WixClient, method: str, path: str, **kwargs: Any) -> Any:
    answer = wix._http.request(method, f"/_fake/{path}", **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def member_token(wix: WixClient, member_id: str = "m-1", contact_id: str = "c-1") -> str:
    """A Wix site token for a seeded member of INSTANCE, as the embedded script gets it."""
    fake_control(
        wix, "POST", f"instances/{INSTANCE}/members", json={"id": member_id, "contactId": contact_id}
    )
    answer = fake_control(wix, "POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": member_id})
    return str(answer["token"])


def session(client: TestClient, wix: WixClient) -> dict[str, Any]:
    answer = client.post("/widget/v1/session", headers={"authorization": f"Bearer {member_token(wix)}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class TestSession:
    def test_a_member_gets_a_widget_token_bound_to_instance_and_contact(self, client, wix) -> None:
        """Wix says member m-1; the Members API says contact c-1: the token carries both, 15 minutes."""
        answer = session(client, wix)
        assert {key: answer[key] for key in ("mode", "instanceId", "contactId", "memberId")} == {
            "mode": "member",
            "instanceId": INSTANCE,
            "contactId": "c-1",
            "memberId": "m-1",
        }
        claims = verify_widget_token(SECRET, answer["token"])
        assert (claims.instance_id, claims.contact_id, claims.member_id) == (INSTANCE, "c-1", "m-1")
        expires = datetime.fromisoformat(answer["expiresAt"])
        assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    def test_a_bare_wix_token_is_accepted_as_the_sdk_sends_it(self, client, wix) -> None:
        """`Authorization: <token>` without `Bearer` (Wix's fetchWithAuth) works like the Bearer form."""
        answer = client.post("/widget/v1/session", headers={"authorization": member_token(wix)})
        assert (answer.status_code, answer.json()["mode"]) == (200, "member")

    def test_a_visitor_is_a_guest(self, client, wix) -> None:
        """A visitor token is answered guest mode with the instance, and no token."""
        token = fake_control(wix, "POST", f"instances/{INSTANCE}/visitor-tokens", json={})["token"]
        answer = client.post("/widget/v1/session", headers=bearer(token), json={"accountId": INSTANCE})
        assert answer.status_code == 200
        assert answer.json() == {"mode": "guest", "instanceId": INSTANCE}

    @pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer"}, bearer("OauthNG.JWS.nonsense")])
    def test_no_token_or_one_wix_does_not_know_is_401(self, client, headers) -> None:
        """Missing, empty or unknown Wix token: 401 invalid_token in the contract's error shape."""
        answer = client.post("/widget/v1/session", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "invalid_token"

    def test_an_account_id_other_than_the_tokens_instance_is_403(self, client, wix) -> None:
        """The body's accountId is checked against what Wix says, never trusted."""
        answer = client.post(
            "/widget/v1/session", headers=bearer(member_token(wix)), json={"accountId": OTHER_INSTANCE}
        )
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "wrong_instance"

    def test_a_member_the_members_api_does_not_know_is_401(self, client, wix) -> None:
        """A member token for an unseeded member: Wix knows no contact, so no session."""
        token = fake_control(wix, "POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": "ghost"})
        answer = client.post("/widget/v1/session", headers=bearer(token["token"]))
        assert answer.status_code == 401

    def test_wix_down_is_503_not_a_500(self, client, wix) -> None:
        """token-info answering 500: 503 wix_unavailable, the client may try again."""
        token = member_token(wix)
        fake_control(wix, "POST", "faults", json={"status": 500, "pathPrefix": "/oauth2/token-info"})
        answer = client.post("/widget/v1/session", headers=bearer(token))
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "wix_unavailable"

    def test_without_the_secret_members_get_a_clear_503(self, fake_async, fake_store, wix) -> None:
        """No WIDGET_TOKEN_SECRET in development: member sessions answer 503 naming it; guests still work."""
        client = TestClient(make_app(fake_async, fake_store, wix, widget_token_secret=None))
        answer = client.post("/widget/v1/session", headers=bearer(member_token(wix)))
        assert answer.status_code == 503
        assert "WIDGET_TOKEN_SECRET" in answer.json()["error"]["message"]
        visitor = fake_control(wix, "POST", f"instances/{INSTANCE}/visitor-tokens", json={})["token"]
        assert client.post("/widget/v1/session", headers=bearer(visitor)).json()["mode"] == "guest"

    def test_production_requires_the_secret(self) -> None:
        """WORKER_ENV=production refuses to start without a 32-byte WIDGET_TOKEN_SECRET."""
        values = {"redis_url": "redis://x", "wix_public_key": "pem", "admin_token": "t"}
        for secret in (None, "too-short"):
            settings = Settings(
                worker_env="production",
                _env_file=None,
                widget_token_secret=secret,
                **values,  # type: ignore[arg-type]
            )
            with pytest.raises(SettingsError, match="WIDGET_TOKEN_SECRET"):
                settings.check_for_production()


class TestWidgetToken:
    def test_an_expired_token_is_401(self, client) -> None:
        """A token minted 16 minutes ago is refused."""
        token, _ = mint_widget_token(
            SECRET, INSTANCE, "c-1", "m-1", datetime.now(UTC) - timedelta(minutes=16)
        )
        answer = client.get("/widget/v1/me", headers=bearer(token))
        assert answer.status_code == 401
        assert answer.json()["error"] == {
            "code": "invalid_token",
            "message": "the widget token has expired: start a new session",
            "details": None,
        }

    def test_a_token_signed_with_another_secret_is_401(self, client) -> None:
        """Same claims, another deployment's secret: refused."""
        token, _ = mint_widget_token("x" * 40, INSTANCE, "c-1", "m-1", datetime.now(UTC))
        assert client.get("/widget/v1/me", headers=bearer(token)).status_code == 401

    def test_a_token_of_another_instance_is_401(self, client) -> None:
        """The widget of INSTANCE sends ?instance=; a token bound to another instance is refused."""
        token, _ = mint_widget_token(SECRET, OTHER_INSTANCE, "c-1", "m-1", datetime.now(UTC))
        answer = client.get("/widget/v1/me", params={"instance": INSTANCE}, headers=bearer(token))
        assert answer.status_code == 401
        assert "another instance" in answer.json()["error"]["message"]

    @pytest.mark.parametrize("headers", [{}, bearer("not.a.jwt")])
    def test_no_token_or_garbage_is_401(self, client, headers) -> None:
        """No widget token, or something that is not one: 401 invalid_token."""
        answer = client.get("/widget/v1/me", headers=headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_token")

    def test_a_wix_token_is_not_a_widget_token(self, client, wix) -> None:
        """The visitor's Wix token itself cannot read /me."""
        assert client.get("/widget/v1/me", headers=bearer(member_token(wix))).status_code == 401


def record(client: TestClient, key: dict[str, str], kind: str, item: str, uid: str, value: str = "1") -> None:
    body = {
        "contactId": "c-1",
        f"{kind}Id": item,
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": uid,
    }
    assert client.post(f"/schema/{kind}_log/record", json=body, headers=key).status_code == 201


class TestMe:
    @pytest.fixture
    def key(self, client: TestClient) -> dict[str, str]:
        answer = client.post(f"/admin/v1/instances/{INSTANCE}/api-keys", headers=ADMIN)
        return {"authorization": f"Bearer {answer.json()['apiKey']}"}

    def test_the_same_numbers_as_the_progress_api(self, client, wix, key) -> None:
        """After a streak log and 300 towards spend-500, /me shows what the progress API shows."""
        record(client, key, "streak", "weekly-shopper", "u-1")
        record(client, key, "challenge", "spend-500", "u-2", "300")
        me = client.get("/widget/v1/me", headers=bearer(session(client, wix)["token"])).json()
        progress = client.get("/v1/members/c-1/progress", headers=key).json()

        assert (me["instanceId"], me["contactId"]) == (INSTANCE, "c-1")
        [streak] = me["streaks"]  # the paused streak is not shown
        [weekly] = [s for s in progress["streaks"] if s["streakId"] == "weekly-shopper"]
        assert streak["currentRun"] == weekly["streakProgress"]["currentProgressValue"]
        assert streak["atRisk"] == weekly["streakProgress"]["at_risk"]
        assert (streak["periodValue"], streak["periodTarget"], streak["periodComplete"]) == (
            weekly["taskProgress"]["value"],
            weekly["taskProgress"]["target"],
            weekly["taskProgress"]["complete"],
        )
        assert streak["periodEndsAt"] == weekly["taskProgress"]["periodEndsAt"]
        assert streak["status"] == "active"
        assert streak["nextMilestone"]["id"] == "two-weeks"
        assert streak["nextMilestone"]["reward"] == {"type": "coupon", "summary": "5% off"}

        spend = next(c for c in me["challenges"] if c["id"] == "spend-500")
        [spend_progress] = [c for c in progress["challenges"] if c["challengeId"] == "spend-500"]
        assert (spend["value"], spend["target"]) == ("300", "500")
        assert spend["status"] == spend_progress["challengeProgress"]["status"]
        assert [(m["id"], m["achieved"]) for m in spend["milestones"]] == [("half", True), ("full", False)]

        assert [r["id"] for r in me["rewards"]] == [r["id"] for r in progress["rewardLogs"]]
        assert me["rewards"][0]["name"] == "Halfway"
        assert me["rewards"][0]["type"] == "manual"

    def test_points_come_from_the_members_wix_loyalty_account(self, client, wix) -> None:
        """A Wix account with 120 points: /me shows the balance and the program's points name."""
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        wix.earn_points(INSTANCE, account["id"], 120, "welcome", "welcome-c-1")
        fake_control(
            wix, "PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}}
        )
        me = client.get("/widget/v1/me", headers=bearer(session(client, wix)["token"])).json()
        assert me["points"] == {"balance": 120, "pointsName": "Stars", "expiration": None}

    def test_points_expiration_is_shown_in_the_members_progress(self, client, wix, key) -> None:
        """The program's points expiration (issue 6): as Wix has it in the progress API; in the widget
        while it is ENABLED."""
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        wix.earn_points(INSTANCE, account["id"], 40, "welcome", "welcome-c-1")
        policy = {"status": "ENABLED", "monthsOfInactivity": 12, "expiringPointsPercentage": 100}
        fake_control(wix, "PUT", f"instances/{INSTANCE}/program", json={"pointsExpiration": policy})

        progress = client.get("/v1/members/c-1/progress", headers=key).json()
        me = client.get("/widget/v1/me", headers=bearer(session(client, wix)["token"])).json()

        assert progress["points"]["balance"] == 40
        assert progress["points"]["pointsExpiration"] == policy
        assert me["points"]["expiration"] == policy

    def test_shoppers_opening_the_widget_do_not_spend_the_wix_budget(
        self, client, wix, key, fake_store, monkeypatch
    ) -> None:
        """Points are read from Wix once and then kept a short while; a points_updated webhook about the
        member drops the copy, so the next answer is Wix's new balance."""
        import json

        from tests import wix_samples
        from worker.events.processing import process_event
        from worker.store.journal import EventJournal

        account = wix.create_loyalty_account(INSTANCE, "c-1")
        wix.earn_points(INSTANCE, account["id"], 40, "welcome", "welcome-c-1")
        lookups: list[str] = []
        real_lookup = wix.get_loyalty_account_by_contact

        def counted(instance_id: str, contact_id: str) -> Any:
            lookups.append(contact_id)
            return real_lookup(instance_id, contact_id)

        monkeypatch.setattr(wix, "get_loyalty_account_by_contact", counted)
        token = session(client, wix)["token"]
        for _ in range(5):
            assert client.get("/widget/v1/me", headers=bearer(token)).json()["points"]["balance"] == 40
            assert client.get("/v1/members/c-1/progress", headers=key).json()["points"]["balance"] == 40
        assert lookups == ["c-1"]

        wix.earn_points(INSTANCE, account["id"], 10, "more", "more-c-1")
        payload = wix_samples.account_points_updated(event_id="evt-points")
        payload["actionEvent"]["body"]["account"].update(id=account["id"], contactId="c-1")
        process_event(
            EventJournal(fake_store, 3600), fake_store, event_type="wix.loyalty.v1.account_points_updated",
            instance_id=INSTANCE, event_id="evt-points", data=json.dumps(payload), our_app_id=APP_ID,
            claim_ttl_seconds=3600,
        )  # fmt: skip

        assert client.get("/widget/v1/me", headers=bearer(token)).json()["points"]["balance"] == 50
        assert lookups == ["c-1", "c-1"]

        wix.earn_points(INSTANCE, account["id"], 5, "ours", "rl_ours")  # a change we make drops it too
        assert client.get("/widget/v1/me", headers=bearer(token)).json()["points"]["balance"] == 55

    def test_no_loyalty_account_is_null_points(self, client, wix) -> None:
        """A member without a Wix loyalty account: points null, the rest answered."""
        answer = client.get("/widget/v1/me", headers=bearer(session(client, wix)["token"]))
        assert answer.status_code == 200
        assert answer.json()["points"] is None
        assert answer.headers["cache-control"] == "no-store"  # personal: kept by no cache

    def test_wix_failing_leaves_points_null_not_the_answer(self, client, wix) -> None:
        """Wix answers 503 on the loyalty query: /me is still 200, with points null."""
        token = session(client, wix)["token"]
        fake_control(wix, "POST", "faults", json={"status": 503, "pathPrefix": "/loyalty-accounts"})
        answer = client.get("/widget/v1/me", headers=bearer(token))
        assert answer.status_code == 200
        assert answer.json()["points"] is None
        assert len(answer.json()["streaks"]) == 1


class TestPublic:
    def get(self, client: TestClient, **params: str) -> Any:
        return client.get("/widget/v1/public", params={"instance": INSTANCE, "template": "shop", **params})

    def test_live_items_copy_theme_and_launcher(self, client) -> None:
        """Only live streaks and challenges; the merchant's copy over the built-ins; default theme."""
        body = self.get(client).json()
        assert body["locale"] == "en"
        assert body["copy"]["title"] == "Club"
        assert body["copy"]["close"] == "Close"
        assert body["theme"]["id"] == body["floatingWidget"]["id"] == "default"
        assert [s["id"] for s in body["streaks"]] == ["weekly-shopper"]
        [streak] = body["streaks"]
        assert (streak["period"], streak["target"], streak["completionTarget"]) == ("weekly", "1", 4)
        assert [m["reward"] for m in streak["milestones"]] == [
            {"type": "coupon", "summary": "5% off"},
            {"type": "points", "summary": "100 points"},
        ]
        launch = next(c for c in body["challenges"] if c["id"] == "launch-week")
        assert (launch["period"], launch["endsAt"]) == (None, "2026-11-08T23:00:00Z")
        spend = next(c for c in body["challenges"] if c["id"] == "spend-500")
        assert spend["endsAt"].endswith("Z")

    def test_locale_picks_the_language(self, client) -> None:
        """locale=de-CH answers the German copy (de), with built-in German for the keys it lacks."""
        body = self.get(client, locale="de-CH").json()
        assert (body["locale"], body["copy"]["title"], body["copy"]["close"]) == ("de", "Klub", "Schließen")

    def test_etag_and_304(self, client) -> None:
        """The answer carries an ETag and a 60-second public cache; If-None-Match answers 304."""
        first = self.get(client)
        assert first.headers["cache-control"] == "public, max-age=60"
        again = client.get(
            "/widget/v1/public",
            params={"instance": INSTANCE, "template": "shop"},
            headers={"if-none-match": first.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""
        assert self.get(client, locale="de").headers["etag"] != first.headers["etag"]

    def test_unknown_ids_are_404_naming_them(self, client) -> None:
        """An unknown theme is named; an instance without a program too."""
        answer = self.get(client, theme="summer")
        assert answer.status_code == 404
        assert answer.json()["error"]["details"] == {"theme": "summer"}
        assert self.get(client, instance="nobody").status_code == 404

    def test_a_missing_required_parameter_is_422(self, client) -> None:
        """No template: 422 in the contract's shape."""
        answer = client.get("/widget/v1/public", params={"instance": INSTANCE})
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_request"


class TestCors:
    def test_preflight_is_204_with_the_contracts_headers(self, client) -> None:
        """OPTIONS from a shop's origin: 204, any origin, GET/POST, Authorization and Content-Type."""
        answer = client.options(
            "/widget/v1/session",
            headers={
                "origin": "https://shop.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
        assert answer.headers["access-control-allow-headers"] == "Authorization, Content-Type"
        assert "access-control-allow-credentials" not in answer.headers

    def test_answers_and_errors_carry_the_origin_header(self, client) -> None:
        """A 200 and a 401 from /widget/v1 both allow any origin, so the widget can read the error."""
        origin = {"origin": "https://shop.example"}
        public = client.get(
            "/widget/v1/public", params={"instance": INSTANCE, "template": "shop"}, headers=origin
        )
        assert public.headers["access-control-allow-origin"] == "*"
        assert client.get("/widget/v1/me", headers=origin).headers["access-control-allow-origin"] == "*"

    def test_the_admin_api_stays_same_origin(self, client) -> None:
        """Neither a preflight nor a GET of the admin or records API gets CORS headers."""
        preflight = client.options(
            f"/admin/v1/instances/{INSTANCE}/program",
            headers={"origin": "https://evil.example", "access-control-request-method": "PUT"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code != 204
        got = client.get(
            f"/admin/v1/instances/{INSTANCE}/program", headers={**ADMIN, "origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in got.headers


SCRIPT = b"/* widget */ customElements.define('wix-rewards-widget', class extends HTMLElement {});\n" * 40


class TestScript:
    @pytest.fixture
    def script_client(self, app: FastAPI, tmp_path: Path) -> TestClient:
        path = tmp_path / "widget.js"
        path.write_bytes(SCRIPT)
        app.state.widget_script = WidgetScript.load(path)
        return TestClient(app)

    def test_brotli_gzip_or_plain_by_accept_encoding(self, script_client) -> None:
        """br preferred, then gzip, else identity; the same bytes each way; Vary: Accept-Encoding."""
        url = "/widget/v1/widget.js"
        br = script_client.get(url, headers={"accept-encoding": "gzip, br"})
        assert br.headers["content-encoding"] == "br"
        assert br.content == SCRIPT  # httpx decodes br (the brotli package is installed) and gzip
        assert int(br.headers["content-length"]) < len(SCRIPT) // 10
        gz = script_client.get(url, headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip"
        assert gz.content == SCRIPT
        assert int(gz.headers["content-length"]) < len(SCRIPT) // 10
        plain = script_client.get(url, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == SCRIPT
        for answer in (br, gz, plain):
            assert answer.headers["content-type"] == "application/javascript; charset=utf-8"
            assert answer.headers["vary"] == "Accept-Encoding"

    def test_the_compressed_bytes_are_smaller_and_decode_to_the_script(self) -> None:
        """What is kept is real gzip and brotli of the file."""
        script = WidgetScript(SCRIPT, gzip.compress(SCRIPT), brotli.compress(SCRIPT), "x")
        assert gzip.decompress(script.gzip) == brotli.decompress(script.brotli) == SCRIPT
        assert len(script.brotli) < len(SCRIPT) and len(script.gzip) < len(SCRIPT)

    def test_plain_url_short_cache_and_etag(self, script_client) -> None:
        """widget.js: 5 minutes, an ETag; If-None-Match answers 304."""
        answer = script_client.get("/widget/v1/widget.js")
        assert answer.headers["cache-control"] == "public, max-age=300"
        again = script_client.get("/widget/v1/widget.js", headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304

    def test_hashed_url_is_immutable_and_other_hashes_404(self, script_client) -> None:
        """widget.<first 16 hex of SHA-256>.js is cached for a year; another hash is a 404."""
        digest = hashlib.sha256(SCRIPT).hexdigest()[:16]
        answer = script_client.get(f"/widget/v1/widget.{digest}.js", headers={"accept-encoding": "identity"})
        assert answer.status_code == 200
        assert answer.content == SCRIPT
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert script_client.get("/widget/v1/widget.0123456789abcdef.js").status_code == 404

    def test_a_missing_file_answers_503_and_the_app_still_starts(
        self, fake_async, fake_store, tmp_path, monkeypatch
    ) -> None:
        """No widget.js on disk: the app is created and serves the rest; the script route is a 503."""
        monkeypatch.setattr(widget, "SCRIPT_PATH", tmp_path / "absent.js")
        monkeypatch.setattr(widget.install, "__defaults__", (tmp_path / "absent.js",))
        client = TestClient(make_app(fake_async, fake_store, None))
        answer = client.get("/widget/v1/widget.js")
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert client.get("/healthz").status_code == 200
