"""Count what a real Redis receives from one client: commands, and round trips (each time the client
sends and then waits for answers: one command alone, or a whole pipeline or MULTI/EXEC at once).

Counted on the client's connection, so only this client's traffic is seen (not another process's, as
MONITOR would), and a pipeline is told from separate calls. Used by the worker's round-trip budget
(tests/integration/test_round_trips.py) and by `bench/round_trips.py`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from tests import wix_samples
from worker.dev import programs
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.infra.redis_client import sync_client
from worker.store import instances
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, build_payload


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


# --- one event of each main kind through the event task's processing -----------------------------------

INSTANCE = "rt-instance"

# A streak and a challenge each with a milestone at the first order (a coupon, points), and points rules
# for the three kinds: a paid order creates two reward logs, two trigger reports, two fulfilments and an
# earn, as in a shop's busiest moment.
PROGRAM = programs.program(
    streaks=[
        programs.streak(
            "weekly",
            "Weekly shopper",
            period="weekly",
            milestones=[programs.milestone("first", "First order", 1, programs.coupon("5% off", 5, 30))],
        )
    ],
    challenges=[
        programs.challenge(
            "spend",
            "Spend $500",
            method="sum",
            period="monthly",
            completion=500,
            milestones=[programs.milestone("started", "Started", 1, programs.points(10))],
        )
    ],
    rules=[
        programs.rule("order_paid", streak="weekly"),
        programs.rule("order_paid", challenge="spend", value="order.total"),
    ],
    points_rules=[
        programs.points_rule("order_paid", 1, 10),
        programs.points_rule("checkout_completed", 1, 10),
        {"on": "member_created", "points": 50},
    ],
)

# The round trips each kind may take (README "Round trips per event"); tests/unit/events/test_round_trips.py
# holds the worker to them.
BUDGET = {"paid order": 24, "checkout": 5, "member created": 5}


def events(contact_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, Wix event type, payload) of a new paid order, checkout and member for `contact_id`, now."""
    now = datetime.now(UTC).isoformat()
    paid = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    paid["eventTime"] = now
    order = paid["actionEvent"]["body"]["order"]
    order.update(id=str(uuid.uuid4()), appliedDiscounts=[], createdDate=now, updatedDate=now)
    order["buyerInfo"]["contactId"] = contact_id
    checkout = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
    checkout["eventTime"] = now
    checkout["actionEvent"]["body"]["checkout"]["id"] = str(uuid.uuid4())
    checkout["actionEvent"]["body"]["checkout"]["buyerInfo"]["contactId"] = contact_id
    member = build_payload(
        "wix.members.v1.member_created", EventOptions(contact_id=contact_id, member_id=str(uuid.uuid4()))
    )
    member["id"] = str(uuid.uuid4())
    return [
        ("paid order", "wix.ecom.v1.order_payment_status_updated", paid),
        ("checkout", "wix.ecom.v1.checkout_completed", checkout),
        ("member created", "wix.members.v1.member_created", member),
    ]


@dataclass
class Measured:
    outcome: str
    round_trips: int
    commands: int
    detail: str
    dispatcher: RecordedDispatcher


def prepare(client: redis.Redis) -> None:
    """The program, and the instance known to the registry (its first event would also queue the install)."""
    ProgressStore(client).save_program(INSTANCE, PROGRAM)
    instances.record_installed(client, INSTANCE, datetime.now(UTC))


def measure(
    client: redis.Redis, traffic: Traffic | None, sent: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, Measured]:
    """Each of the `events` through `process_event` as the event task runs it (follow-up tasks kept by a
    recorded dispatcher: they go to the broker, not the store)."""
    journal = EventJournal(client, 3600)
    measured = {}
    for kind, event_type, payload in sent:
        follow_ups = RecordedDispatcher()
        counter = traffic or Traffic()
        with counted(counter):
            outcome = process_event(
                journal,
                client,
                event_type=event_type,
                instance_id=INSTANCE,
                event_id=payload["id"],
                data=json.dumps(payload),
                our_app_id=None,
                claim_ttl_seconds=3600,
                follow_ups=follow_ups,
            )
        measured[kind] = Measured(
            outcome, counter.round_trips, len(counter.commands), counter.describe(), follow_ups
        )
    return measured
