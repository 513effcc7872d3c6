"""Count what a real Redis receives from one client: commands, and round trips (each time the client
sends and then waits for answers: one command alone, or a whole pipeline or MULTI/EXEC at once).

Counted on the client's connection, so only this client's traffic is seen (not another process's, as
MONITOR would), and a pipeline is told from separate calls. Used by the worker's round-trip budget
(tests/integration/test_round_trips.py) and by `bench/round_trips.py`.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from worker.infra.redis_client import sync_client


@dataclass
class Traffic:
    """What was sent: `round_trips` sends, `commands` in order (MULTI and EXEC included)."""

    round_trips: int = 0
    commands: list[str] = field(default_factory=list)
    trips: list[list[str]] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    counting: bool = True

    def reset(self) -> None:
        self.round_trips = 0
        self.commands.clear()
        self.trips.clear()
        self.callers.clear()

    def by_command(self) -> Counter[str]:
        return Counter(self.commands)

    def describe(self) -> str:
        """One line per round trip: its commands (for a failure message or a bench's detail)."""
        return "\n".join(
            f"  {n + 1:2}. {' '.join(trip):40} {caller}"
            for n, (trip, caller) in enumerate(zip(self.trips, self.callers, strict=True))
        )


def _name(args: Iterable[Any]) -> str:
    parts = list(args)
    name = parts[0] if parts else b""
    text = name.decode() if isinstance(name, bytes) else str(name)
    return text.upper()


def _caller() -> str:
    """The innermost function of the project's own code that made the round trip."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if "/worker/" in path and "/site-packages/" not in path and "redis_client" not in path:
            module = path.rsplit("/worker/", 1)[1].removesuffix(".py").replace("/", ".")
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


class _CountingConnection(redis.Connection):
    traffic: Traffic  # set on the subclass each counting client makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[str] = []

    def _count(self, sent: list[str]) -> None:
        traffic = self.traffic
        if traffic.counting and sent and sent != ["PING"]:  # not the connection's health check
            traffic.round_trips += 1
            traffic.commands.extend(sent)
            traffic.trips.append(sent)
            traffic.callers.append(_caller())

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        """One command on its own: one round trip."""
        self._count([_name(args)])
        super().send_command(*args, **kwargs)

    def pack_commands(self, commands: Iterable[Any]) -> list[bytes | memoryview]:
        commands = list(commands)
        self._pending.extend(_name(command) for command in commands)
        packed: list[bytes | memoryview] = super().pack_commands(commands)
        return packed

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """A pipeline's commands, packed by `pack_commands`, go in one send: one round trip."""
        sent, self._pending = self._pending, []
        self._count(sent)
        super().send_packed_command(command, check_health)

    def on_connect_check_health(self, check_health: bool = True) -> None:
        """The connection's own handshake (HELLO, CLIENT SETINFO, SELECT) is not the caller's traffic."""
        counting, self.traffic.counting = self.traffic.counting, False
        try:
            super().on_connect_check_health(check_health)
        finally:
            self.traffic.counting = counting


def counting_client(url: str) -> tuple[redis.Redis, Traffic]:
    """A client like the worker's (worker.infra.redis_client.sync_client) whose traffic is counted."""
    traffic = Traffic()
    connection_class = type("CountingConnection", (_CountingConnection,), {"traffic": traffic})
    client = sync_client(url)
    client.connection_pool.connection_class = connection_class
    client.connection_pool.disconnect()
    return client, traffic


@contextlib.contextmanager
def counted(traffic: Traffic) -> Iterator[Traffic]:
    """Count only what is sent inside the block."""
    traffic.reset()
    traffic.counting = True
    yield traffic
