"""Run the Procfile's processes and keep them running: what `make run` and `python -m worker run` do.

honcho, which ran the Procfile before, stops everything as soon as one process exits: a Celery worker
that died while starting (a pool child killed then is `WorkerLostError: Could not start worker
processes`, and Celery exits) took the web receiver down with it, and nothing brought it back. honcho
has no restart, and supervisord or circus would be a daemon with a configuration file of its own to
install beside a Procfile. So this is a small supervisor; honcho still parses the Procfile and prints
the output in its familiar form (`12:00:00 worker | ...`).

- Each process runs in its own process group (`sh -c "exec COMMAND"`, so the pid is the program's),
  and a stop or a clean-up reaches everything it started, a Celery worker's pool children included.
- A process that exits is logged, whatever is left of its group is killed, and it is started again
  after a backoff: 1 s, doubled after each exit that comes within `stable_seconds` of its start, up to
  30 s; a process that ran at least `stable_seconds` is started again after 1 s. The others go on.
- SIGTERM or SIGINT stops the supervisor: SIGTERM to every group, `stop_timeout` seconds for them to
  finish (a worker finishes its tasks), then SIGKILL; no process is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from honcho.colour import get_colours
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer

SYSTEM = "system"


def read_procfile(path: Path) -> dict[str, str]:
    """The Procfile's processes, `name: command`, in their order."""
    return dict(parse_procfile(path.read_text(encoding="utf-8")).processes)


@dataclass
class Backoff:
    """1 s, doubling up to `longest`; back to `first` after a run of at least `stable_seconds`."""

    first: float = 1.0
    longest: float = 30.0
    stable_seconds: float = 10.0
    _next: float = field(default=0.0, init=False)

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.stable_seconds or self._next == 0.0:
            self._next = self.first
        else:
            self._next = min(self._next * 2, self.longest)
        return self._next


@dataclass
class Child:
    name: str
    command: str
    backoff: Backoff
    colour: str
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = 0.0  # when to start it (again); None while it runs
    starts: int = 0
    reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None and self.popen.poll() is None else None


class Supervisor:
    """Starts each process, restarts the ones that exit, stops them all on request."""

    def __init__(
        self,
        processes: Mapping[str, str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        output: IO[str] | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        stop_timeout: float = 20.0,
    ) -> None:
        colours = get_colours()
        self.children = {
            name: Child(name, command, backoff(), next(colours)) for name, command in processes.items()
        }
        self.env = dict(env)
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self._printer = Printer(output or sys.stdout, width=max([len(SYSTEM), *map(len, processes)]))
        self._print_lock = threading.Lock()
        self._stopping = threading.Event()

    # --- output ----------------------------------------------------------------------------------

    def say(self, text: str, name: str = SYSTEM, colour: str | None = None) -> None:
        with self._print_lock:
            self._printer.write(Message("line", text, datetime.now(), name, colour))

    def _relay(self, child: Child, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.say(line.decode("utf-8", "replace").rstrip("\n"), child.name, child.colour)
        stream.close()

    # --- the loop --------------------------------------------------------------------------------

    def pid_of(self, name: str) -> int | None:
        """The pid of a running process (None while it is down or waiting to restart)."""
        return self.children[name].pid

    def starts(self, name: str) -> int:
        return self.children[name].starts

    def _start(self, child: Child) -> None:
        child.popen = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {child.command}"],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at, child.restart_at = time.monotonic(), None
        child.starts += 1
        assert child.popen.stdout is not None
        child.reader = threading.Thread(target=self._relay, args=(child, child.popen.stdout), daemon=True)
        child.reader.start()
        again = f" (start {child.starts})" if child.starts > 1 else ""
        self.say(f"{child.name} started{again} (pid={child.popen.pid})")

    def _reap(self, child: Child, code: int) -> None:
        """Log the exit, kill what is left of its group, and schedule the restart."""
        assert child.popen is not None
        _kill_group(child.popen.pid, signal.SIGKILL)
        ran_for = time.monotonic() - child.started_at
        delay = child.backoff.after_exit(ran_for)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
        self.say(f"{child.name} exited ({how}) after {ran_for:.1f} s; restarting in {delay:g} s")
        child.restart_at = time.monotonic() + delay

    def step(self) -> None:
        """Reap the processes that exited; start the ones whose time has come."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is None:
                assert child.popen is not None
                code = child.popen.poll()
                if code is not None:
                    self._reap(child, code)
            elif now >= child.restart_at and not self._stopping.is_set():
                self._start(child)

    def watch(self, interval: float = 0.1) -> None:
        """Start everything, then keep it running until `stop()` is called."""
        while not self._stopping.is_set():
            self.step()
            # A plain sleep, not `self._stopping.wait(interval)`: a timed wait on a lock is an absolute
            # deadline on the kernel's own clock, which a process under a shifted clock (faketime) may
            # never reach; stop() is noticed within one interval either way.
            time.sleep(interval)

    def stop(self) -> None:
        """SIGTERM every process group; SIGKILL what is still there after `stop_timeout` seconds."""
        self._stopping.set()
        running = [c for c in self.children.values() if c.popen is not None and c.restart_at is None]
        for child in running:
            assert child.popen is not None
            self.say(f"sending SIGTERM to {child.name} (pid {child.popen.pid})")
            _kill_group(child.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.popen is not None
            try:
                child.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {self.stop_timeout:g} s: SIGKILL")
            _kill_group(child.popen.pid, signal.SIGKILL)  # its group's stragglers, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(5)
            if child.reader is not None:
                child.reader.join(5)
            self.say(f"{child.name} stopped (rc={child.popen.returncode})")

    def run(self) -> int:
        """`watch()` in the foreground until SIGTERM or SIGINT, then `stop()`; answers 0."""
        with _stop_on_signals(self):
            try:
                self.watch()
            finally:
                self.stop()
        return 0


@contextlib.contextmanager
def _stop_on_signals(supervisor: Supervisor) -> Iterator[None]:
    def handle(signum: int, _: Any) -> None:
        supervisor.say(f"{signal.Signals(signum).name} received")
        supervisor._stopping.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
