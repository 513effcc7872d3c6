"""Every Redis key the service writes, in one place. All begin with `wrw:` (Wix rewards worker)."""

from __future__ import annotations

QUEUES = ("events", "rewards", "bulk", "periodic")
DEAD_LETTERS = "wrw:dlq"
TASK_OUTCOMES = "wrw:metrics:tasks"


def event_record(instance_id: str, event_id: str) -> str:
    """The journal record of one webhook event; its existence is also the event's seen-mark."""
    return f"wrw:journal:{instance_id}:{event_id}"


def event_record_pattern(event_id: str) -> str:
    """A SCAN pattern that finds an event's record in any instance (operator look-ups)."""
    escaped = event_id.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?").replace("[", "\\[")
    return f"wrw:journal:*:{escaped}"


def uid_source(instance_id: str, unique_identifier: str) -> str:
    """Which webhook event first produced a log's identifier (so a re-run reports its own logs)."""
    return f"wrw:uid-source:{instance_id}:{unique_identifier}"


def order_fulfilled(instance_id: str, order_id: str) -> str:
    """Which webhook event emitted `order_fulfilled` for an order (it is emitted once per order)."""
    return f"wrw:order-fulfilled:{instance_id}:{order_id}"
