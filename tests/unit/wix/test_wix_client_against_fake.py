"""The Wix client against the fake Wix, for what Wix's own SDK packages say (wix-facts.md §8): no 409 for
"already exists", no scope on free shipping, string coupon times, a description on every earn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.rewards.fulfilment import coupon_specification
from worker.wix.client import DEFAULT_EARN_DESCRIPTION, WixAlreadyExists, WixApiError, WixClient
from worker.wix.events import normalize
from worker.wix.fake import create_app as create_fake_wix
from worker.wix.fake.state import FakeSettings, FakeWix

APP_ID = "7d3f0c52-0000-4000-8000-0000000000a1"
APP_SECRET = "fake-secret"
INSTANCE = "inst-sdk"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def fake_wix() -> FakeWix:
    return FakeWix(FakeSettings(app_id=APP_ID, app_secret=APP_SECRET))


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def wix(fake_wix, fake_store, sent) -> Iterator[WixClient]:
    fake_app = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        """The fake Wix in process (TestClient refuses per-request timeouts, which WixClient sets)."""
        sent.append(request)
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET)
    yield client
    client.close()


def reward_log(coupon: dict[str, Any]) -> dict[str, Any]:
    return {"id": "rl_0123456789abcdef01234567", "reward": {"type": "coupon", "coupon": coupon}}


def bodies(sent: list[httpx.Request], path: str) -> list[Any]:
    return [json.loads(request.content) for request in sent if request.url.path == path]


class TestCoupons:
    def test_a_free_shipping_coupon_carries_no_scope_and_is_made(self, wix, fake_wix, sent) -> None:
        """A free-shipping reward's specification has no scope and string times; the fake takes it."""
        spec = coupon_specification(reward_log({"name": "Free shipping"}), "RW-FREESHIP1", NOW)
        assert "scope" not in spec and spec["freeShipping"] is True
        assert isinstance(spec["startTime"], str) and isinstance(spec["expirationTime"], str)
        wix.create_coupon(INSTANCE, spec)
        [stored] = fake_wix.peek(INSTANCE).coupons.values()
        assert stored["specification"]["type"] == "FreeShipping"
        assert bodies(sent, "/stores/v2/coupons")[0]["specification"]["startTime"] == spec["startTime"]

    def test_a_discount_coupon_keeps_its_store_scope(self) -> None:
        """A percent-off reward without a minimum subtotal is scoped to the store, as before."""
        spec = coupon_specification(reward_log({"name": "5% off", "percentOffRate": 5}), "RW-PCT", NOW)
        assert spec["scope"] == {"namespace": "stores"}

    def test_a_taken_code_is_recognised_by_lookup_not_by_status(self, wix, fake_wix) -> None:
        """The fake refuses a taken code with a 400 (not 409); the client looks the code up and raises
        `WixAlreadyExists` carrying the coupon that has it."""
        spec = coupon_specification(reward_log({"name": "5% off", "percentOffRate": 5}), "RW-TAKEN1", NOW)
        coupon_id = wix.create_coupon(INSTANCE, spec)
        with pytest.raises(WixAlreadyExists) as caught:
            wix.create_coupon(INSTANCE, {**spec, "startTime": str(int(NOW.timestamp() * 1000) + 60_000)})
        assert caught.value.status == 400
        assert caught.value.existing["id"] == coupon_id
        assert caught.value.existing["specification"]["startTime"] == spec["startTime"]

    def test_a_refusal_for_another_reason_stands(self, wix) -> None:
        """A refused specification whose code no coupon has is the plain `WixApiError`."""
        spec = coupon_specification(reward_log({"name": "Free shipping"}), "RW-SCOPED1", NOW)
        with pytest.raises(WixApiError) as caught:
            wix.create_coupon(INSTANCE, {**spec, "scope": {"namespace": "stores"}})
        assert not isinstance(caught.value, WixAlreadyExists)
        assert caught.value.status == 400


class TestLoyaltyAccounts:
    def test_an_existing_account_is_recognised_by_lookup_not_by_status(self, wix) -> None:
        """The fake refuses a second account with a 400 (not 409); the client finds it by contact."""
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        with pytest.raises(WixAlreadyExists) as caught:
            wix.create_loyalty_account(INSTANCE, "c-1")
        assert caught.value.status == 400
        assert caught.value.existing["id"] == account["id"]

    def test_a_refusal_without_an_account_stands(self, wix, fake_wix) -> None:
        """A contact Wix does not know: the refusal is raised as it is, not as "already exists"."""
        fake_wix.settings.require_contacts = True
        with pytest.raises(WixApiError) as caught:
            wix.create_loyalty_account(INSTANCE, "c-unknown")
        assert not isinstance(caught.value, WixAlreadyExists)
        assert caught.value.status == 404


class TestEarnPoints:
    @pytest.mark.parametrize("description", ["", "   "])
    def test_an_empty_description_is_never_sent(self, wix, sent, description: str) -> None:
        """Wix requires 1-100 characters: an empty description becomes the default, and the fake takes it."""
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        wix.earn_points(INSTANCE, account["id"], 5, description, "key-1")
        [body] = bodies(sent, f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points")
        assert body["description"] == DEFAULT_EARN_DESCRIPTION


class TestTiers:
    """Loyalty tiers as `@wix/auto_sdk_loyalty_tiers` defines them, and the account's `tier`."""

    TIERS = {
        "baseTierDefinition": {"name": "Bronze"},
        "tiers": [
            {"tierDefinition": {"name": "Gold"}, "requiredPoints": 300},
            {"tierDefinition": {"name": "Silver"}, "requiredPoints": 100},
        ],
    }

    def set_up(self, fake_wix: FakeWix, body: dict[str, Any]) -> dict[str, Any]:
        control = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")
        answer = control.put(f"/_fake/instances/{INSTANCE}/tiers", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def earn(self, wix: WixClient, account_id: str, amount: int, key: str) -> dict[str, Any]:
        return wix.earn_points(INSTANCE, account_id, amount, "tier test", key).account

    def test_a_site_without_tiers_has_none_and_its_accounts_no_tier(self, wix, fake_wix) -> None:
        """Never set up: no tiers, default DISABLED settings; accounts carry no `tier`; no webhook."""
        program = wix.get_tiers_program(INSTANCE)
        assert program["tiers"] == []
        assert program["programSettings"]["status"] == "DISABLED"
        assert program["programSettings"]["rollingWindow"] == {"durationInMonths": 12}
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        assert "tier" not in self.earn(wix, account["id"], 150, "k-1")
        assert fake_wix.peek(INSTANCE).webhooks == []

    def test_points_earned_move_the_account_up_and_each_change_is_posted(self, wix, fake_wix) -> None:
        """150 points: Silver; 200 more: Gold. Each earn's account_points_updated carries the tier, and
        the worker reads it from the webhook."""
        tiers = self.set_up(fake_wix, self.TIERS)["tiers"]
        silver, gold = (tier["id"] for tier in tiers)
        assert [t["tierDefinition"]["name"] for t in wix.get_tiers_program(INSTANCE)["tiers"]] == [
            "Silver",
            "Gold",
        ]
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        assert self.earn(wix, account["id"], 150, "k-1")["tier"]["id"] == silver
        after = self.earn(wix, account["id"], 200, "k-2")
        assert (after["tier"]["id"], after["tier"]["points"]) == (gold, 350)
        posted = [w["payload"] for w in fake_wix.peek(INSTANCE).webhooks]
        assert [p["actionEvent"]["body"]["account"]["tier"]["id"] for p in posted] == [silver, gold]
        event = normalize(
            event_type="wix.loyalty.v1.account_points_updated", instance_id=INSTANCE,
            event_id=posted[1]["id"], payload=posted[1], our_app_id=APP_ID,
        )  # fmt: skip
        assert event.account is not None and event.account.tier is not None
        assert (event.account.tier.id, event.account.tier.points, event.account.revision) == (gold, 350, "3")

    def test_only_points_within_the_rolling_window_count(self, wix, fake_wix) -> None:
        """Points earned 13 months ago fall out of a 12-month window: the member is back in the base
        tier (no `id`) at the next recalculation."""
        self.set_up(fake_wix, self.TIERS)
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        assert "id" in self.earn(wix, account["id"], 150, "k-1")["tier"]
        fake_wix.peek(INSTANCE).transactions[0]["createdDate"] = "2020-01-01T00:00:00.000Z"
        assert self.earn(wix, account["id"], 10, "k-2")["tier"] == {
            "points": 10,
            "updatedDate": fake_wix.peek(INSTANCE).accounts[account["id"]]["updatedDate"],
        }

    def test_tiers_not_active_give_no_tier(self, wix, fake_wix) -> None:
        self.set_up(fake_wix, {**self.TIERS, "status": "PAUSED"})
        account = wix.create_loyalty_account(INSTANCE, "c-1")
        assert "tier" not in self.earn(wix, account["id"], 150, "k-1")

    def test_a_bad_set_up_is_refused(self, fake_wix) -> None:
        control = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")
        same = {"tiers": [{"tierDefinition": {"name": n}, "requiredPoints": 100} for n in ("A", "B")]}
        assert control.put(f"/_fake/instances/{INSTANCE}/tiers", json=same).status_code == 400
