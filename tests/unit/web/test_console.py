"""The merchant console's routes under `/dashboard/` (worker/web/console/): who gets in, the session in
the page, CSRF on every POST, another site refused, the security headers, and the Home checklist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker import keys
from worker.console.sessions import mint_link, sign_instance
from worker.dispatch import ON_INSTALLED, RecordedDispatcher
from worker.settings import Settings
from worker.store import audit_log, instances
from worker.web.app import create_app

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "the-app-secret"
CONSOLE_SECRET = "console-secret-0123456789abcdef0123456789"
ADMIN_TOKEN = "admin-token"
SITE = "site-a"


def signed(**changes: Any) -> str:
    now = datetime.now(UTC)
    payload = {
        "instanceId": SITE,
        "appDefId": APP_ID,
        "signDate": now.isoformat(),
        "uid": "owner-1",
        **changes,
    }
    return sign_instance(payload, APP_SECRET)


@pytest.fixture
def follow_ups() -> RecordedDispatcher:
    return RecordedDispatcher()


@pytest.fixture
def api(fake_async, fake_store, follow_ups) -> TestClient:
    settings = Settings(
        redis_url="redis://unused",
        admin_token=ADMIN_TOKEN,
        wix_app_id=APP_ID,
        wix_app_secret=APP_SECRET,
        console_secret=CONSOLE_SECRET,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=follow_ups)
    return TestClient(app, raise_server_exceptions=False)


def tokens(html: str) -> tuple[str, str]:
    session = re.search(r'name="session" value="([^"]+)"', html)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert session and csrf, html
    return session.group(1), csrf.group(1)


def items(html: str) -> dict[str, str]:
    """Each checklist item's state, by its key."""
    return {key: state for state, key in re.findall(r'class="item (done|todo)" data-item="([^"]+)"', html)}


class TestWhoGetsIn:
    def test_a_wix_signed_instance_opens_the_sites_home(self, api) -> None:
        answer = api.get("/dashboard/", params={"instance": signed()})
        assert answer.status_code == 200
        assert "Set-up" in answer.text and f"<code>{SITE}</code>" in answer.text
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors https://manage.wix.com https://*.wix.com" in csp
        assert "default-src 'self'" in csp
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in answer.text  # no inline script: CSP would block it

    @pytest.mark.parametrize(
        "instance",
        [
            sign_instance(
                {"instanceId": SITE, "appDefId": APP_ID, "signDate": "2020-01-01T00:00:00Z"}, APP_SECRET
            ),
            sign_instance({"instanceId": SITE, "appDefId": "other-app"}, APP_SECRET),
            "forged." + signed().split(".")[1],
        ],
        ids=["expired", "another-app", "forged"],
    )
    def test_a_forged_expired_or_foreign_instance_is_a_403_page(self, api, instance: str) -> None:
        answer = api.get("/dashboard/", params={"instance": instance})
        assert answer.status_code == 403
        assert "Not allowed (403)" in answer.text and 'name="session"' not in answer.text
        assert "frame-ancestors" in answer.headers["content-security-policy"]

    def test_without_a_session_a_site_page_is_401(self, api) -> None:
        answer = api.get(f"/dashboard/sites/{SITE}/")
        assert answer.status_code == 401 and "no console session" in answer.text
        as_json = api.get(f"/dashboard/sites/{SITE}/", headers={"accept": "application/json"})
        assert as_json.status_code == 401
        assert as_json.json()["error"]["code"] == "unauthenticated"
        assert "no console session" in as_json.json()["error"]["message"]

    def test_a_link_opens_one_site(self, api) -> None:
        link = mint_link(CONSOLE_SECRET, SITE, datetime.now(UTC))
        answer = api.get("/dashboard/", params={"link": link})
        assert answer.status_code == 200 and f"<code>{SITE}</code>" in answer.text
        stale = mint_link(CONSOLE_SECRET, SITE, datetime.now(UTC) - timedelta(minutes=16))
        assert api.get("/dashboard/", params={"link": stale}).status_code == 401

    def test_an_operator_signs_in_with_the_admin_token_and_opens_any_site(self, api) -> None:
        assert 'action="/dashboard/signin"' in api.get("/dashboard/").text
        answer = api.post("/dashboard/signin", data={"admin_token": ADMIN_TOKEN, "instance_id": "site-b"})
        assert answer.status_code == 200 and "an operator" in answer.text
        session, _ = tokens(answer.text)
        assert api.get(f"/dashboard/sites/{SITE}/", params={"session": session}).status_code == 200
        wrong = api.post("/dashboard/signin", data={"admin_token": "wrong", "instance_id": SITE})
        assert wrong.status_code == 403

    def test_another_sites_id_in_the_url_is_refused(self, api) -> None:
        session, csrf = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
        answer = api.get("/dashboard/sites/site-b/", params={"session": session})
        assert answer.status_code == 403 and "another site" in answer.text
        posted = api.post("/dashboard/sites/site-b/bootstrap", data={"session": session, "csrf": csrf})
        assert posted.status_code == 403

    def test_a_removed_site_is_refused(self, api, fake_store) -> None:
        instances.record_installed(fake_store, SITE, datetime.now(UTC))
        instances.record_removed(fake_store, SITE, datetime.now(UTC))
        answer = api.get("/dashboard/", params={"instance": signed()})
        assert answer.status_code == 403 and "removed" in answer.text


class TestCsrf:
    def test_a_post_without_or_with_a_wrong_csrf_token_changes_nothing(
        self, api, follow_ups, fake_store
    ) -> None:
        session, _ = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
        for data in ({"session": session}, {"session": session, "csrf": "0" * 64}):
            answer = api.post(f"/dashboard/sites/{SITE}/bootstrap", data=data)
            assert answer.status_code == 403 and "CSRF" in answer.text
        assert follow_ups.jobs == [] and fake_store.get(keys.job_running(SITE, "bootstrap")) is None

    def test_the_htmx_headers_carry_session_and_csrf(self, api, follow_ups) -> None:
        session, csrf = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
        headers = {"x-console-session": session, "x-csrf-token": csrf, "hx-request": "true"}
        answer = api.post(f"/dashboard/sites/{SITE}/bootstrap", headers=headers)
        assert answer.status_code == 200 and "The bootstrap started." in answer.text
        assert [queue for _, queue in follow_ups.jobs] == ["bulk"]
        again = api.post(f"/dashboard/sites/{SITE}/bootstrap", headers=headers)
        assert "The bootstrap is running." in again.text and len(follow_ups.jobs) == 1


class TestHome:
    def test_a_new_site_has_everything_to_do(self, api) -> None:
        html = api.get("/dashboard/", params={"instance": signed()}).text
        assert set(items(html).values()) == {"todo"}
        assert list(items(html)) == ["program", "widget", "wix-program", "webhooks", "accounts"]
        assert "0 of 5 done." in html

    def test_the_checklist_reads_the_registry(self, api, fake_store) -> None:
        at = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
        instances.record_installed(fake_store, SITE, at)
        instances.record_embedding(fake_store, SITE, at, parameters={"instanceId": SITE})
        instances.record_wix_program(fake_store, SITE, "ACTIVE", at)
        instances.touch(fake_store, SITE, at + timedelta(hours=1))
        html = api.get("/dashboard/", params={"instance": signed()}).text
        state = items(html)
        assert (state["widget"], state["wix-program"], state["webhooks"]) == ("done", "done", "done")
        assert "The last event arrived at 2026-03-04T13:00:00" in html

    def test_embed_runs_the_install_completion_again(self, api, follow_ups) -> None:
        session, csrf = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
        answer = api.post(f"/dashboard/sites/{SITE}/embed", data={"session": session, "csrf": csrf})
        assert answer.status_code == 200
        assert follow_ups.resent == [(ON_INSTALLED, {"instance_id": SITE}, "rewards")]

    def test_a_change_is_in_the_audit_log_the_home_page_shows(self, api, fake_store) -> None:
        """Who asked for what, when: written by the POST, shown under "Recent changes" (Wix's uid)."""
        html = api.get("/dashboard/", params={"instance": signed()}).text
        assert "Nothing changed yet." in html
        session, csrf = tokens(html)
        api.post(f"/dashboard/sites/{SITE}/embed", data={"session": session, "csrf": csrf})
        [entry] = audit_log.recent(fake_store, SITE)
        assert entry["action"] == "embed_requested" and entry["who"] != ""
        html = api.get(f"/dashboard/sites/{SITE}/", params={"session": session}).text
        assert "embed requested" in html and entry["who"] in html

    def test_the_vendored_htmx_is_served_and_nothing_else(self, api) -> None:
        answer = api.get("/dashboard/static/htmx.min.js")
        assert answer.status_code == 200 and "htmx" in answer.text[:2000]
        assert api.get("/dashboard/static/..%2Fwidget.js").status_code == 404


def test_the_console_routes_stay_thin() -> None:
    """test_thin_routes reads worker/web/'s own modules; the console's routes keep the same limit."""
    from fastapi.routing import APIRoute

    from tests.unit.web.test_thin_routes import MAX_BODY_LINES, body_lines
    from worker.web.console.routes import router

    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) == 16  # 11, the Preview page and the Storefront page's 4
    assert {
        route.path: body_lines(route.endpoint)
        for route in routes
        if body_lines(route.endpoint) >= MAX_BODY_LINES
    } == {}
