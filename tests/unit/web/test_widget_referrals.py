"""The widget's referral routes (`/widget/v1/referrals/...`) on fakeredis: the member's code, a claim,
and the clear 4xx answers of bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker.dispatch import RecordedDispatcher
from worker.loyalty import referral_claims, referral_records
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.storefront.widget_tokens import mint_widget_token
from worker.web.app import create_app

SECRET = "widget-secret-of-at-least-32-bytes!!"
INSTANCE = "inst-r"
ADMIN = {"authorization": "Bearer admin-secret"}
REFERRALS = {
    "referrerReward": {"type": "points", "points": 100},
    "friendReward": {"type": "coupon", "coupon": {"name": "10% off", "percentOffRate": 10}},
}


@pytest.fixture
def api(fake_async: Any, fake_store: Any) -> TestClient:
    settings = Settings(
        _env_file=None, redis_url="redis://unused", widget_token_secret=SECRET, admin_token="admin-secret"
    )  # type: ignore[call-arg]
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    ProgressStore(fake_store).save_program(INSTANCE, {"referrals": REFERRALS})
    return TestClient(app, raise_server_exceptions=False)


def bearer(contact_id: str, instance: str = INSTANCE) -> dict[str, str]:
    token, _ = mint_widget_token(SECRET, instance, contact_id, f"m-{contact_id}", datetime.now(UTC))
    return {"authorization": f"Bearer {token}"}


class TestMyReferral:
    def test_a_member_gets_their_code_and_the_rewards(self, api: TestClient) -> None:
        """The same code on every ask; the rewards as the widget shows them; no cache."""
        first = api.get("/widget/v1/referrals/me", headers=bearer("c-1"))
        assert first.status_code == 200
        body = first.json()
        assert body["enabled"] is True and body["param"] == "wrw_ref"
        assert (body["referrerReward"], body["friendReward"], body["holdDays"]) == (
            "100 points",
            "10% off",
            14,
        )
        assert api.get("/widget/v1/referrals/me", headers=bearer("c-1")).json()["code"] == body["code"]
        assert first.headers["cache-control"] == "no-store"
        assert first.headers["access-control-allow-origin"] == "*"

    def test_a_site_without_referrals_says_so_plainly(self, api: TestClient, fake_store: Any) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, {})
        answer = api.get("/widget/v1/referrals/me", headers=bearer("c-1"))
        assert (answer.status_code, answer.json()) == (200, {"enabled": False})

    def test_no_token_is_401(self, api: TestClient) -> None:
        assert api.get("/widget/v1/referrals/me").json()["error"]["code"] == "invalid_token"


class TestClaim:
    def test_a_friend_claims_a_code_without_learning_who_referred_them(self, api: TestClient) -> None:
        code = api.get("/widget/v1/referrals/me", headers=bearer("c-1")).json()["code"]
        answer = api.post("/widget/v1/referrals/claim", json={"code": code}, headers=bearer("c-2"))
        assert answer.status_code == 200
        assert answer.json()["status"] == "claimed" and answer.json()["claimed"] is True
        assert "c-1" not in answer.text

    @pytest.mark.parametrize(
        ("code", "status", "error"),
        [
            ("short", 422, "invalid_request"),
            ("has{brace}inside", 422, "invalid_request"),
            ("UnknownCode123", 404, "not_found"),
        ],
    )
    def test_bad_codes_are_clear_4xx(self, api: TestClient, code: str, status: int, error: str) -> None:
        answer = api.post("/widget/v1/referrals/claim", json={"code": code}, headers=bearer("c-2"))
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, error)

    def test_an_own_code_is_refused_with_the_reason(self, api: TestClient, fake_store: Any) -> None:
        code = referral_claims.member_code(fake_store, INSTANCE, "c-1")
        answer = api.post("/widget/v1/referrals/claim", json={"code": code}, headers=bearer("c-1"))
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "claim_refused"
        assert answer.json()["error"]["details"] == {"reason": "same_contact"}
        assert referral_records.referral_record(fake_store, INSTANCE, "c-1") is None

    def test_a_site_without_referrals_takes_no_claim(self, api: TestClient, fake_store: Any) -> None:
        code = referral_claims.member_code(fake_store, INSTANCE, "c-1")
        ProgressStore(fake_store).save_program(INSTANCE, {})
        answer = api.post("/widget/v1/referrals/claim", json={"code": code}, headers=bearer("c-2"))
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
        assert referral_records.referral_record(fake_store, INSTANCE, "c-2") is None


class TestCredentialsFirst:
    """The widget token is checked before the body or the query (worker.web.guards.AuthFirst): without a
    good one a bad request is 401, and nothing is claimed."""

    @pytest.mark.parametrize("body", [b'{"code": "not a code!"}', b"{not json", b'{"code": "ABC", "x": 1}'])
    def test_a_claim_without_a_token_is_401_whatever_its_body(
        self, api: TestClient, fake_store: Any, body: bytes
    ) -> None:
        before = sorted(fake_store.keys("*"))
        answer = api.post(
            "/widget/v1/referrals/claim", content=body, headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_token")
        assert sorted(fake_store.keys("*")) == before

    def test_with_a_token_the_same_bad_body_is_422(self, api: TestClient) -> None:
        answer = api.post(
            "/widget/v1/referrals/claim",
            content=b"{not json",
            headers={"content-type": "application/json", **bearer("c-2")},
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_request")

    @pytest.mark.parametrize("path", ["/widget/v1/referrals/me", "/widget/v1/me"])
    def test_an_over_long_instance_without_a_token_is_401(self, api: TestClient, path: str) -> None:
        answer = api.get(path, params={"instance": "i" * 201})
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_token")


class TestAdmin:
    def test_an_operator_reads_a_referral_with_its_decisions(self, api: TestClient, fake_store: Any) -> None:
        """`Bearer ADMIN_TOKEN`: the friend's record; 404 for a contact nobody referred; 401 without."""
        code = referral_claims.member_code(fake_store, INSTANCE, "c-1")
        referral_claims.claim(fake_store, INSTANCE, "c-2", code, datetime.now(UTC))
        path = f"/admin/v1/instances/{INSTANCE}/referrals"
        answer = api.get(f"{path}/c-2", headers=ADMIN)
        assert answer.status_code == 200
        assert (answer.json()["referrerId"], answer.json()["status"]) == ("c-1", "claimed")
        assert [entry["status"] for entry in answer.json()["history"]] == ["claimed"]
        assert api.get(f"{path}/c-3", headers=ADMIN).json()["error"]["code"] == "not_found"
        assert api.get(f"{path}/c-2").status_code == 401
