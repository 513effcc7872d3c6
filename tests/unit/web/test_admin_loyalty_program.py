"""The admin routes to a site's Wix loyalty program (`/admin/v1/instances/{id}/loyalty-program`), on
fakeredis, with the fake Wix in process as the Wix client's transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from worker import keys
from worker.dispatch import RecordedDispatcher
from worker.loyalty.points_gate import park_earns, points_wait_reason
from worker.loyalty.points_rules import PointsEarn
from worker.settings import Settings
from worker.web import wix_dependency
from worker.web.app import create_app
from worker.wix.client import WixClient
from worker.wix.fake import FakeSettings, FakeWix
from worker.wix.fake import create_app as create_fake_app

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "unit-fake-secret"
INSTANCE = "inst-lp"
ADMIN = {"authorization": "Bearer admin-secret"}
BASE = f"/admin/v1/instances/{INSTANCE}/loyalty-program"


@pytest.fixture
def fake_wix(private_key: Any) -> FakeWix:
    return FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key)


@pytest.fixture
def fake_app(fake_wix: FakeWix) -> TestClient:
    return TestClient(create_fake_app(fake_wix), base_url="https://www.wixapis.test")


@pytest.fixture
def wix(fake_app: TestClient, fake_store: Any) -> Iterator[WixClient]:
    def through_the_fake(request: httpx.Request) -> httpx.Response:
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET, sleep=lambda _: None)
    yield client
    client.close()


@pytest.fixture
def dispatcher() -> RecordedDispatcher:
    return RecordedDispatcher()


def make_app(
    fake_async: Any, fake_store: Any, wix: WixClient | None, follow_ups: RecordedDispatcher
) -> FastAPI:
    settings = Settings(_env_file=None, redis_url="redis://unused", admin_token="admin-secret")  # type: ignore[call-arg]
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=follow_ups)
    app.dependency_overrides[wix_dependency.wix_for_request] = lambda: wix
    return app


@pytest.fixture
def client(fake_async: Any, fake_store: Any, wix: WixClient, dispatcher: RecordedDispatcher) -> TestClient:
    return TestClient(make_app(fake_async, fake_store, wix, dispatcher))


def wix_program(fake_app: TestClient) -> dict[str, Any]:
    answer = fake_app.get(f"/_fake/instances/{INSTANCE}/program")
    return answer.json()["program"]  # type: ignore[no-any-return]


def seed(fake_app: TestClient, **program: Any) -> None:
    assert fake_app.put(f"/_fake/instances/{INSTANCE}/program", json=program).status_code == 200


def program_calls(fake_app: TestClient) -> int:
    calls = fake_app.get("/_fake/calls").json()["counts"]
    return sum(n for endpoint, n in calls.items() if "/loyalty-programs/" in endpoint)


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]  # type: ignore[no-any-return]


class TestAuth:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", ""), ("PATCH", ""), ("POST", "/activate"), ("POST", "/points-expiration/enable")],
    )
    def test_no_admin_token_no_wix_call(self, client, fake_app, method: str, path: str) -> None:
        """Without the admin token: 401, and Wix is not called."""
        assert (
            error_of(client.request(method, BASE + path, json={"name": "Xy"}), 401)["code"] == "unauthorized"
        )
        assert program_calls(fake_app) == 0

    def test_an_instance_id_that_breaks_out_is_refused(self, client, fake_app) -> None:
        """An instance id outside the identifier rule is a 422 before Wix is called."""
        assert client.get("/admin/v1/instances/a:b%7Bc%7D/loyalty-program", headers=ADMIN).status_code == 422
        assert program_calls(fake_app) == 0


class TestRead:
    def test_get_answers_wixs_program_and_notes_it(self, client, fake_app, fake_store) -> None:
        """GET answers the program as Wix has it; its status goes to the points gate and its copy
        to the members' progress cache."""
        seed(fake_app, status="PAUSED")
        answer = client.get(BASE, headers=ADMIN)
        assert answer.status_code == 200
        assert answer.json() == {"instanceId": INSTANCE, "loyaltyProgram": wix_program(fake_app)}
        assert points_wait_reason(fake_store, INSTANCE) is not None
        assert json.loads(fake_store.get(keys.loyalty_program_copy(INSTANCE)))["status"] == "PAUSED"

    def test_premium_features(self, client, fake_app) -> None:
        """Premium features: the three booleans Wix answers."""
        seed(fake_app, premiumFeatures={"loyaltyProgram": True, "tiers": False, "pointsExpiration": True})
        answer = client.get(f"{BASE}/premium-features", headers=ADMIN)
        assert answer.json() == {
            "instanceId": INSTANCE,
            "premiumFeatures": {"loyaltyProgram": True, "tiers": False, "pointsExpiration": True},
        }


class TestUpdate:
    def test_name_points_name_and_icon_change(self, client, fake_app, fake_store) -> None:
        """PATCH changes what it gives; the answer is Wix's program; an ACTIVE program stays ACTIVE; our
        copy of the program is the new one."""
        body = {
            "name": "Star Loyalty Program",
            "pointDefinition": {"customName": "Stars", "icon": {"url": "shapes/star.svg"}},
        }
        answer = client.patch(BASE, json=body, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        program = answer.json()["loyaltyProgram"]
        assert program == wix_program(fake_app)
        assert program["name"] == "Star Loyalty Program" and program["status"] == "ACTIVE"
        assert program["pointDefinition"]["customName"] == "Stars"
        assert program["pointDefinition"]["icon"]["url"] == "shapes/star.svg"
        assert (
            json.loads(fake_store.get(keys.loyalty_program_copy(INSTANCE)))["name"] == "Star Loyalty Program"
        )

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"name": "X"}, "body.name"),
            ({"pointDefinition": {"customName": "S" * 21}}, "body.pointDefinition.customName"),
            ({"pointDefinition": {"icon": {}}}, "body.pointDefinition.icon"),
            ({"pointsExpiration": {"monthsOfInactivity": 13}}, "body.pointsExpiration.monthsOfInactivity"),
            (
                {"pointsExpiration": {"expiringPointsPercentage": True}},
                "body.pointsExpiration.expiringPointsPercentage",
            ),
            ({"status": "ACTIVE"}, "body.status"),
            ({"name": "Fine", "colour": "red"}, "body.colour"),
            ({}, "body"),
        ],
    )
    def test_a_bad_update_is_422_and_wix_is_not_called(self, client, fake_app, body: Any, path: str) -> None:
        """Wix's limits, the read-only status, unknown fields, an empty update: 422 naming the field."""
        error = error_of(client.patch(BASE, json=body, headers=ADMIN), 422)
        assert error["code"] == "invalid_request"
        assert path in [problem["path"] for problem in error["details"]]
        assert program_calls(fake_app) == 0

    def test_the_status_is_refused_with_where_to_go(self, client) -> None:
        """Sending a status says to use activate or pause."""
        error = error_of(client.patch(BASE, json={"status": "ACTIVE"}, headers=ADMIN), 422)
        assert "activate" in error["details"][0]["message"]


class TestStatus:
    def test_pause_holds_points_and_activate_releases_them(self, client, fake_store, dispatcher) -> None:
        """After a pause the points gate holds points at once (no webhook needed); after activate, what
        waited is sent, with its idempotency key."""
        assert client.post(f"{BASE}/pause", headers=ADMIN).json()["loyaltyProgram"]["status"] == "PAUSED"
        assert points_wait_reason(fake_store, INSTANCE) is not None
        earn = PointsEarn("c-1", 7, "wix:checkout:k:0", "Points for a checkout")
        park_earns(fake_store, INSTANCE, [earn])
        assert client.post(f"{BASE}/activate", headers=ADMIN).json()["loyaltyProgram"]["status"] == "ACTIVE"
        assert points_wait_reason(fake_store, INSTANCE) is None
        assert dispatcher.earns == [(INSTANCE, earn)]
        assert fake_store.hlen(keys.points_waiting(INSTANCE)) == 0

    def test_a_draft_cannot_be_paused(self, client, fake_app) -> None:
        """Wix's 428 for pausing a DRAFT program is a 409 `wix_refused` with Wix's status and code."""
        seed(fake_app, status="DRAFT")
        error = error_of(client.post(f"{BASE}/pause", headers=ADMIN), 409)
        assert error["code"] == "wix_refused"
        assert error["details"]["wixStatus"] == 428 and error["details"]["wixCode"] == "FAILED_PRECONDITION"


class TestPointsExpiration:
    def test_enable_with_settings_then_disable(self, client, fake_app) -> None:
        """Enable takes the months and percentage (set on the program first, as Wix's enable has no body),
        then disable turns it off and keeps them."""
        body = {"monthsOfInactivity": 6, "expiringPointsPercentage": 50}
        answer = client.post(f"{BASE}/points-expiration/enable", json=body, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        expected = {"status": "ENABLED", "monthsOfInactivity": 6, "expiringPointsPercentage": 50}
        assert answer.json()["loyaltyProgram"]["pointsExpiration"] == expected
        assert wix_program(fake_app)["pointsExpiration"] == expected
        answer = client.post(f"{BASE}/points-expiration/disable", headers=ADMIN)
        assert answer.json()["loyaltyProgram"]["pointsExpiration"] == {**expected, "status": "DISABLED"}

    def test_enable_without_a_body_keeps_the_settings(self, client, fake_app) -> None:
        """No body: only the status changes."""
        answer = client.post(f"{BASE}/points-expiration/enable", headers=ADMIN)
        assert answer.json()["loyaltyProgram"]["pointsExpiration"] == {
            "status": "ENABLED",
            "monthsOfInactivity": 3,
            "expiringPointsPercentage": 100,
        }

    def test_bad_settings_are_422(self, client, fake_app) -> None:
        """Months outside 1-12: 422, and Wix is not called."""
        answer = client.post(
            f"{BASE}/points-expiration/enable", json={"monthsOfInactivity": 0}, headers=ADMIN
        )
        assert error_of(answer, 422)["details"][0]["path"] == "body.monthsOfInactivity"
        assert program_calls(fake_app) == 0


class TestWixFailures:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", ""),
            ("PATCH", ""),
            ("POST", "/activate"),
            ("POST", "/pause"),
            ("POST", "/points-expiration/enable"),
            ("POST", "/points-expiration/disable"),
            ("GET", "/premium-features"),
        ],
    )
    def test_no_loyalty_app_is_a_clear_409(self, client, fake_app, method: str, path: str) -> None:
        """A site without the Wix Loyalty Program app: 409 `loyalty_app_not_installed` saying what to do."""
        assert fake_app.put(f"/_fake/instances/{INSTANCE}/loyalty-app", json={"installed": False}).is_success
        body = {"name": "Renamed"} if method == "PATCH" else None
        error = error_of(client.request(method, BASE + path, json=body, headers=ADMIN), 409)
        assert error["code"] == "loyalty_app_not_installed"
        assert "must be installed" in error["message"]

    def test_wix_failing_for_now_is_503_after_the_tries(self, client, fake_app) -> None:
        """Wix answering 500 to every try: 503 `wix_unavailable` with a retry delay, not a 500."""
        fault = {"count": 20, "status": 500, "pathPrefix": "/loyalty-programs/v1/program"}
        assert fake_app.post("/_fake/faults", json=fault).is_success
        error = error_of(client.post(f"{BASE}/activate", headers=ADMIN), 503)
        assert error["code"] == "wix_unavailable"
        assert error["details"]["retryAfter"] > 0
        assert program_calls(fake_app) > 1  # tried again in place first

    def test_wix_not_configured_is_503(self, fake_async, fake_store, dispatcher) -> None:
        """No Wix credentials: 503 `wix_not_configured`."""
        client = TestClient(make_app(fake_async, fake_store, None, dispatcher))
        assert error_of(client.get(BASE, headers=ADMIN), 503)["code"] == "wix_not_configured"
