"""The widget's *Spend points* routes, `GET /widget/v1/loyalty-rewards` and `POST /widget/v1/redeem`
(docs/widget-api.md), in process against the fake Wix."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.web.test_widget_api import (  # noqa: F401  # the fixtures, shared
    INSTANCE,
    app,
    bearer,
    client,
    fake_control,
    fake_wix,
    session,
    wix,
)
from worker import keys
from worker.loyalty import spending
from worker.wix.client import WixClient
from worker.wix.fake import FakeWix

pytestmark = pytest.mark.calendar
# ruff: noqa: F811  (the shared fixtures are parameters of the tests below)


@pytest.fixture
def member(client: TestClient, wix: WixClient) -> dict[str, str]:
    """A member's widget token headers; the member's account holds 150 points; a reward costs 100."""
    token = session(client, wix)["token"]
    account = wix.create_loyalty_account(INSTANCE, "c-1")
    wix.earn_points(INSTANCE, account["id"], 150, "seed", "seed-1")
    reward = {"id": "r-1", "name": "10% off", "costInPoints": 100, "percentage": 10}
    fake_control(wix, "POST", f"instances/{INSTANCE}/loyalty-rewards", json=reward)
    return bearer(token)


class TestSpendPoints:
    def test_lists_rewards_with_cost_and_balance(self, client, member) -> None:
        answer = client.get("/widget/v1/loyalty-rewards", headers=member)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["balance"] == 150 and body["coupons"] == []
        assert [(r["id"], r["costInPoints"]) for r in body["rewards"]] == [("r-1", 100)]

    def test_redeem_answers_the_code_once_per_request_id(self, client, member, fake_wix) -> None:
        """The same request id twice is one coupon; the code and new balance are answered."""
        body = {"rewardId": "r-1", "requestId": "req-0000000001"}
        first = client.post("/widget/v1/redeem", json=body, headers=member)
        second = client.post("/widget/v1/redeem", json=body, headers=member)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() and first.json()["balance"] == 50
        assert len(fake_wix.instance(INSTANCE).loyalty_coupons) == 1
        listed = client.get("/widget/v1/loyalty-rewards", headers=member).json()
        assert [c["code"] for c in listed["coupons"]] == [first.json()["coupon"]["code"]]

    def test_too_few_points_is_a_409_with_a_code(self, client, member) -> None:
        client.post(
            "/widget/v1/redeem", json={"rewardId": "r-1", "requestId": "req-0000000001"}, headers=member
        )
        answer = client.post(
            "/widget/v1/redeem", json={"rewardId": "r-1", "requestId": "req-0000000002"}, headers=member
        )
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "insufficient_points"
        assert answer.json()["error"]["details"] == {"costInPoints": 100, "balance": 50}

    @pytest.mark.parametrize(
        "body",
        [{}, {"rewardId": "r}1"}, {"rewardId": "r-1", "requestId": "a b"}, {"rewardId": "r-1", "x": 1}],
    )
    def test_a_bad_body_is_a_422(self, client, member, body: dict[str, Any]) -> None:
        answer = client.post("/widget/v1/redeem", json=body, headers=member)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"

    def test_no_widget_token_is_a_401(self, client) -> None:
        answer = client.post("/widget/v1/redeem", json={"rewardId": "r-1"})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token"


def written(store: Any, fake_wix: FakeWix) -> tuple[set[str], int, int]:
    """What a redemption could leave behind: Redis's keys, the member's Wix balance and coupon count."""
    [account] = fake_wix.instance(INSTANCE).accounts.values()
    coupons = len(fake_wix.instance(INSTANCE).loyalty_coupons)
    return set(store.scan_iter()), account["points"]["balance"], coupons


class TestRedeemBusy:
    def test_a_redemption_under_way_is_a_503_then_the_retry_redeems_once(
        self, client, member, fake_store, fake_wix, monkeypatch
    ) -> None:
        """While another redemption of the member's holds their lock, the request waits, then answers
        `503 redeem_busy` having spent nothing; once the lock is released the same request redeems, and
        again answers that coupon."""
        monkeypatch.setattr(spending, "LOCK_WAIT_SECONDS", 0.3)  # the route's 20 s wait, shortened
        lock = keys.member_redeem_lock(INSTANCE, "c-1")
        assert fake_store.set(lock, "another-redemption", nx=True, ex=spending.LOCK_TTL_SECONDS)
        before = written(fake_store, fake_wix)
        body = {"rewardId": "r-1", "requestId": "req-0000000001"}
        busy = client.post("/widget/v1/redeem", json=body, headers=member)
        assert busy.status_code == 503 and busy.headers["content-type"] == "application/json"
        assert busy.json()["error"]["code"] == "redeem_busy"
        assert written(fake_store, fake_wix) == before  # no coupon, no points spent, no record

        fake_store.delete(lock)  # the other redemption ends
        first = client.post("/widget/v1/redeem", json=body, headers=member)
        again = client.post("/widget/v1/redeem", json=body, headers=member)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json() and first.json()["balance"] == 50
        assert written(fake_store, fake_wix)[1:] == (50, 1)
