"""Real processes: the web app under uvicorn on a loopback port, a Celery worker, real Redis.

Every wait is bounded; every process started here is killed at the end, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from worker.infra.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "integration-admin-token"


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process in its own process group, its output collected for failure reports."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.output: list[str] = []
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._collector = threading.Thread(target=self._collect, daemon=True)
        self._collector.start()

    def _collect(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.output))

    def kill_group(self) -> None:
        """SIGKILL the whole group: the process and every child it started."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        self._close()

    def _close(self) -> None:
        self._collector.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill_group()
                return
        self._close()

    def tail(self) -> str:
        return "".join(self.output[-40:])


def service_env(redis_url: str, public_key_pem: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        WIX_PUBLIC_KEY=public_key_pem,
        WIX_APP_ID="11111111-2222-3333-4444-555555555555",
        ADMIN_TOKEN=ADMIN_TOKEN,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_web(env: dict[str, str]) -> tuple[Process, str]:
    port = free_port()
    process = Process([sys.executable, "-m", "worker", "web"], {**env, "PORT": str(port)})
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.popen.poll() is not None:
            pytest.fail(f"the web process exited:\n{process.tail()}")
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 20, "the web process to answer /healthz")
    return process, base_url


def start_worker(env: dict[str, str], *extra: str) -> Process:
    process = Process(
        [
            sys.executable, "-m", "celery", "-A", "worker", "worker",
            "--queues=events,rewards,bulk,periodic", "--loglevel=INFO", "--concurrency=1",
            "--without-gossip", "--without-mingle", "--include=tests.integration.support_tasks",
            *extra,
        ],
        env,
    )  # fmt: skip

    def ready() -> bool:
        if process.popen.poll() is not None:
            pytest.fail(f"the worker exited:\n{process.tail()}")
        return process.saw("ready.")

    wait_for(ready, 30, "the Celery worker to be ready")
    return process


T = TypeVar("T")


@contextmanager
def worker_killed_midway(
    env: dict[str, str],
    start: Callable[[], T],
    under_way: Callable[[], Any],
    timeout: float,
    what: str,
    before_resume: Callable[[T], None] | None = None,
) -> Iterator[T]:
    """Kill-the-worker-and-resume: a worker runs what `start()` sets going until `under_way()`, is SIGKILLed
    with its children, `before_resume` looks at what it left, and a second worker runs while the block
    waits for the end. Yields what `start()` answered; both workers are stopped whatever happens."""
    first = start_worker(env)
    try:
        started = start()
        wait_for(under_way, timeout, what)
        first.kill_group()
    finally:
        first.stop()
    if before_resume is not None:
        before_resume(started)
    second = start_worker(env)
    try:
        yield started
    finally:
        second.stop()


@pytest.fixture(scope="module")
def module_redis_url() -> str:
    from worker.infra.redis_client import sync_client

    url = os.environ["REDIS_URL"]
    client = sync_client(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="module")
def web(module_redis_url: str, public_key_pem: str) -> Iterator[str]:
    process, base_url = start_web(service_env(module_redis_url, public_key_pem))
    yield base_url
    process.stop()


@pytest.fixture(scope="module")
def celery_worker(module_redis_url: str, public_key_pem: str) -> Iterator[Process]:
    process = start_worker(service_env(module_redis_url, public_key_pem))
    yield process
    process.stop()


# --- the local fake of Wix (worker.wix.fake), as a real process -------------------------------------

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "integration-fake-secret"


@dataclass
class FakeWixProcess:
    process: Process
    base_url: str
    private_key: Path
    public_key: Path

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.base_url}/_fake/{path}", timeout=5, **kwargs)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="module")
def fake_wix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWixProcess]:
    keys = tmp_path_factory.mktemp("fake-wix")
    port = free_port()
    process = Process(
        [
            sys.executable, "-m", "worker.wix.fake", "--port", str(port),
            "--app-id", APP_ID, "--app-secret", APP_SECRET,
            "--private-key", str(keys / "private.pem"), "--public-key-out", str(keys / "public.pem"),
        ],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.popen.poll() is not None:
            pytest.fail(f"the fake Wix exited:\n{process.tail()}")
        try:
            return httpx.get(f"{base_url}/_fake/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 20, "the fake Wix to answer /_fake/health")
        yield FakeWixProcess(process, base_url, keys / "private.pem", keys / "public.pem")
    finally:
        process.stop()


def run_job_from_cli(
    env: dict[str, str], name: str, instance_id: str, timeout: float = 180
) -> dict[str, Any]:
    """`python -m worker jobs run NAME --instance ID` to its end (a worker must be running): the job's
    final record, as the CLI prints it."""
    import json

    run = subprocess.run(
        [sys.executable, "-m", "worker", "jobs", "run", name, "--instance", instance_id],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout[run.stdout.index("{") :])  # type: ignore[no-any-return]
