"""The Loyalty Program API (seed 003): our Wix client against the fake Wix in process, and the fake held to
what `@wix/auto_sdk_loyalty_programs` says (field names, limits, read-only fields, no body on enable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from worker.wix.client import LoyaltyAppNotInstalled, WixApiError, WixClient, safe_to_repeat
from worker.wix.envelope import parse_envelope
from worker.wix.events import normalize
from worker.wix.fake import create_app as create_fake_wix
from worker.wix.fake.state import FakeSettings, FakeWix

APP_ID = "7d3f0c52-0000-4000-8000-0000000000a1"
APP_SECRET = "fake-secret"
INSTANCE = "inst-program"
PROGRAM_PATH = "/loyalty-programs/v1/program"


@pytest.fixture
def fake_wix(private_key: Any) -> FakeWix:
    return FakeWix(FakeSettings(app_id=APP_ID, app_secret=APP_SECRET), private_key)


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def fake_app(fake_wix: FakeWix) -> TestClient:
    return TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")


@pytest.fixture
def wix(fake_app: TestClient, fake_store: Any, sent: list[httpx.Request]) -> Iterator[WixClient]:
    def through_the_fake(request: httpx.Request) -> httpx.Response:
        """The fake Wix in process (TestClient refuses per-request timeouts, which WixClient sets)."""
        sent.append(request)
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET, sleep=lambda _: None)
    yield client
    client.close()


def program_calls(sent: list[httpx.Request]) -> list[tuple[str, str, Any]]:
    """(method, path, body) of each program call the client made."""
    return [
        (r.method, r.url.path, json.loads(r.content) if r.content else None)
        for r in sent
        if r.url.path.startswith(PROGRAM_PATH)
    ]


def seed(fake_app: TestClient, **program: Any) -> None:
    assert fake_app.put(f"/_fake/instances/{INSTANCE}/program", json=program).status_code == 200


def wix_patch(fake_app: TestClient, wix: WixClient, body: Any) -> httpx.Response:
    """A PATCH as raw as Wix would get it (what the client never sends)."""
    token = wix._token(INSTANCE)
    return fake_app.patch(PROGRAM_PATH, json=body, headers={"Authorization": token})  # type: ignore[return-value]


class TestGet:
    def test_the_program_comes_whole(self, wix) -> None:
        """Get answers Wix's program object: name, points, status, expiration, premium features, dates."""
        program = wix.get_loyalty_program(INSTANCE)
        assert program["status"] == "ACTIVE"
        assert program["pointDefinition"]["customName"] == "Points"
        assert program["pointsExpiration"] == {
            "status": "DISABLED",
            "monthsOfInactivity": 3,
            "expiringPointsPercentage": 100,
        }
        assert program["premiumFeatures"] == {"loyaltyProgram": True, "tiers": True, "pointsExpiration": True}
        assert {"name", "createdDate", "updatedDate"} <= program.keys()

    def test_premium_features_are_three_booleans(self, wix, fake_app) -> None:
        """Premium features answer `loyaltyProgram`, `tiers`, `pointsExpiration` at the top level."""
        seed(fake_app, premiumFeatures={"loyaltyProgram": True, "tiers": False, "pointsExpiration": False})
        assert wix.get_loyalty_program_premium_features(INSTANCE) == {
            "loyaltyProgram": True,
            "tiers": False,
            "pointsExpiration": False,
        }


class TestUpdate:
    def test_only_the_given_fields_are_sent_and_changed(self, wix, sent) -> None:
        """A new points name goes as `pointDefinition.customName` alone; the icon and the name stay."""
        before = wix.get_loyalty_program(INSTANCE)
        after = wix.update_loyalty_program(INSTANCE, points_name="Stars")
        assert program_calls(sent)[-1] == (
            "PATCH",
            PROGRAM_PATH,
            {"loyaltyProgram": {"pointDefinition": {"customName": "Stars"}}},
        )
        assert after["pointDefinition"] == {**before["pointDefinition"], "customName": "Stars"}
        assert after["name"] == before["name"]

    def test_name_icon_and_expiration_settings_change(self, wix) -> None:
        """Name, icon and the expiration's months and percentage change together; its status does not."""
        program = wix.update_loyalty_program(
            INSTANCE,
            name="Star Loyalty Program",
            icon={"url": "shapes/star.svg"},
            months_of_inactivity=6,
            expiring_points_percentage=50,
        )
        assert program["name"] == "Star Loyalty Program"
        assert program["pointDefinition"]["icon"]["url"] == "shapes/star.svg"
        assert program["pointsExpiration"] == {
            "status": "DISABLED",
            "monthsOfInactivity": 6,
            "expiringPointsPercentage": 50,
        }
        assert wix.get_loyalty_program(INSTANCE)["name"] == "Star Loyalty Program"

    @pytest.mark.parametrize("status", ["ACTIVE", "PAUSED", "DRAFT"])
    def test_an_update_keeps_the_status(self, wix, fake_app, status: str) -> None:
        """An update never activates, pauses or drafts a program: an ACTIVE program stays ACTIVE."""
        seed(fake_app, status=status)
        assert wix.update_loyalty_program(INSTANCE, name="Renamed")["status"] == status

    def test_nothing_to_change_sends_nothing(self, wix, sent) -> None:
        """An update with no field is refused before Wix is called."""
        with pytest.raises(ValueError, match="at least one field"):
            wix.update_loyalty_program(INSTANCE)
        assert program_calls(sent) == []

    def test_a_patch_is_tried_again_in_place_after_a_500(self, wix, fake_app, sent) -> None:
        """Setting the same fields again does nothing twice, so a 500 is followed by a second try."""
        fault = {"count": 1, "status": 500, "pathPrefix": PROGRAM_PATH, "method": "PATCH"}
        assert fake_app.post("/_fake/faults", json=fault).status_code == 200
        assert wix.update_loyalty_program(INSTANCE, name="Second try")["name"] == "Second try"
        assert [call[0] for call in program_calls(sent)] == ["PATCH", "PATCH"]

    def test_every_program_change_is_safe_to_repeat(self) -> None:
        """Each program call sets a state: the client may repeat it after a lost answer."""
        for method, suffix in [
            ("PATCH", ""),
            ("POST", "/activate"),
            ("POST", "/pause"),
            ("POST", "/points-expiration/enable"),
            ("POST", "/points-expiration/disable"),
        ]:
            assert safe_to_repeat(method, PROGRAM_PATH + suffix, {})


class TestFakeUpdateValidation:
    @pytest.mark.parametrize(
        ("program", "field"),
        [
            ({"name": "X"}, "loyaltyProgram.name"),
            ({"name": "N" * 51}, "loyaltyProgram.name"),
            ({"pointDefinition": {"customName": "S" * 21}}, "loyaltyProgram.pointDefinition.customName"),
            ({"pointDefinition": {"icon": {"url": 7}}}, "loyaltyProgram.pointDefinition.icon.url"),
            (
                {"pointsExpiration": {"monthsOfInactivity": 13}},
                "loyaltyProgram.pointsExpiration.monthsOfInactivity",
            ),
            (
                {"pointsExpiration": {"expiringPointsPercentage": 0}},
                "loyaltyProgram.pointsExpiration.expiringPointsPercentage",
            ),
        ],
    )
    def test_a_value_out_of_wixs_limits_is_a_400_that_changes_nothing(
        self, wix, fake_app, program: dict[str, Any], field: str
    ) -> None:
        """Wix's limits (name 2-50, points name up to 20, months 1-12, percentage 1-100) give a 400
        validation error naming the field; a valid field beside it is not applied either."""
        before = wix.get_loyalty_program(INSTANCE)
        answer = wix_patch(fake_app, wix, {"loyaltyProgram": {**program, "name": program.get("name", "Ok!")}})
        assert answer.status_code == 400
        violations = answer.json()["details"]["validationError"]["fieldViolations"]
        assert [v["field"] for v in violations] == [field]
        assert wix.get_loyalty_program(INSTANCE) == before

    def test_the_loyalty_program_is_required(self, wix, fake_app) -> None:
        """`loyaltyProgram` is the request's one required field."""
        answer = wix_patch(fake_app, wix, {"name": "Flat"})
        assert answer.status_code == 400
        [violation] = answer.json()["details"]["validationError"]["fieldViolations"]
        assert violation["field"] == "loyaltyProgram" and violation["violatedRule"] == "REQUIRED_FIELD"

    def test_read_only_fields_are_ignored(self, wix, fake_app) -> None:
        """Status, dates, premium features and the expiration's status are read-only: sent, they change
        nothing (an update cannot activate a program)."""
        seed(fake_app, status="DRAFT")
        before = wix.get_loyalty_program(INSTANCE)
        body = {
            "loyaltyProgram": {
                "status": "ACTIVE",
                "createdDate": "2020-01-01T00:00:00.000Z",
                "premiumFeatures": {"tiers": False},
                "pointsExpiration": {"status": "ENABLED"},
            }
        }
        assert wix_patch(fake_app, wix, body).status_code == 200
        assert wix.get_loyalty_program(INSTANCE) == before


class TestStatus:
    def test_a_draft_is_activated_then_paused_then_activated(self, wix, fake_app) -> None:
        """DRAFT → ACTIVE → PAUSED → ACTIVE, each call answering the program."""
        seed(fake_app, status="DRAFT")
        assert wix.activate_loyalty_program(INSTANCE)["status"] == "ACTIVE"
        assert wix.pause_loyalty_program(INSTANCE)["status"] == "PAUSED"
        assert wix.activate_loyalty_program(INSTANCE)["status"] == "ACTIVE"

    def test_a_draft_cannot_be_paused(self, wix, fake_app) -> None:
        """Pausing a DRAFT program is a 428 FAILED_PRECONDITION (UNCONFIRMED), not a missing app."""
        seed(fake_app, status="DRAFT")
        with pytest.raises(WixApiError) as caught:
            wix.pause_loyalty_program(INSTANCE)
        assert caught.value.status == 428 and caught.value.code == "FAILED_PRECONDITION"
        assert not isinstance(caught.value, LoyaltyAppNotInstalled)


class TestPointsExpiration:
    def test_enable_and_disable_take_no_body(self, wix, sent) -> None:
        """Enable and disable switch `pointsExpiration.status` and keep its settings; Wix's requests
        for them are empty."""
        wix.update_loyalty_program(INSTANCE, months_of_inactivity=12)
        enabled = wix.enable_points_expiration(INSTANCE)["pointsExpiration"]
        assert enabled == {"status": "ENABLED", "monthsOfInactivity": 12, "expiringPointsPercentage": 100}
        assert wix.disable_points_expiration(INSTANCE)["pointsExpiration"]["status"] == "DISABLED"
        bodies = [body for method, _, body in program_calls(sent) if method == "POST"]
        assert bodies == [{}, {}]

    def test_without_the_premium_feature_enable_is_refused(self, wix, fake_app) -> None:
        """A site whose plan lacks points expiration cannot enable it (428, UNCONFIRMED)."""
        seed(fake_app, premiumFeatures={"loyaltyProgram": True, "tiers": True, "pointsExpiration": False})
        with pytest.raises(WixApiError) as caught:
            wix.enable_points_expiration(INSTANCE)
        assert caught.value.status == 428
        assert wix.get_loyalty_program(INSTANCE)["pointsExpiration"]["status"] == "DISABLED"


class TestLoyaltyAppNotInstalled:
    @pytest.mark.parametrize(
        "call",
        [
            "get_loyalty_program",
            "activate_loyalty_program",
            "pause_loyalty_program",
            "enable_points_expiration",
            "disable_points_expiration",
            "get_loyalty_program_premium_features",
        ],
    )
    def test_every_call_says_the_app_is_missing(self, wix, fake_app, call: str) -> None:
        """Without the Wix Loyalty Program app the program routes answer 404: the client raises
        `LoyaltyAppNotInstalled` (still a 404 `WixApiError`), saying what the merchant must do."""
        assert fake_app.put(f"/_fake/instances/{INSTANCE}/loyalty-app", json={"installed": False}).is_success
        with pytest.raises(LoyaltyAppNotInstalled) as caught:
            getattr(wix, call)(INSTANCE)
        assert caught.value.status == 404
        assert "Loyalty Program app must be installed" in caught.value.message

    def test_an_update_says_so_too(self, wix, fake_app) -> None:
        """An update on a site without the app raises `LoyaltyAppNotInstalled`."""
        assert fake_app.put(f"/_fake/instances/{INSTANCE}/loyalty-app", json={"installed": False}).is_success
        with pytest.raises(LoyaltyAppNotInstalled):
            wix.update_loyalty_program(INSTANCE, name="Nobody home")

    @pytest.mark.parametrize(
        ("status", "code", "missing"),
        [(403, "APP_NOT_INSTALLED", True), (428, "FAILED_PRECONDITION", False), (404, None, True)],
    )
    def test_a_refusal_that_speaks_of_installing_counts_too(
        self, fake_store, status: int, code: str | None, missing: bool
    ) -> None:
        """Wix documents no error for a missing app: a 404, or any refusal whose code speaks of
        installing, is `LoyaltyAppNotInstalled`; another refusal stays itself."""

        def wix_answers(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/oauth2/token":
                return httpx.Response(200, json={"access_token": "token", "expires_in": 14400})
            details = {"applicationError": {"code": code, "description": "no"}} if code else {}
            return httpx.Response(status, json={"message": "refused", "details": details})

        http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(wix_answers))
        client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET)
        with client, pytest.raises(WixApiError) as caught:
            client.activate_loyalty_program(INSTANCE)
        assert isinstance(caught.value, LoyaltyAppNotInstalled) is missing
        assert caught.value.status == status and caught.value.code == code

    def test_installing_the_app_starts_a_draft(self, wix, fake_app) -> None:
        """The app installed again starts a new program in DRAFT, as Wix's docs say."""
        for installed in (False, True):
            answer = fake_app.put(f"/_fake/instances/{INSTANCE}/loyalty-app", json={"installed": installed})
            assert answer.status_code == 200
        assert wix.get_loyalty_program(INSTANCE)["status"] == "DRAFT"


class TestProgramUpdatedWebhook:
    def webhooks(self, fake_wix: FakeWix) -> list[dict[str, Any]]:
        return fake_wix.peek(INSTANCE).webhooks

    def test_a_change_is_followed_by_a_signed_program_updated(self, wix, fake_wix, public_key_pem) -> None:
        """After a pause the fake signs a `wix.loyalty.v1.program_updated` webhook carrying the program,
        which our envelope parser and normalizer read as the PAUSED program."""
        wix.pause_loyalty_program(INSTANCE)
        [record] = self.webhooks(fake_wix)
        assert record["eventType"] == "wix.loyalty.v1.program_updated"
        claims = jwt.decode(record["token"], public_key_pem, algorithms=["RS256"])
        envelope = parse_envelope(claims, record["token"].encode())
        assert envelope.instance_id == INSTANCE and envelope.event_type == record["eventType"]
        event = normalize(
            event_type=envelope.event_type,
            instance_id=envelope.instance_id,
            event_id=envelope.event_id,
            payload=json.loads(envelope.data),
        )
        assert event.name == "program_updated"
        assert event.program is not None and event.program.status == "PAUSED"
        assert record["payload"]["updatedEvent"]["currentEntity"]["status"] == "PAUSED"
        assert record["payload"]["entityFqdn"] == "wix.loyalty.v1.program"

    def test_each_change_sends_one_and_no_change_sends_none(self, wix, fake_wix) -> None:
        """Update, pause, activate, enable, disable: one webhook each; activating an ACTIVE program or
        setting a name it already has sends none."""
        wix.activate_loyalty_program(INSTANCE)
        assert self.webhooks(fake_wix) == []
        wix.update_loyalty_program(INSTANCE, name="New name")
        wix.update_loyalty_program(INSTANCE, name="New name")
        wix.pause_loyalty_program(INSTANCE)
        wix.activate_loyalty_program(INSTANCE)
        wix.enable_points_expiration(INSTANCE)
        wix.disable_points_expiration(INSTANCE)
        statuses = [
            (w["payload"]["updatedEvent"]["currentEntity"]["status"], w["payload"]["id"])
            for w in self.webhooks(fake_wix)
        ]
        assert [status for status, _ in statuses] == ["ACTIVE", "PAUSED", "ACTIVE", "ACTIVE", "ACTIVE"]
        assert len({event_id for _, event_id in statuses}) == 5

    def test_without_a_webhook_url_nothing_is_posted(self, wix, fake_wix) -> None:
        """With no `webhookUrl` the webhook is kept for read-back, never posted."""
        wix.pause_loyalty_program(INSTANCE)
        [record] = self.webhooks(fake_wix)
        assert record["url"] is None and record["attempts"] == 0
