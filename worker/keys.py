"""Every Redis key the service writes, in one place. All begin with `wrw:` (Wix rewards worker)."""

from __future__ import annotations

QUEUES = ("events", "rewards", "bulk", "periodic")
DEAD_LETTERS = "wrw:dlq"
TASK_OUTCOMES = "wrw:metrics:tasks"


def event_record(instance_id: str, event_id: str) -> str:
    """The journal record of one webhook event; its existence is also the event's seen-mark."""
    return f"wrw:journal:{instance_id}:{event_id}"


# Sorted set: the journal record key of each event on its way to a worker, scored by when it was queued
# (or last sent again); the event leaves it when it settles (worker.lost_events).
QUEUED_EVENTS = "wrw:events:queued"


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


# Points sync with an external loyalty system (worker/points_sync*.py). One hash tag per instance, so the
# mapping's hashes change together in one Lua call (and stay in one slot under Redis Cluster).


def sync_contacts(instance_id: str) -> str:
    """Hash: contact id → `{"email", "revision", "externalId", "deleted"}` (JSON)."""
    return f"wrw:sync:{{{instance_id}}}:contacts"


def sync_emails(instance_id: str) -> str:
    """Hash: lower-cased email → contact id."""
    return f"wrw:sync:{{{instance_id}}}:emails"


def sync_external_ids(instance_id: str) -> str:
    """Hash: the external system's member id → contact id."""
    return f"wrw:sync:{{{instance_id}}}:external-ids"


def sync_webhook_id(webhook_id: str) -> str:
    """An inbound `webhook-id` already accepted (replays are refused)."""
    return f"wrw:sync:webhook-id:{webhook_id}"


def sync_inbound(instance_id: str, transaction_id: str) -> str:
    """An external transaction accepted for Wix (its id is our earn-points idempotencyKey)."""
    return f"wrw:sync:{{{instance_id}}}:in:{transaction_id}"


def sync_outbound(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix transaction sent (or being sent) to the external system."""
    return f"wrw:sync:{{{instance_id}}}:out:{wix_transaction_id}"


def sync_own_transaction(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix transaction that inbound sync made (its points_updated event is not sent back out)."""
    return f"wrw:sync:{{{instance_id}}}:own:{wix_transaction_id}"


def own_points_transaction(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix loyalty transaction our app made (earn or adjust answered its id): never echoed back out."""
    return f"wrw:wix:{{{instance_id}}}:own-transaction:{wix_transaction_id}"


def loyalty_account_copy(instance_id: str, contact_id: str) -> str:
    """A short-lived copy of a member's Wix loyalty account (worker.progress_view); every change we make
    through WixClient, and every points_updated webhook, drops it."""
    return f"wrw:cache:loyalty-account:{instance_id}:{contact_id}"


def loyalty_program_copy(instance_id: str) -> str:
    """A short-lived copy of the site's Wix loyalty program; a program_updated webhook drops it."""
    return f"wrw:cache:loyalty-program:{instance_id}"


# The outbox (worker/outbox.py): intents live beside what committed them, under that data's hash tag.

OUTBOX_INDEX = "wrw:outbox-index"
"""Sorted set: outbox key → when an intent was last written there (the relay's list of places to look)."""


def sync_outbox(instance_id: str) -> str:
    """Hash: the instance's points-sync intents (an accepted inbound change's apply task)."""
    return f"wrw:sync:{{{instance_id}}}:outbox"
