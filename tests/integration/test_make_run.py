"""`make run`'s launcher on a machine without Redis: embedded Redis, web, worker, beat and Flower."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import uuid

import httpx
import redis

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import ADMIN_TOKEN, Process, wait_for
from worker.infra.embedded_redis import free_port
from worker.wix.webhook_signing import sign_webhook


def test_run_starts_everything_and_stops_cleanly(public_key_pem, private_key) -> None:
    """With REDIS_URL unset: an embedded Redis is announced, a webhook is processed end to end,
    Flower asks for credentials, and Ctrl-C stops every process and the embedded Redis."""
    port, flower_port, redis_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        PORT=str(port),
        FLOWER_PORT=str(flower_port),
        EMBEDDED_REDIS_PORT=str(redis_port),
        EMBEDDED_REDIS_DIR=tempfile.mkdtemp(prefix="wrw-run-"),
        FLOWER_BASIC_AUTH="ops:flower-secret",
        WIX_PUBLIC_KEY=public_key_pem,
        ADMIN_TOKEN=ADMIN_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    launcher = Process([sys.executable, "-m", "worker", "run"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: launcher.saw("started an embedded Redis"), 20, "the embedded Redis announcement")

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 40, f"the web process to be ready:\n{launcher.tail()}")
        wait_for(lambda: launcher.saw("beat: Starting"), 40, "beat to start")

        payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        token = sign_webhook(private_key, "wix.ecom.v1.order_payment_status_updated", INSTANCE_ID, payload)
        assert httpx.post(f"{base}/webhooks/wix", content=token, timeout=5).json() == {"status": "queued"}

        def processed() -> bool:
            if launcher.popen.poll() is not None:
                raise AssertionError(f"the launcher stopped:\n{launcher.tail()}")
            response = httpx.get(
                f"{base}/admin/v1/instances/{INSTANCE_ID}/events/{payload['id']}",
                headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=5,
            )
            return response.json().get("status") == "processed"

        wait_for(processed, 40, "the worker to process the event")

        def flower_answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{flower_port}/", timeout=1).status_code == 401
            except httpx.HTTPError:
                return False

        wait_for(flower_answers, 40, "Flower to ask for credentials")
        authorized = httpx.get(f"http://127.0.0.1:{flower_port}/", auth=("ops", "flower-secret"), timeout=5)
        assert authorized.status_code == 200
    finally:
        if launcher.popen.poll() is None:
            os.killpg(launcher.popen.pid, signal.SIGINT)
        try:
            launcher.popen.wait(30)
        finally:
            launcher.kill_group()
    try:
        redis.Redis(port=redis_port, socket_connect_timeout=0.5).ping()
        stopped = False
    except redis.ConnectionError:
        stopped = True
    assert stopped, "the embedded Redis is still running after the launcher stopped"
