"""worker.infra.supervisor with tiny shell commands: restarts with backoff, the others untouched, a clean
stop."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable

import psutil
import pytest

from worker.infra.supervisor import Backoff, Supervisor


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it is dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class TestBackoff:
    def test_it_doubles_up_to_the_longest_and_resets_after_a_stable_run(self) -> None:
        """Exits in quick succession wait 1, 2, 4 ... 30 s; after a run of stable_seconds, 1 s again."""
        backoff = Backoff(first=1, longest=30, stable_seconds=10)
        assert [backoff.after_exit(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
        assert backoff.after_exit(12) == 1
        assert backoff.after_exit(3) == 2


class TestSupervisor:
    def test_a_process_that_exits_is_restarted_and_the_others_go_on(self) -> None:
        """`crash` exits at once three times running (waits 0.1, 0.2, 0.4 s, logged); `steady` keeps its
        pid; stop() ends both and leaves no process behind."""
        output = io.StringIO()
        supervisor = Supervisor(
            {"steady": "sleep 60", "crash": "sh -c 'echo hello; exit 3'"},
            {"PATH": "/usr/bin:/bin"},
            output=output,
            backoff=lambda: Backoff(first=0.1, longest=0.4, stable_seconds=5),
            stop_timeout=5,
        )
        watcher = threading.Thread(target=supervisor.watch, kwargs={"interval": 0.02})
        watcher.start()
        try:
            _wait(lambda: supervisor.pid_of("steady") is not None, 5, "steady to start")
            steady = supervisor.pid_of("steady")
            _wait(lambda: supervisor.starts("crash") >= 4, 10, "crash to be started four times")
            assert supervisor.pid_of("steady") == steady
        finally:
            supervisor.stop()
            watcher.join(10)
        log = output.getvalue()
        assert "crash  | hello" in log  # honcho's form: time, the name padded, the line
        assert "crash exited (code 3) after" in log
        for delay in ("0.1", "0.2", "0.4"):
            assert f"restarting in {delay} s" in log
        assert "steady exited" not in log
        assert "steady stopped" in log
        assert steady is not None and not _alive(steady)

    def test_stop_kills_what_ignores_sigterm(self) -> None:
        """A process that ignores SIGTERM, and its own child, are SIGKILLed after stop_timeout."""
        output = io.StringIO()
        supervisor = Supervisor(
            {"stubborn": "sh -c 'trap \"\" TERM; sleep 60 & wait'"},
            {"PATH": "/usr/bin:/bin"},
            output=output,
            stop_timeout=0.5,
        )
        watcher = threading.Thread(target=supervisor.watch, kwargs={"interval": 0.02})
        watcher.start()
        _wait(lambda: supervisor.pid_of("stubborn") is not None, 5, "stubborn to start")
        pid = supervisor.pid_of("stubborn")
        assert pid is not None
        _wait(lambda: len(psutil.Process(pid).children()) == 1, 5, "its child to start")
        [child] = psutil.Process(pid).children()
        started = time.monotonic()
        supervisor.stop()
        watcher.join(10)
        assert time.monotonic() - started < 5
        assert "did not stop in 0.5 s: SIGKILL" in output.getvalue()
        assert not _alive(pid) and not _alive(child.pid)
