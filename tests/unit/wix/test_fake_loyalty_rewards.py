"""The fake Wix's loyalty rewards and loyalty coupons (worker/wix/fake/loyalty_rewards.py), in the shapes of
`@wix/auto_sdk_loyalty_rewards` and `@wix/auto_sdk_loyalty_coupons`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker.wix.fake import FakeSettings, FakeWix, create_app

APP_ID = "11111111-2222-3333-4444-555555555555"
INSTANCE = "6b1e6a2c-0000-4000-8000-00000000f0a1"


@pytest.fixture
def fake(private_key: Any) -> FakeWix:
    return FakeWix(FakeSettings(APP_ID, "secret"), private_key)


@pytest.fixture
def client(fake: FakeWix) -> Iterator[TestClient]:
    with TestClient(create_app(fake)) as test_client:
        yield test_client


@pytest.fixture
def app_auth(client: TestClient) -> dict[str, str]:
    body = {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": "secret"}
    answer = client.post("/oauth2/token", json={**body, "instance_id": INSTANCE})
    return {"Authorization": answer.json()["access_token"]}


@pytest.fixture
def account(client: TestClient, app_auth: dict[str, str]) -> dict[str, Any]:
    """A site member's account holding 120 points, and a 10%-off reward for 100 seeded."""
    client.post(f"/_fake/instances/{INSTANCE}/members", json={"id": "m-1", "contactId": "c-1"})
    made = client.post("/loyalty-accounts/v1/accounts", json={"contactId": "c-1"}, headers=app_auth).json()
    earn = {"amount": 120, "description": "seed", "appId": APP_ID, "idempotencyKey": "k-1"}
    client.post(
        f"/loyalty-accounts/v1/accounts/{made['account']['id']}/earn-points", json=earn, headers=app_auth
    )
    reward = {"id": "r-1", "name": "10% off", "costInPoints": 100, "percentage": 10}
    assert client.post(f"/_fake/instances/{INSTANCE}/loyalty-rewards", json=reward).status_code == 200
    return made["account"]  # type: ignore[no-any-return]


class TestRewards:
    def test_list_and_query_answer_rewards_in_wixs_shape(self, client, app_auth, account) -> None:
        """The seeded reward reads back as a COUPON_REWARD with its cost per tier."""
        listed = client.get("/loyalty-rewards/v1/rewards", headers=app_auth).json()
        [reward] = listed["rewards"]
        assert reward["type"] == "COUPON_REWARD" and reward["active"] is True
        assert reward["couponReward"]["percentage"]["configsByTier"] == [
            {"tierId": None, "costInPoints": 100, "percentage": 10}
        ]
        query = {"query": {"filter": {"name": {"$eq": "10% off"}}}}
        assert client.post("/loyalty-rewards/v1/rewards/query", json=query, headers=app_auth).json()[
            "rewards"
        ] == [reward]


class TestRedeeming:
    def test_redeeming_spends_points_and_makes_a_coupon(self, client, app_auth, account, fake) -> None:
        """A REDEEM transaction of the cost, a Coupons v2 coupon, and a LoyaltyCoupon pointing at it."""
        body = {"rewardId": "r-1", "loyaltyAccountId": account["id"]}
        coupon = client.post("/loyalty-coupons/v1/coupons", json=body, headers=app_auth).json()["coupon"]
        state = fake.instance(INSTANCE)
        assert state.accounts[account["id"]]["points"]["balance"] == 20
        assert (
            state.transactions[-1]["transactionType"] == "REDEEM" and state.transactions[-1]["amount"] == 100
        )
        assert state.transactions[-1]["redeemInfo"]["rewardId"] == "r-1"
        assert coupon["transactionId"] == state.transactions[-1]["id"]
        assert (
            coupon["status"] == "ACTIVE" and coupon["rewardName"] == "10% off" and coupon["memberId"] == "m-1"
        )
        stored = state.coupons[coupon["couponReference"]["couponId"]]
        assert stored["specification"]["code"] == coupon["couponReference"]["code"]
        assert stored["specification"]["percentOffRate"] == 10

    def test_too_few_points_is_a_400_not_enough_points(self, client, app_auth, account, fake) -> None:
        """Nothing is spent or made."""
        body = {"rewardId": "r-1", "loyaltyAccountId": account["id"]}
        client.post("/loyalty-coupons/v1/coupons", json=body, headers=app_auth)
        answer = client.post("/loyalty-coupons/v1/coupons", json=body, headers=app_auth)
        assert answer.status_code == 400
        assert answer.json()["details"]["applicationError"]["code"] == "NOT_ENOUGH_POINTS"
        assert len(fake.instance(INSTANCE).loyalty_coupons) == 1

    def test_missing_fields_are_field_violations(self, client, app_auth) -> None:
        answer = client.post("/loyalty-coupons/v1/coupons", json={}, headers=app_auth)
        fields = {v["field"] for v in answer.json()["details"]["validationError"]["fieldViolations"]}
        assert answer.status_code == 400 and fields == {"rewardId", "loyaltyAccountId"}

    def test_a_member_redeems_and_lists_their_own_coupons(self, client, app_auth, account) -> None:
        """With a member's token: redeem-my-coupon, then my-coupons; an app token may not call them."""
        token = client.post(f"/_fake/instances/{INSTANCE}/member-tokens", json={"memberId": "m-1"}).json()
        member = {"Authorization": token["token"]}
        made = client.post(
            "/loyalty-coupons/v1/coupons/redeem-my-coupon", json={"rewardId": "r-1"}, headers=member
        )
        assert made.status_code == 200
        mine = client.get("/loyalty-coupons/v1/coupons/my-coupons", headers=member).json()["loyaltyCoupons"]
        assert [c["id"] for c in mine] == [made.json()["coupon"]["id"]]
        assert client.get("/loyalty-coupons/v1/coupons/my-coupons", headers=app_auth).status_code == 403

    def test_query_filters_by_account(self, client, app_auth, account) -> None:
        body = {"rewardId": "r-1", "loyaltyAccountId": account["id"]}
        client.post("/loyalty-coupons/v1/coupons", json=body, headers=app_auth)
        query = {"query": {"filter": {"accountId": {"$eq": account["id"]}}, "paging": {"limit": 10}}}
        answer = client.post("/loyalty-coupons/v1/coupons/query", json=query, headers=app_auth).json()
        assert answer["metadata"]["total"] == 1 and answer["loyaltyCoupons"][0]["accountId"] == account["id"]
        other = {"query": {"filter": {"accountId": {"$eq": "nobody"}}}}
        assert (
            client.post("/loyalty-coupons/v1/coupons/query", json=other, headers=app_auth).json()[
                "loyaltyCoupons"
            ]
            == []
        )
