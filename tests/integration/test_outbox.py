"""No reward stays pending: the reward log and its follow-ups' intents are committed together, and
whatever the web process could not send (a broken broker, a SIGKILL between commit and send) is sent by
a duplicate request or by the relay, for real: uvicorn, a Celery worker, Redis and the fake Wix."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.conftest import (
    APP_ID,
    FakeWixProcess,
    Stack,
    challenge_log,
    record_log,
    service_stack,
    start_web,
    wait_for,
)
from tests.integration.shop import INSTANCE, collection, signing_key, wix_env
from worker import keys
from worker.rewards.fulfilment import coupon_code
from worker.store.api_keys import create_api_key
from worker.store.progress import ProgressStore


@pytest.fixture
def site(shop_env: dict[str, str], real_redis: Any) -> tuple[ProgressStore, dict[str, str]]:
    """The shop in a clean fake Wix (tests/integration/shop.py) and an API key for the records API."""
    return ProgressStore(real_redis), {"authorization": f"Bearer {create_api_key(real_redis, INSTANCE)}"}


@pytest.fixture
def worker(shop_env: dict[str, str], site: Any) -> Iterator[Stack]:
    with service_stack(shop_env, web=False) as workers:
        yield workers


def spend(contact: str, uid: str) -> dict[str, str]:
    """$60 towards the shop's spend-50 challenge: its coupon milestone."""
    return challenge_log(contact, "spend-50", "60", uid)


def execute_challenge(base: str, fake_wix: FakeWixProcess, params: dict[str, Any]) -> httpx.Response:
    """The Wix action, signed as Wix signs it (the fake's key, the app id as audience)."""
    now = int(time.time())
    claims = {
        "data": {
            "request": {"actionKey": "execute-challenge", "actionParams": params, "activationContext": {}},
            "metadata": {"requestId": str(uuid.uuid4()), "instanceId": INSTANCE},
        },
        "aud": APP_ID,
        "iss": "wix.com",
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode(claims, signing_key(fake_wix), algorithm="RS256")
    return httpx.post(f"{base}/wix/actions/v1/invoke", content=token, timeout=10)


def relay_now() -> None:
    """The beat entry's task, sent to the real worker, told that every intent is due."""
    from worker.runtime.celery_app import app

    app.send_task("periodic.relay_outbox", kwargs={"min_age_seconds": 0}, queue="periodic")


def coupon_creations(fake_wix: FakeWixProcess) -> int:
    counts = fake_wix.control("GET", "calls", params={"instanceId": INSTANCE})["counts"]
    return int(counts.get("POST /stores/v2/coupons", 0))


def issued(store: ProgressStore, reward_log_id: str) -> bool:
    reward_log = store.reward_log(INSTANCE, reward_log_id)
    return reward_log is not None and reward_log["status"] == "issued"


def assert_one_coupon(fake_wix: FakeWixProcess, store: ProgressStore, reward_log_id: str) -> None:
    coupons = collection(fake_wix, "coupons")
    assert [c["specification"]["code"] for c in coupons] == [coupon_code(reward_log_id)]
    assert store.reward_log(INSTANCE, reward_log_id)["couponCode"] == coupon_code(reward_log_id)  # type: ignore[index]


def settle(store: ProgressStore, contact: str) -> None:
    """Wait until every intent is taken and the rewards queue is empty, then a moment for the last task."""
    client = store.client
    wait_for(
        lambda: not client.exists(keys.member_outbox(INSTANCE, contact)) and client.llen("rewards") == 0,
        60,
        "every follow-up to be taken",
    )
    time.sleep(2)


class TestNoRewardStaysPending:
    def test_a_send_broken_right_after_the_commit_is_issued_once_when_sending_works(
        self, fake_wix, redis_url, site, worker
    ) -> None:
        """The web's broker refuses: 201 and a pending reward, nothing sent, a duplicate still cannot send;
        on a web that can send, the client's retry (409) sends it, and one coupon is created."""
        store, key = site
        broken, broken_base = start_web(
            wix_env(fake_wix, redis_url, CELERY_CONFIG_MODULE="tests.integration.broken_broker_config")
        )
        contact = f"contact-{uuid.uuid4()}"
        try:
            first = record_log(broken_base, key, spend(contact, "o-1"))
            assert first.status_code == 201
            reward_log_id = first.json()["achievedMilestoneRewardLog"]["id"]
            assert record_log(broken_base, key, spend(contact, "o-1")).status_code == 409
            assert broken.saw("could not send")
        finally:
            broken.stop()
        time.sleep(2)  # a worker that had been sent anything would be at it by now
        assert store.reward_log(INSTANCE, reward_log_id)["status"] == "pending"  # type: ignore[index]
        assert coupon_creations(fake_wix) == 0
        assert store.client.hexists(keys.member_outbox(INSTANCE, contact), f"fulfil:{reward_log_id}")

        web, base = start_web(wix_env(fake_wix, redis_url))
        try:
            assert record_log(base, key, spend(contact, "o-1")).status_code == 409
            wait_for(lambda: issued(store, reward_log_id), 60, "the retry's send to issue the coupon")
            settle(store, contact)
            relay_now()  # nothing is left to relay
            time.sleep(2)
            assert_one_coupon(fake_wix, store, reward_log_id)
            assert coupon_creations(fake_wix) == 1
            reports = sorted(r["triggerKey"] for r in collection(fake_wix, "triggerReports"))
            assert reports == ["milestone_achieved", "reward_issued"]
        finally:
            web.stop()

    def test_a_web_process_killed_between_commit_and_send_is_issued_once_by_the_relay(
        self, fake_wix, redis_url, site, worker
    ) -> None:
        """SIGKILL right after the MULTI (test hook): the action's caller gets no answer and nothing was
        sent; the relay task sends the committed intents and the coupon is created once; the web,
        restarted, answers Wix's retry as a duplicate and creates nothing more."""
        store, _ = site
        doomed, doomed_base = start_web(wix_env(fake_wix, redis_url, WRW_TEST_CRASH_AFTER_COMMIT="1"))
        contact = f"contact-{uuid.uuid4()}"
        params = spend(contact, "o-2")
        with pytest.raises(httpx.HTTPError):
            execute_challenge(doomed_base, fake_wix, params)
        wait_for(lambda: doomed.popen.poll() is not None, 10, "the web process to die")
        doomed.kill_group()
        [reward_log] = store.member_reward_logs(INSTANCE, contact)
        time.sleep(2)
        assert store.reward_log(INSTANCE, reward_log["id"])["status"] == "pending"  # type: ignore[index]
        assert coupon_creations(fake_wix) == 0

        relay_now()
        wait_for(lambda: issued(store, reward_log["id"]), 60, "the relay's send to issue the coupon")
        settle(store, contact)
        web, base = start_web(wix_env(fake_wix, redis_url))
        try:
            answer = execute_challenge(base, fake_wix, params)
            assert answer.status_code == 200
            assert answer.json()["result"]["duplicate"] is True
            time.sleep(2)
            assert_one_coupon(fake_wix, store, reward_log["id"])
            assert coupon_creations(fake_wix) == 1
        finally:
            web.stop()

    def test_redeliveries_throughout_yield_one_coupon(self, fake_wix, redis_url, site) -> None:
        """Two workers; Wix slow to answer the coupon; the request repeated over REST and the action, the
        relay run again and again, fulfilment sent by hand: one coupon, one report of each trigger."""
        store, key = site
        env = wix_env(fake_wix, redis_url)
        fake_wix.control(
            "POST",
            "faults",
            json={"count": 2, "delaySeconds": 2, "when": "after", "pathPrefix": "/stores/v2/coupons"},
        )
        contact = f"contact-{uuid.uuid4()}"
        with service_stack(env, worker_args=("--concurrency=2",)) as stack:
            base = stack.base_url
            first = record_log(base, key, spend(contact, "o-3"))
            reward_log_id = first.json()["achievedMilestoneRewardLog"]["id"]
            from worker.runtime.celery_app import app

            for round_ in range(3):
                assert record_log(base, key, spend(contact, "o-3")).status_code == 409
                assert execute_challenge(base, fake_wix, spend(contact, "o-3")).json()["result"]["duplicate"]
                relay_now()
                app.send_task(
                    "rewards.fulfil_reward",
                    kwargs={"instance_id": INSTANCE, "reward_log_id": reward_log_id},
                    queue="rewards",
                )
                if round_ == 1:
                    stack.add_worker()
            wait_for(lambda: issued(store, reward_log_id), 60, "the coupon to be issued")
            settle(store, contact)
            assert_one_coupon(fake_wix, store, reward_log_id)
            reports = sorted(r["triggerKey"] for r in collection(fake_wix, "triggerReports"))
            assert reports == ["milestone_achieved", "reward_issued"]
