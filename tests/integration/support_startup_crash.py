"""Loaded only into a test's Celery worker: the first N pool processes die as soon as they are forked, as
a pool child SIGKILLed while the worker starts. Celery then exits with `WorkerLostError: Could not start
worker processes`. `WRW_TEST_POOL_CRASHES=/path/to/counter:N` turns it on; the file counts the forks."""

from __future__ import annotations

import os
import signal


def _die_at_start() -> None:
    setting = os.environ.get("WRW_TEST_POOL_CRASHES")
    if not setting:
        return
    path, _, crashes = setting.rpartition(":")
    with open(path, "a+", encoding="utf-8") as counter:
        counter.write("start\n")
        counter.flush()
        counter.seek(0)
        starts = len(counter.readlines())
    if starts <= int(crashes):
        os.kill(os.getpid(), signal.SIGKILL)


os.register_at_fork(after_in_child=_die_at_start)
