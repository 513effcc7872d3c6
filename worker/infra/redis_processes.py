"""What every Redis server this project starts itself shares (the embedded one of `make run`, the test
and bench Redis Cluster and Sentinel set): the process started on the real clock, and a bounded wait.

A test run under `faketime` (libfaketime in LD_PRELOAD) fakes the date for Python, not for Redis: a
redis-server with libfaketime preloaded crashes at start (jemalloc's clock calls recurse into it), and a
real Redis runs on the real clock anyway, so the servers start without it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence

import redis

_FAKED_CLOCK = ("FAKETIME", "FAKETIME_", "DONT_FAKE_MONOTONIC")


def real_clock_env() -> dict[str, str]:
    """This process's environment without libfaketime's preload and settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_FAKED_CLOCK)}
    preload = [lib for lib in env.get("LD_PRELOAD", "").split(":") if lib and "faketime" not in lib]
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    else:
        env.pop("LD_PRELOAD", None)
    return env


def spawn_server(arguments: Sequence[str]) -> subprocess.Popen[bytes]:
    """A redis-server (or redis-server --sentinel) process, quiet, on the real clock."""
    return subprocess.Popen(  # noqa: S603  (our own redis-server)
        list(arguments), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=real_clock_env()
    )


def wait_until(
    port: int,
    deadline: float,
    what: str,
    ready: Callable[[redis.Redis], bool],
    *,
    password: str | None = None,
) -> None:
    """Poll the server at `port` until `ready(client)` (a Redis error counts as not yet); RuntimeError
    naming `what` at `deadline` (time.monotonic())."""
    client = redis.Redis(
        port=port, socket_connect_timeout=0.2, socket_timeout=0.5, password=password, decode_responses=True
    )
    try:
        while True:
            try:
                if ready(client):
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)
    finally:
        client.close()
