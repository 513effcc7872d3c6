"""Jobs and rewards through a fault storm: the fake Wix fails 30% of all calls at random, each on its own
(429, 500, or a timeout after doing the work), OAuth's included; a real worker, real Redis, real HTTP.

Nothing lost, nothing doubled, nothing stuck: every job ends `succeeded` with each item done once. The
budget is raised (the fake's limit off, ours at 10,000 a minute) so the tests measure correctness, not
Wix's 200 calls a minute; `make bench` measures the pace under the real limit.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    APP_ID,
    FakeWixProcess,
    Stack,
    run_job_from_cli,
    run_job_over_http,
    service_stack,
    wait_for,
)
from tests.integration.shop import INSTANCE, PROGRAM, collection, paid_order, paid_order_in_wix
from tests.integration.test_points_sync import external  # noqa: F401  # the fixture
from worker.rewards.fulfilment import coupon_code
from worker.store.progress import ProgressStore

RATE, SEED = 0.3, 42


def storm_env(fake_wix: FakeWixProcess, redis_url: str, **extra: str) -> dict[str, str]:
    return fake_wix.env(redis_url, WIX_RATE_LIMIT_PER_MINUTE="10000", WIX_TIMEOUT_SECONDS="2", **extra)


def storm(fake_wix: FakeWixProcess, seed: int = SEED) -> None:
    fake_wix.control("POST", "faults", json={"rate": RATE, "seed": seed})


def faults_seen(fake_wix: FakeWixProcess) -> Counter[str]:
    return Counter(fake_wix.control("GET", "faults")["random"]["counts"])


@pytest.fixture
def worker(calm_wix: FakeWixProcess, real_redis, redis_url) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    with service_stack(storm_env(calm_wix, redis_url), web=False) as workers:
        yield workers


def test_bootstrap_of_1000_contacts_opens_1000_accounts_once(calm_wix, worker, redis_url) -> None:
    """1,000 contacts at 30% faults: the job succeeds, 1,000 accounts, none twice, each counted once."""
    calm_wix.control("POST", f"instances/{INSTANCE}/contacts/bulk", json={"count": 1000})
    storm(calm_wix)
    job = run_job_from_cli(storm_env(calm_wix, redis_url), "bootstrap", INSTANCE, timeout=120)
    assert job["status"] == "succeeded", job
    accounts = collection(calm_wix, "accounts")
    assert len(accounts) == 1000
    assert len({account["contactId"] for account in accounts}) == 1000
    assert (job["total"], job["done"], job["skipped"], job["failed"]) == (1000, 1000, 0, 0)
    seen = faults_seen(calm_wix)
    assert min(seen["429"], seen["500"], seen["timeout"]) > 100, seen


def seed_members(fake_wix: FakeWixProcess, count: int) -> None:
    """`count` site members, each with a loyalty account and some points, made through the fake."""
    for n in range(count):
        fake_wix.control(
            "POST", f"instances/{INSTANCE}/members", json={"id": f"m-{n}", "contactId": f"c-{n}"}
        )
    with httpx.Client(base_url=fake_wix.base_url, headers=fake_wix.app_headers(INSTANCE), timeout=5) as wix:
        for n in range(count):
            answer = wix.post("/loyalty-accounts/v1/accounts", json={"contactId": f"c-{n}"})
            account = answer.json()["account"]
            earn = {"amount": n + 1, "description": "seed", "appId": APP_ID, "idempotencyKey": f"s-{n}"}
            wix.post(f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points", json=earn)


def test_monthly_messages_for_200_members_go_once_each_also_when_run_twice(
    calm_wix, worker, redis_url
) -> None:
    """200 members at 30% faults: 200 messages, one each, nobody recorded failed; a second run the same
    month sends nothing more."""
    seed_members(calm_wix, 200)
    storm(calm_wix)
    env = storm_env(calm_wix, redis_url)
    first = run_job_from_cli(env, "monthly-messages", INSTANCE, timeout=120)
    assert first["status"] == "succeeded", first
    assert (first["total"], first["done"], first["failed"]) == (200, 200, 0)
    assert sum(faults_seen(calm_wix).values()) > 100
    storm(calm_wix, seed=SEED + 1)
    again = run_job_from_cli(env, "monthly-messages", INSTANCE, timeout=120)
    assert again["status"] == "succeeded", again
    assert (again["done"], again["skipped"], again["failed"]) == (0, 200, 0)
    sent = Counter(message["participant"]["memberId"] for message in collection(calm_wix, "messages"))
    assert sent == Counter({f"m-{n}": 1 for n in range(200)})


@pytest.fixture
def web(calm_wix: FakeWixProcess, real_redis, redis_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    ProgressStore(real_redis).save_program(INSTANCE, PROGRAM)
    with service_stack(storm_env(calm_wix, redis_url), workers=0) as receiver:
        yield receiver.base_url


def test_catch_up_over_50_missed_orders_counts_each_once(calm_wix, web, worker, real_redis) -> None:
    """50 paid orders whose webhooks never came, at 30% faults: each counted once; a second run
    counts nothing."""
    store = ProgressStore(real_redis)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    contacts = [f"contact-{uuid.uuid4()}" for _ in range(50)]
    for contact in contacts:
        paid_order_in_wix(calm_wix, contact, "20.00")  # no webhook is sent
    storm(calm_wix)

    def run() -> dict[str, Any]:
        return run_job_over_http(web, INSTANCE, {"name": "catch-up", "since": since})

    first = run()
    assert (first["status"], first["done"], first["failed"]) == ("succeeded", 50, 0), first
    assert faults_seen(calm_wix)["429"] >= 1  # the seed fails the first orders search
    again = run()
    assert (again["status"], again["done"]) == ("succeeded", 0), again
    for contact in contacts:
        logs = store.member_state(INSTANCE, contact, "challenge", "spend-50").logs
        assert [str(log.activityValue) for log in logs] == ["20.00"], contact


def test_100_coupon_rewards_make_100_coupons(calm_wix, web, worker, real_redis) -> None:
    """100 members reach a coupon milestone at 30% faults: 100 coupons, one per reward log, each issued
    with its code, and each trigger reported once."""
    store = ProgressStore(real_redis)
    storm(calm_wix)
    contacts = [f"contact-{uuid.uuid4()}" for _ in range(100)]
    for contact in contacts:
        answer = httpx.post(f"{web}/webhooks/wix", content=paid_order(calm_wix, "60.00", contact), timeout=5)
        assert answer.status_code == 200

    def reward_logs() -> list[dict[str, Any]]:
        return [log for contact in contacts for log in store.member_reward_logs(INSTANCE, contact)]

    wait_for(lambda: len(reward_logs()) == 100, 60, "100 reward logs")
    wait_for(lambda: all(log["status"] == "issued" for log in reward_logs()), 90, "every coupon issued")
    codes = sorted(coupon["specification"]["code"] for coupon in collection(calm_wix, "coupons"))
    assert codes == sorted(coupon_code(log["id"]) for log in reward_logs())
    assert all(log["couponCode"] == coupon_code(log["id"]) for log in reward_logs())

    def reports() -> Counter[str]:
        return Counter(report["triggerKey"] for report in collection(calm_wix, "triggerReports"))

    expected = Counter({"order_paid": 100, "milestone_achieved": 100, "reward_issued": 100})
    wait_for(lambda: reports() == expected, 60, "each trigger reported once")
    assert sum(faults_seen(calm_wix).values()) > 100


def test_points_sync_both_ways_applies_and_sends_each_transaction_once(
    calm_wix,
    real_redis,
    redis_url,
    external,  # noqa: F811  # the fixture imported above
) -> None:
    """At 30% faults: 20 external earns and 10 adjustments reach Wix once each (the balance exact), and
    10 changes made in Wix reach the external system once each."""
    from tests.integration.test_points_sync import EMAIL, SECRET, post_points_updated
    from tests.integration.test_points_sync import INSTANCE as SYNC_INSTANCE
    from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID

    contact_id = str(uuid.uuid4())
    calm_wix.control("POST", f"instances/{SYNC_INSTANCE}/contacts", json={"id": contact_id, "email": EMAIL})
    env = storm_env(calm_wix, redis_url, EXTERNAL_SYNC_URL=external.url, EXTERNAL_SYNC_SECRET=SECRET)
    with service_stack(env) as stack:
        base = external.our_url = stack.base_url
        assert run_job_from_cli(env, "bootstrap", SYNC_INSTANCE)["status"] == "succeeded"
        storm(calm_wix)

        def send(transaction_id: str, amount: int) -> None:
            body = {"instanceId": SYNC_INSTANCE, "transactionId": transaction_id, "amount": amount,
                    "description": "sync", "email": EMAIL}  # fmt: skip
            assert external.send(body).status_code == 202

        def wix_transactions() -> list[dict[str, Any]]:
            path = f"instances/{SYNC_INSTANCE}/transactions"
            return list(calm_wix.control("GET", path)["transactions"])

        for n in range(20):
            send(f"ext-earn-{n}", 5)
        wait_for(lambda: len(wix_transactions()) >= 20, 60, "the earns to reach Wix")
        for n in range(10):
            send(f"ext-adjust-{n}", -2)
        wait_for(lambda: len(wix_transactions()) >= 30, 60, "the adjustments to reach Wix")

        [account] = calm_wix.control("GET", f"instances/{SYNC_INSTANCE}/accounts")["accounts"]
        kinds = Counter(transaction["transactionType"] for transaction in wix_transactions())
        assert (account["points"]["balance"], kinds) == (80, Counter({"EARN": 20, "ADJUST": 10}))
        earned = sorted(t["idempotencyKey"] for t in wix_transactions() if t["transactionType"] == "EARN")
        assert earned == sorted(f"ext-earn-{n}" for n in range(20))

        changes = [str(uuid.uuid4()) for _ in range(10)]
        for transaction_id in changes:
            latest = {"id": transaction_id, "amount": 1, "type": "ADJUST", "description": "",
                      "appId": WIX_LOYALTY_APP_ID, "createdDate": account["updatedDate"]}  # fmt: skip
            post_points_updated(calm_wix, base, {**account, "latestTransaction": latest})
        wait_for(lambda: len(external.received) >= 10, 60, "the Wix changes to reach the external system")
        sent = Counter(message["data"]["transaction"]["id"] for message in external.received)
        assert sent == Counter({transaction_id: 1 for transaction_id in changes})
        assert len(wix_transactions()) == 30  # the echoes changed nothing
        assert sum(faults_seen(calm_wix).values()) >= 10
