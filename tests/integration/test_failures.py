"""Nothing lost: a worker killed while it holds a task, Redis going away under the receiver, and a
task that keeps failing until it is parked and replayed. All real processes, all waits bounded."""

from __future__ import annotations

import signal
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import (
    cli,
    service_env,
    service_stack,
    start_web,
    wait_for,
    worker_killed_midway,
)
from worker.infra.embedded_redis import EmbeddedRedis
from worker.infra.redis_client import sync_client
from worker.runtime.celery_app import app
from worker.store.dead_letters import DeadLetters
from worker.wix.webhook_signing import sign_webhook

# A short visibility timeout so a task of a worker killed outright comes back within the test.
SHORT_VISIBILITY = "10"


def _count(store, key: str) -> int:  # type: ignore[no-untyped-def]
    return int(store.get(key) or 0)


class TestWorkerKilled:
    def test_a_killed_child_process_does_not_lose_its_task(self, module_redis_url, public_key_pem) -> None:
        """SIGKILL the pool process mid-task: the task is requeued and finishes (reject_on_worker_lost)."""
        store = sync_client(module_redis_url)
        with service_stack(service_env(module_redis_url, public_key_pem), web=False) as stack:
            key = f"slow:{uuid.uuid4()}"
            app.send_task("events.test_slow_effect", args=[key, 2.0])
            wait_for(lambda: _count(store, f"{key}:attempts") == 1, 20, "the task to start")
            [child] = psutil.Process(stack.workers[0].popen.pid).children()
            child.send_signal(signal.SIGKILL)
            wait_for(lambda: _count(store, f"{key}:done") == 1, 40, "the task to run again and finish")
            assert _count(store, f"{key}:attempts") == 2
            time.sleep(1)
            assert _count(store, f"{key}:done") == 1

    def test_a_worker_killed_outright_does_not_lose_its_task(self, module_redis_url, public_key_pem) -> None:
        """SIGKILL the worker and its children mid-task: after the visibility timeout another runs it."""
        store = sync_client(module_redis_url)
        env = service_env(module_redis_url, public_key_pem, CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY)
        key = f"slow:{uuid.uuid4()}"

        def not_done(_: object) -> None:
            assert _count(store, f"{key}:done") == 0

        with worker_killed_midway(
            env,
            lambda: app.send_task("events.test_slow_effect", args=[key, 2.0]),
            lambda: _count(store, f"{key}:attempts") == 1,
            20,
            "the task to start",
            before_resume=not_done,
        ):
            wait_for(
                lambda: _count(store, f"{key}:done") == 1, 60, "the abandoned task to come back and finish"
            )
            assert _count(store, f"{key}:attempts") == 2


class TestRedisOutage:
    def test_the_receiver_answers_503_fast_and_recovers(self, public_key_pem, private_key) -> None:
        """With its Redis stopped the receiver answers 503 within a second; once back, it queues again."""
        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-outage-")), persistent=False)
        url = server.start()
        web = None
        try:
            web, base_url = start_web(service_env(url, public_key_pem))

            def post(event_id: str) -> httpx.Response:
                payload = wix_samples.order_approved(event_id=event_id)
                token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
                return httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=5)

            assert post(str(uuid.uuid4())).json() == {"status": "queued"}
            server.stop()
            started = time.monotonic()
            refused = post(str(uuid.uuid4()))
            assert time.monotonic() - started < 1.0
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "unavailable"
            assert httpx.get(f"{base_url}/readyz", timeout=5).status_code == 503

            server.start()
            event_id = str(uuid.uuid4())
            wait_for(lambda: post(event_id).status_code == 200, 10, "the receiver to accept again")
            assert sync_client(url).hget(f"wrw:journal:{INSTANCE_ID}:{event_id}", "status") == "queued"
        finally:
            if web is not None:
                web.stop()
            server.stop()


class TestDeadLetters:
    def test_a_task_that_keeps_failing_is_parked_then_replayed(
        self, module_redis_url, public_key_pem
    ) -> None:
        """Transient failures are retried with backoff, parked after the last try, and a replay runs it."""
        store = sync_client(module_redis_url)
        with service_stack(service_env(module_redis_url, public_key_pem), web=False):
            key = f"flaky:{uuid.uuid4()}"
            store.set(f"{key}:broken", 1)
            result = app.send_task("events.test_flaky", args=[key])
            dead_letters = DeadLetters(store)
            entry = wait_for(lambda: dead_letters.get(result.id), 60, "the task to be parked")
            assert _count(store, f"{key}:attempts") == 3  # the first try and two retries
            assert entry["task"] == "events.test_flaky"
            assert entry["args"] == [key]
            assert "ConnectionError" in entry["error"]

            listed = _cli(module_redis_url, "dlq", "list")
            assert result.id in listed
            store.delete(f"{key}:broken")
            _cli(module_redis_url, "dlq", "replay", result.id)
            wait_for(lambda: _count(store, f"{key}:done") == 1, 20, "the replayed task to succeed")
            assert dead_letters.get(result.id) is None


def _cli(redis_url: str, *args: str) -> str:
    completed = cli(redis_url, *args, timeout=30)
    if completed.returncode != 0:
        pytest.fail(f"python -m worker {' '.join(args)} failed:\n{completed.stderr}")
    return completed.stdout
