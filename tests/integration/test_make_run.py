"""`make run`'s launcher on a machine without Redis: embedded Redis, web, worker, beat and Flower."""

from __future__ import annotations

import os
import signal
import sys
import tempfile

import httpx
import redis

from tests.integration.conftest import ADMIN_TOKEN, Process, wait_for, wait_for_answer, webhook_processed
from worker.infra.embedded_redis import free_port


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
        wait_for_answer(launcher, "python -m worker run", f"{base}/readyz", 40)
        wait_for(lambda: launcher.saw("beat: Starting"), 40, "beat to start")
        webhook_processed(base, private_key, process=launcher)
        wait_for_answer(launcher, "Flower", f"http://127.0.0.1:{flower_port}/", 40, status=401)
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
