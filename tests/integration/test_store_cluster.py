"""The service with its store on a real three-node Redis Cluster (`STORE_CLUSTER=true`, `STORE_URL` one
node) and its broker on a single Redis or on RabbitMQ: signed webhooks over HTTP, a real Celery worker and
beat, the fake Wix. Every step the service takes against the store runs on the cluster here, where a
command whose keys cross hash slots fails (CROSSSLOT)."""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from kombu import Connection

from tests.integration import shop
from tests.integration.conftest import (
    ADMIN,
    CHAOS_CLIENT_SOCKETS,
    FakeWixProcess,
    Process,
    launch_web,
    service_stack,
    start_web,
    wait_for,
)
from tests.integration.rabbitmq import kill_a_receiver_awaiting_its_confirm, rabbitmq_vhost
from worker import keys
from worker.dev.chaos import Options, run
from worker.dev.programs import challenge, coupon, milestone, points, points_rule, program, rule, streak
from worker.rewards.fulfilment import coupon_code
from worker.runtime.kombu_broker_queues import KombuBrokerQueues
from worker.store.progress import ProgressStore

INSTANCE = shop.INSTANCE
PROGRAM: dict[str, Any] = program(
    streaks=[
        streak(
            "weekly",
            "Weekly shopper",
            period="weekly",
            milestones=[milestone("first", "First order", 1, coupon("10% off", 10, valid_days=14))],
        )
    ],
    challenges=[
        challenge(
            "spend-100",
            "Spend $100",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[milestone("hundred", "A hundred", 100, points(25))],
        )
    ],
    rules=[
        rule("order_paid", streak="weekly"),
        rule("order_paid", challenge="spend-100", value="order.total"),
    ],
    points_rules=[points_rule("checkout_completed", 1, per=10)],
)


def cluster_env(fake_wix: FakeWixProcess, broker_url: str, store_url: str, **extra: str) -> dict[str, str]:
    """The service's environment: the store on the cluster, the broker on `broker_url` (REDIS_URL, when it
    is a Redis: the one the test's database flushes)."""
    return shop.wix_env(fake_wix, broker_url, STORE_URL=store_url, STORE_CLUSTER="true", **extra)


@pytest.fixture
def cluster_shop(fake_wix: FakeWixProcess, cluster_store: Any, real_redis: Any) -> Any:
    """A clean fake Wix, an emptied cluster with the program saved, an emptied broker database."""
    fake_wix.control("POST", "reset")
    ProgressStore(cluster_store).save_program(INSTANCE, PROGRAM)
    return cluster_store


def post(base_url: str, token: str, timeout: float = 5) -> dict[str, Any]:
    answer = httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=timeout)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def status(base_url: str, event_id: str) -> str | None:
    answer = httpx.get(
        f"{base_url}/admin/v1/instances/{INSTANCE}/events/{event_id}", headers=ADMIN, timeout=5
    )
    return answer.json().get("status") if answer.status_code == 200 else None


def runs(worker: Process, task_id: str) -> int:
    """How many times the worker ran the task to its end."""
    return sum(1 for line in list(worker.output) if task_id in line and "succeeded" in line)


def balance(fake_wix: FakeWixProcess, contact: str) -> int:
    accounts = [a for a in shop.collection(fake_wix, "accounts") if a["contactId"] == contact]
    return int(accounts[0]["points"]["balance"]) if accounts else 0


def event_id_of(token: str) -> str:
    """The event id inside a signed webhook, read as the receiver reads it (the signature unchecked: the
    test signed it)."""
    import jwt

    from worker.wix.envelope import parse_envelope

    return parse_envelope(jwt.decode(token, options={"verify_signature": False}), token.encode()).event_id


class TestPipelineOnTheCluster:
    def test_orders_and_a_checkout_become_logs_a_coupon_and_points_each_once(
        self, fake_wix, cluster_shop, redis_cluster, redis_url
    ) -> None:
        """Two paid orders ($60, $50) and a $75 checkout, each order delivered twice (one while queued, one
        once processed): two streak logs and the first's coupon (made in Wix once, its code on the reward
        log), two challenge logs reaching $110 and their 25 points, 7 points for the checkout, nothing
        counted twice; /readyz and /metrics read the cluster and the broker."""
        store = cluster_shop
        contact = f"contact-{uuid.uuid4()}"
        env = cluster_env(fake_wix, redis_url, redis_cluster.url)
        first, second = (
            shop.paid_order(fake_wix, "60.00", contact),
            shop.paid_order(fake_wix, "50.00", contact),
        )
        checkout = shop.checkout(fake_wix, str(uuid.uuid4()), contact, "75.00")
        with service_stack(env) as stack:
            base = stack.base_url
            for token in (first, second, checkout):
                assert post(base, token) == {"status": "queued"}
            # Delivered again while still queued: its kept message is published again (the receiver that
            # wrote it might have died before its publish); the second run finds the event settled.
            assert post(base, second) == {"status": "duplicate"}
            progress = ProgressStore(store)

            def rewarded() -> bool:
                logs = progress.member_reward_logs(INSTANCE, contact)
                return len(logs) == 2 and all(log["status"] == "issued" for log in logs)

            wait_for(rewarded, 60, "the coupon and the points to be issued")
            wait_for(lambda: balance(fake_wix, contact) == 32, 30, "25 + 7 points in Wix")
            events = [event_id_of(token) for token in (first, second, checkout)]
            wait_for(lambda: all(status(base, e) == "processed" for e in events), 30, "the journal")
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            metrics = httpx.get(f"{base}/metrics", timeout=5).text
            assert 'wrw_queue_depth{queue="events"} 0.0' in metrics
            assert post(base, first) == {"status": "duplicate"}  # once settled: nothing is sent
            time.sleep(1)  # a wrongly sent redelivery would run meanwhile
            [worker] = stack.workers
            for event_id in (events[0], events[2]):
                task_id = store.hget(keys.event_record(INSTANCE, event_id), "taskId")
                assert runs(worker, str(task_id)) == 1, event_id

        streak_logs = progress.member_state(INSTANCE, contact, "streak", "weekly").logs
        challenge_logs = progress.member_state(INSTANCE, contact, "challenge", "spend-100").logs
        assert len(streak_logs) == 2
        assert sorted(str(log.activityValue) for log in challenge_logs) == ["50.00", "60.00"]
        coupon_log = next(
            log for log in progress.member_reward_logs(INSTANCE, contact) if log["milestoneId"] == "first"
        )
        assert [c["specification"]["code"] for c in shop.collection(fake_wix, "coupons")] == [
            coupon_code(coupon_log["id"])
        ]
        assert coupon_log["couponCode"] == coupon_code(coupon_log["id"])


class TestReceiverDiesBetweenJournalAndPublishOnRabbitMQ:
    def test_beat_on_the_cluster_sends_the_event_again_and_it_runs_once(
        self, fake_wix, cluster_shop, redis_cluster, redis_url
    ) -> None:
        """The broker is RabbitMQ, reached through a proxy that goes quiet: the receiver journals the event on
        the cluster, waits for a confirm and is SIGKILLed there. The event is `queued`, on no queue; beat
        (RedBeat's schedule and lock on the cluster) runs the lost-events sweep, which reads the cluster's
        index and sends it; a worker runs it once; Wix's redelivery is then a duplicate."""
        store = cluster_shop
        contact = f"contact-{uuid.uuid4()}"
        token = shop.paid_order(fake_wix, "60.00", contact)
        event_id = event_id_of(token)
        record_key = keys.event_record(INSTANCE, event_id)
        with rabbitmq_vhost() as broker_url:
            kill_a_receiver_awaiting_its_confirm(
                broker_url,
                lambda proxied: start_web(
                    cluster_env(fake_wix, redis_url, redis_cluster.url, BROKER_URL=proxied)
                ),
                token,
                lambda: bool(store.exists(record_key)),
            )
            assert store.hget(record_key, "status") == "queued"
            with Connection(broker_url) as connection:
                assert KombuBrokerQueues(connection).backlog("events") == 0  # the publish never arrived

            env = cluster_env(fake_wix, redis_url, redis_cluster.url, BROKER_URL=broker_url)
            beat = Process([*CELERY, "beat", "--loglevel=INFO"], env)
            try:
                with service_stack(env) as stack:
                    wait_for(lambda: status(stack.base_url, event_id) == "processed", 45, "beat's sweep")
                    assert beat.saw("Acquired lock")
                    assert post(stack.base_url, token) == {"status": "duplicate"}
                    time.sleep(1)
                    [worker] = stack.workers
                    assert runs(worker, str(store.hget(record_key, "taskId"))) == 1
                    assert store.zscore(keys.QUEUED_EVENTS, record_key) is None
            finally:
                beat.stop()
        assert store.exists("wrw:{beat}::lock") == 0  # released when beat stopped
        assert store.exists("wrw:{beat}::schedule") == 1


CELERY = [sys.executable, "-m", "celery", "-A", "worker"]


class TestStartUp:
    def test_the_broker_on_the_cluster_is_refused_with_what_to_set(self, redis_cluster) -> None:
        """STORE_CLUSTER=true and REDIS_URL a node of the cluster (so the broker too): the receiver exits
        at once, saying that the broker must be a single Redis or RabbitMQ."""
        env = {**os.environ, "REDIS_URL": redis_cluster.url, "STORE_CLUSTER": "true"}
        env.pop("BROKER_URL", None)
        env.pop("STORE_URL", None)
        web, _ = launch_web(env)
        assert web.popen.wait(30) == 2
        web.stop()
        assert web.saw("BROKER_URL")
        assert web.saw("Redis Cluster")


class TestChaosOnTheCluster:
    @CHAOS_CLIENT_SOCKETS
    def test_webhooks_under_chaos_are_processed_exactly_once(self, tmp_path) -> None:
        """`make chaos`, reduced, with the store on a three-node Redis Cluster of the run's own and the broker
        on its single Redis: pool children and the worker SIGKILLed, the broker's Redis restarted, Wix
        failing 30% of calls; exactly once, everywhere. (It settles in about a minute; the bound is for a
        machine loaded by the rest of the suite, where a restarted worker may take long to come back.)"""
        options = Options(
            webhooks=150, kill_pool_every=2, kill_worker_every=5, worker_kills=1, redis_restarts=1,
            fault_rate=0.3, visibility_timeout=10, concurrency=4, settle_timeout=240, work_dir=tmp_path,
            quiet=True, store_cluster=True,
        )  # fmt: skip
        result = run(options)
        print(result.table())
        assert result.chaos.worker_kills == 1
        assert result.chaos.redis_restarts == 1
        assert result.ok, result.table()
