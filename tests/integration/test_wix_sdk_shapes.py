"""WixClient against the fake Wix process over real HTTP, on what Wix's own SDK packages say (wix-facts.md
§8): "already exists" found by lookup, free shipping without a scope, earn and adjust answering their
transaction, and the Loyalty Transactions query."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.conftest import APP_ID, APP_SECRET, FakeWixProcess
from worker.infra.redis_client import sync_client
from worker.rewards.fulfilment import coupon_specification
from worker.wix.client import WixAlreadyExists, WixClient
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000c5d8"


@pytest.fixture
def wix(fake_wix: FakeWixProcess, real_redis, redis_url) -> Iterator[WixClient]:  # type: ignore[no-untyped-def]
    fake_wix.control("POST", "reset")
    http = httpx.Client(base_url=fake_wix.base_url, timeout=5)
    client = WixClient(http, sync_client(redis_url), app_id=APP_ID, app_secret=APP_SECRET)
    yield client
    client.close()


def test_a_free_shipping_reward_and_a_taken_code(wix: WixClient, fake_wix: FakeWixProcess) -> None:
    """A free-shipping coupon (no scope, string times) is made; the same code again is refused without a
    409 and recognised by the lookup, carrying the first coupon."""
    log = {"id": f"rl_{uuid.uuid4().hex[:24]}", "reward": {"type": "coupon", "coupon": {"name": "Ship"}}}
    spec = coupon_specification(log, "RW-SHIP-" + uuid.uuid4().hex[:6].upper(), datetime.now(UTC))
    coupon_id = wix.create_coupon(INSTANCE, spec)
    with pytest.raises(WixAlreadyExists) as caught:
        wix.create_coupon(INSTANCE, spec)
    assert caught.value.status != 409
    assert caught.value.existing["id"] == coupon_id
    [stored] = fake_wix.control("GET", f"instances/{INSTANCE}/coupons")["coupons"]
    assert stored["specification"]["type"] == "FreeShipping" and "scope" not in stored["specification"]


def test_an_existing_account_and_the_transactions_of_an_account(
    wix: WixClient, fake_wix: FakeWixProcess
) -> None:
    """A second account is found by lookup; earn and adjust answer their transaction ids (kept as ours),
    and the query answers the account's transactions newest first with who made them."""
    account = wix.create_loyalty_account(INSTANCE, "c-shapes")
    with pytest.raises(WixAlreadyExists) as caught:
        wix.create_loyalty_account(INSTANCE, "c-shapes")
    assert caught.value.existing["id"] == account["id"]
    earned = wix.earn_points(INSTANCE, account["id"], 10, "", "key-shapes-1")
    adjusted = wix.adjust_points(INSTANCE, account["id"], revision=str(earned.account["revision"]), amount=-3)
    path = f"instances/{INSTANCE}/accounts/{account['id']}/adjust"
    manual = fake_wix.control("POST", path, json={"amount": 1, "description": "Goodwill"})
    assert wix.is_own_transaction(INSTANCE, str(earned.transaction_id))
    assert wix.is_own_transaction(INSTANCE, str(adjusted.transaction_id))
    assert not wix.is_own_transaction(INSTANCE, manual["transactionId"])
    found = wix.query_loyalty_transactions(INSTANCE, account["id"])
    assert [t["id"] for t in found] == [
        manual["transactionId"],
        adjusted.transaction_id,
        earned.transaction_id,
    ]
    assert found[0]["adjustInfo"]["appId"] == WIX_LOYALTY_APP_ID
    assert found[1]["adjustInfo"]["appId"] == APP_ID
    assert (found[2]["earnInfo"]["appId"], found[2]["transactionType"]) == (APP_ID, "EARN")
    assert found[2]["description"]  # never empty
