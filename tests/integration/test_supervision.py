"""`python -m worker run` supervises: a process that exits is restarted with backoff and logged, the
others go on answering, and SIGTERM or SIGINT stops every process it started."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.integration.conftest import Process, service_env, wait_for, wait_for_answer, webhook_processed
from worker.infra.embedded_redis import free_port

WORKER = (
    "celery -A worker worker --queues=events,rewards,bulk,periodic --concurrency=1 --loglevel=INFO "
    "--without-gossip --without-mingle --include=tests.integration.support_startup_crash"
)


class HealthProbe:
    """Asks the receiver's /healthz ten times a second in a thread and keeps every failure."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)
        self._thread.start()

    def _probe(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.base_url}/healthz").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.answers += 1
                self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _start_run(env: dict[str, str], procfile: Path | None = None) -> tuple[Process, str]:
    port = free_port()
    args = [sys.executable, "-m", "worker", "run"]
    if procfile is not None:
        args += ["--procfile", str(procfile)]
    launcher = Process(args, {**env, "PORT": str(port), "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}"
    wait_for_answer(launcher, "python -m worker run", f"{base_url}/readyz", 40)
    return launcher, base_url


def _stop_run(launcher: Process, signum: int) -> list[int]:
    """Signal the supervisor only (not its group); answers the pids of what it had started."""
    started = [child.pid for child in psutil.Process(launcher.popen.pid).children(recursive=True)]
    if launcher.popen.poll() is None:
        launcher.popen.send_signal(signum)
    try:
        launcher.popen.wait(40)
    finally:
        launcher.kill_group()
    return started


def _worker_pid(launcher: Process) -> int:
    """The Celery worker's main process: `celery -A worker worker ...` among the supervisor's children."""

    def is_worker(command: list[str]) -> bool:
        return "-A" in command and command[command.index("-A") + 2 : command.index("-A") + 3] == ["worker"]

    [worker] = [c for c in psutil.Process(launcher.popen.pid).children() if is_worker(c.cmdline())]
    return int(worker.pid)


@pytest.fixture
def env(module_redis_url: str, public_key_pem: str) -> Iterator[dict[str, str]]:
    yield service_env(module_redis_url, public_key_pem, FLOWER_PORT=str(free_port()))


class TestRestarts:
    def test_a_killed_worker_comes_back_and_the_receiver_never_stops(self, env, private_key) -> None:
        """`python -m worker run` (the Procfile: web, worker, beat, Flower): the worker SIGKILLed is logged,
        restarted and processes events again; /healthz answers 200 throughout; SIGTERM then stops all."""
        launcher, base_url = _start_run(env)
        probe = HealthProbe(base_url)
        try:
            wait_for(lambda: launcher.saw("celery@") and launcher.saw("ready."), 40, "the worker to be ready")
            webhook_processed(base_url, private_key)
            killed = _worker_pid(launcher)
            os.kill(killed, signal.SIGKILL)
            wait_for(lambda: launcher.saw("worker exited (signal SIGKILL)"), 10, "the exit to be logged")
            wait_for(lambda: launcher.saw("worker started (start 2)"), 10, "the worker to be started again")
            assert launcher.saw("restarting in 1 s")
            webhook_processed(base_url, private_key)
            assert _worker_pid(launcher) != killed
        finally:
            probe.stop()
            started = _stop_run(launcher, signal.SIGTERM)
        assert probe.failures == [], probe.failures
        assert probe.answers > 20
        assert launcher.popen.returncode == 0
        assert not [pid for pid in started if psutil.pid_exists(pid)], "processes left behind"

    def test_a_worker_that_dies_at_start_is_restarted_with_backoff(self, env, private_key, tmp_path) -> None:
        """A pool process killed while the worker starts makes Celery exit, twice running: the worker is
        started again after 1 s, then 2 s, and then works; the receiver keeps answering; SIGINT stops all."""
        procfile = tmp_path / "Procfile"
        procfile.write_text(f"web: python -m worker web\nworker: {WORKER}\n")
        env = {**env, "WRW_TEST_POOL_CRASHES": f"{tmp_path / 'starts'}:2"}
        launcher, base_url = _start_run(env, procfile)
        probe = HealthProbe(base_url)
        try:
            wait_for(lambda: launcher.saw("worker started (start 3)"), 90, "the third start")
            assert launcher.saw("Could not start worker processes")
            assert launcher.saw("restarting in 1 s")
            assert launcher.saw("restarting in 2 s")
            webhook_processed(base_url, private_key)
            assert launcher.saw("web started") and not launcher.saw("web exited")
        finally:
            probe.stop()
            started = _stop_run(launcher, signal.SIGINT)
        assert probe.failures == [], probe.failures
        assert launcher.popen.returncode == 0
        assert not [pid for pid in started if psutil.pid_exists(pid)], "processes left behind"
