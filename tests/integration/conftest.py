"""Real processes: the web app under uvicorn on a loopback port, a Celery worker, real Redis, the fake Wix.

One set-up for all: `service_stack` runs the receiver and workers on one environment (`service_env`, or
`fake_wix.env` pointed at the fake Wix), `shop_env` / `shop_stack` the shop of `shop.py`, `calm_wix` a fake
Wix without a rate limit; `worker_killed_midway` and `job_resumed_after_a_kill` are the one way to kill
a worker and resume. Every wait is bounded; every process started here is killed at the end, whatever
happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration import shop
from worker.infra.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "integration-admin-token"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}  # the admin API's credential


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


def wait_for_answer(process: Process, name: str, url: str, timeout: float, status: int = 200) -> None:
    """Poll GET `url` until it answers `status`; fail the test, with the process's output, if it exits."""

    def answers() -> bool:
        if process.popen.poll() is not None:
            pytest.fail(f"{name} exited:\n{process.tail()}")
        try:
            return httpx.get(url, timeout=1).status_code == status
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout, f"{name} to answer {status} at {url}")


@contextmanager
def _killed_on_failure(process: Process) -> Iterator[None]:
    """A process that did not come up is not left behind: killed with its children, the failure raised."""
    try:
        yield
    except BaseException:  # pytest.fail's exception too
        process.kill_group()
        raise


def webhook_processed(
    base_url: str, private_key: Any, timeout: float = 40, process: Process | None = None
) -> None:
    """Post a signed order-paid webhook to the receiver at `base_url` and wait until the admin API says it
    was processed; fail at once if `process` (what runs the service) exits meanwhile."""
    from tests import wix_samples
    from tests.conftest import INSTANCE_ID
    from worker.wix.webhook_signing import sign_webhook

    payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    token = sign_webhook(private_key, "wix.ecom.v1.order_payment_status_updated", INSTANCE_ID, payload)
    assert httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=5).json() == {"status": "queued"}
    record_url = f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{payload['id']}"

    def processed() -> bool:
        if process is not None and process.popen.poll() is not None:
            pytest.fail(f"the service exited:\n{process.tail()}")
        return httpx.get(record_url, headers=ADMIN, timeout=5).json().get("status") == "processed"

    wait_for(processed, timeout, "the worker to process the webhook")


def launch_web(env: dict[str, str]) -> tuple[Process, str]:
    """The web process started on a free port, not yet waited for (`await_web`): its origin."""
    port = free_port()
    process = Process([sys.executable, "-m", "worker", "web"], {**env, "PORT": str(port)})
    return process, f"http://127.0.0.1:{port}"


def await_web(process: Process, base_url: str) -> None:
    """Wait until the web process answers /healthz; killed, and the test failed, if it does not."""
    with _killed_on_failure(process):
        wait_for_answer(process, "the web process", f"{base_url}/healthz", 20)


def start_web(env: dict[str, str]) -> tuple[Process, str]:
    process, base_url = launch_web(env)
    await_web(process, base_url)
    return process, base_url


def launch_worker(env: dict[str, str], *extra: str) -> Process:
    """A Celery worker started, not yet waited for (`await_worker`)."""
    return Process(
        [
            sys.executable, "-m", "celery", "-A", "worker", "worker",
            "--queues=events,rewards,bulk,periodic", "--loglevel=INFO", "--concurrency=1",
            "--without-gossip", "--without-mingle", "--include=tests.integration.support_tasks",
            *extra,
        ],
        env,
    )  # fmt: skip


def await_worker(process: Process) -> None:
    """Wait until the worker says it is ready; killed, and the test failed, if it exits or does not."""

    def ready() -> bool:
        if process.popen.poll() is not None:
            pytest.fail(f"the worker exited:\n{process.tail()}")
        return process.saw("ready.")

    with _killed_on_failure(process):
        wait_for(ready, 30, "the Celery worker to be ready")


def start_worker(env: dict[str, str], *extra: str) -> Process:
    process = launch_worker(env, *extra)
    await_worker(process)
    return process


def start_web_and_worker(env: dict[str, str]) -> tuple[Process, str, Process]:
    """The web process and one worker on `env`, started together and then each waited for, so their
    start-ups (mostly imports) overlap: (web, its origin, worker). Both are killed if either fails."""
    web, base_url = launch_web(env)
    worker = launch_worker(env)
    try:
        await_web(web, base_url)
        await_worker(worker)
    except BaseException:
        web.kill_group()
        worker.kill_group()
        raise
    return web, base_url, worker


@dataclass
class Stack:
    """The receiver (when asked for) and Celery workers on one environment, as `service_stack` runs them."""

    env: dict[str, str]
    base_url: str = ""
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)

    def add_worker(self, *extra: str, env: dict[str, str] | None = None) -> Process:
        """One more worker (on `env` when given), stopped with the rest."""
        process = start_worker(self.env if env is None else env, *extra)
        self.workers.append(process)
        return process


@contextmanager
def service_stack(
    env: dict[str, str], *, web: bool = True, workers: int = 1, worker_args: tuple[str, ...] = ()
) -> Iterator[Stack]:
    """Start the web process and `workers` Celery workers on `env`, all at once; every one is stopped at
    the end, whatever happens (also when one of them fails to start)."""
    stack = Stack(env)
    try:
        # Every process is started first, then each is waited for: their start-ups overlap.
        if web:
            stack.web, stack.base_url = launch_web(env)
        stack.workers.extend(launch_worker(env, *worker_args) for _ in range(workers))
        if stack.web is not None:
            await_web(stack.web, stack.base_url)
        for process in stack.workers:
            await_worker(process)
        yield stack
    finally:
        for process in stack.workers:
            process.stop()
        if stack.web is not None:
            stack.web.stop()


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


def job_resumed_after_a_kill(
    env: dict[str, str],
    redis_client: Any,
    instance_id: str,
    name: str,
    under_way: Callable[[], Any],
    timeout: float,
    finish_timeout: float,
) -> dict[str, Any]:
    """Kill-the-worker-and-resume for a job: job `name` is started for `instance_id` on a worker that is
    SIGKILLed once `under_way()`; the job is still `running` then, and a second worker takes it to its
    end. Answers the job's final record."""
    from worker.jobs.registry import KINDS
    from worker.jobs.runner import Jobs
    from worker.runtime.dispatcher import CeleryDispatcher

    jobs = Jobs(redis_client, KINDS)

    def start() -> dict[str, Any]:
        record, _ = jobs.start(instance_id, name)
        CeleryDispatcher().run_job(record["id"], "bulk")
        return record

    def still_running(record: dict[str, Any]) -> None:
        assert jobs.get(record["id"])["status"] == "running"

    with worker_killed_midway(
        env, start, under_way, timeout, f"the {name} job to be under way", before_resume=still_running
    ) as record:

        def ended() -> dict[str, Any] | None:
            job = jobs.get(record["id"])
            return job if job["status"] != "running" else None

        return wait_for(ended, finish_timeout, f"the {name} job to resume and end")  # type: ignore[no-any-return]


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

    def app_headers(self, instance_id: str) -> dict[str, str]:
        """The app's credential for `instance_id`, from the fake's OAuth route as the service gets it."""
        answer = httpx.post(
            f"{self.base_url}/oauth2/token",
            json={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET,
                  "instance_id": instance_id},
            timeout=5,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return {"Authorization": answer.json()["access_token"]}

    def env(self, redis_url: str, **extra: str) -> dict[str, str]:
        """The service's environment pointed at this fake: its key, the app's id and secret, its URL."""
        wix = {"WIX_APP_ID": APP_ID, "WIX_APP_SECRET": APP_SECRET, "WIX_API_BASE": self.base_url}
        return service_env(redis_url, self.public_key.read_text(), **{**wix, **extra})


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
    try:
        wait_for_answer(process, "the fake Wix", f"{base_url}/_fake/health", 20)
        yield FakeWixProcess(process, base_url, keys / "private.pem", keys / "public.pem")
    finally:
        process.stop()


@pytest.fixture
def calm_wix(fake_wix: FakeWixProcess) -> Iterator[FakeWixProcess]:
    """The fake Wix reset, without a rate limit; its faults cleared and its limit (200 a minute) restored
    afterwards."""
    fake_wix.control("POST", "reset")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 0})
    yield fake_wix
    fake_wix.control("DELETE", "faults")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})


@pytest.fixture
def shop_env(fake_wix: FakeWixProcess, real_redis: Any, redis_url: str) -> dict[str, str]:
    """The shop of tests/integration/shop.py in a clean fake Wix, its program applied: the service's
    environment for it."""
    from worker.store.progress import ProgressStore

    fake_wix.control("POST", "reset")
    ProgressStore(real_redis).save_program(shop.INSTANCE, shop.PROGRAM)
    return shop.wix_env(fake_wix, redis_url)


@pytest.fixture
def shop_stack(shop_env: dict[str, str]) -> Iterator[Stack]:
    """The receiver and one worker for the shop, pointed at the fake Wix."""
    with service_stack(shop_env) as stack:
        yield stack


# --- the operators' ways in: the CLI and the admin API ------------------------------------------------


def cli(redis_url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m worker ARGS` against `redis_url`, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=ROOT, env={**os.environ, "REDIS_URL": redis_url}, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


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


def run_job_over_http(
    base_url: str, instance_id: str, body: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    """Start a job with the admin API (`body`: its name and options) and wait for its final record."""
    started = httpx.post(
        f"{base_url}/admin/v1/instances/{instance_id}/jobs", json=body, headers=ADMIN, timeout=5
    )
    assert started.status_code == 202, started.text
    job_url = f"{base_url}/admin/v1/instances/{instance_id}/jobs/{started.json()['id']}"

    def ended() -> dict[str, Any] | None:
        job = httpx.get(job_url, headers=ADMIN, timeout=5).json()
        return job if job["status"] != "running" else None

    return wait_for(ended, timeout, f"the {body['name']} job to end")  # type: ignore[no-any-return]


def apply_program_with_key(base_url: str, instance_id: str, program: dict[str, Any]) -> dict[str, str]:
    """The instance's program applied and an API key made, both with the admin API: the key's header."""
    put = httpx.put(
        f"{base_url}/admin/v1/instances/{instance_id}/program", json=program, headers=ADMIN, timeout=5
    )
    assert put.status_code == 200, put.text
    key = httpx.post(f"{base_url}/admin/v1/instances/{instance_id}/api-keys", headers=ADMIN, timeout=5)
    assert key.status_code == 201, key.text
    return {"authorization": f"Bearer {key.json()['apiKey']}"}


def challenge_log(contact_id: str, challenge_id: str, value: str, unique_identifier: str) -> dict[str, str]:
    """A challenge log as the records API and the execute-challenge action take it: an order paid now."""
    return {
        "contactId": contact_id,
        "challengeId": challenge_id,
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": unique_identifier,
    }


def record_log(base_url: str, api_key: dict[str, str], log: dict[str, str]) -> httpx.Response:
    """POST a challenge log to the records API with the instance's API key."""
    return httpx.post(f"{base_url}/schema/challenge_log/record", json=log, headers=api_key, timeout=10)


# The chaos harness's own asyncio client (worker/dev/chaos.py `_send_all`) keeps posting while the
# service's Redis is restarted under it; once in a few dozen runs a connection of that client is dropped
# unclosed and Python reports the socket when it is collected. It is the test process's client, not the
# service's (whose processes are separate and not watched by these filters), so it does not fail a run
# whose every exactly-once check passed.
CHAOS_CLIENT_SOCKETS = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
