"""`catch-up`: order webhooks that never arrived, recovered from Wix's orders search.

Wix stops retrying a webhook after about 47 hours, and a receiver can be down for longer. The job lists
the orders updated since its last mark (`POST /ecom/v1/orders/search`, filtered and sorted on
`updatedDate`, cursor-paged) and rebuilds, from each order's state, the webhook events it would have
sent: approved, paid, fulfilled, canceled. Each goes through `process_event` — the same normalization,
rules and business identifiers as a webhook — so an activity the webhook already counted is answered as
a duplicate and only what was missed is counted. Each rebuilt event has a deterministic id
(`catch-up:{orderId}:{what}`) and a journal record marked `source: catch-up`, so running the job twice
finds its own events settled and does nothing.

The mark is the moment the run started (orders updated during the run are the next run's), written when
the last page is done; without a mark or a `since`, the first run looks back `LOOKBACK`: as far as the
engine's late-log grace lets an activity count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from worker import keys
from worker.engine.timestamps import utc_stamp
from worker.events.processing import process_event
from worker.jobs.runner import Batch, JobContext
from worker.store.journal import EventJournal

LOOKBACK = timedelta(hours=72)
ORDERS_PER_BATCH = 50


def events_of(order: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The webhook events an order's state stands for: `(what, Wix event type, payload)`.

    The payloads are shaped as Wix sends them (wix-facts.md §3), with `eventTime` the best moment the
    order tells for each: created for approval, purchased for payment, last updated for the rest.
    """
    order_id = str(order["id"])

    def action(moment: Any) -> dict[str, Any]:
        return {"entityId": order_id, "eventTime": moment, "actionEvent": {"body": {"order": order}}}

    updated = order.get("updatedDate")
    events: list[tuple[str, str, dict[str, Any]]] = []
    if order.get("status") == "APPROVED":
        events.append(("approved", "wix.ecom.v1.order_approved", action(order.get("createdDate") or updated)))
    if order.get("paymentStatus") == "PAID":
        paid_at = order.get("purchasedDate") or order.get("createdDate") or updated
        events.append(("paid", "wix.ecom.v1.order_payment_status_updated", action(paid_at)))
    if order.get("fulfillmentStatus") == "FULFILLED":
        fulfilment = {
            "entityId": order_id,
            "eventTime": updated,
            "updatedEvent": {"currentEntity": {"orderId": order_id}},
        }
        events.append(("fulfilled", "wix.ecom.v1.fulfillments_updated", fulfilment))
    if order.get("status") == "CANCELED":
        events.append(("canceled", "wix.ecom.v1.order_canceled", action(updated)))
    return events


def catch_up(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """One page of orders: each one's events through the webhook path, once. `done` counts the events
    that counted something the webhooks had missed; `skipped` the rest."""
    client, settings, instance_id = context.redis, context.settings, record["instanceId"]
    wix, follow_ups = context.wix(), context.dispatcher()
    if record["cursor"] in (None, "", "0"):
        mark = client.get(keys.catch_up_mark(instance_id))
        since = record["since"] or (str(mark) if mark else utc_stamp(now - LOOKBACK))
        state: dict[str, Any] = {"since": since, "until": utc_stamp(now), "page": None}
    else:
        state = json.loads(record["cursor"])
    orders, next_page = wix.search_orders_updated(
        instance_id, since=state["since"], until=state["until"], cursor=state["page"], limit=ORDERS_PER_BATCH
    )
    journal = EventJournal(client, settings.event_journal_ttl_seconds, source="catch-up")
    done = skipped = 0
    failures: list[str] = []
    for order in orders:
        for what, event_type, payload in events_of(order):
            outcome = process_event(
                journal,
                client,
                event_type=event_type,
                instance_id=instance_id,
                event_id=f"catch-up:{order['id']}:{what}",
                data=json.dumps(payload),
                our_app_id=settings.wix_app_id,
                claim_ttl_seconds=settings.event_journal_ttl_seconds,
                follow_ups=follow_ups,
                order_lookup=_the(order),
                sync_defaults=settings,
                now=now,
            )
            if outcome == "processed" and _counted_something(
                journal, instance_id, f"catch-up:{order['id']}:{what}"
            ):
                done += 1  # recovered: the webhook had not counted it
            elif outcome == "failed":
                failures.append(f"order {order['id']} ({what}): see event catch-up:{order['id']}:{what}")
            else:
                skipped += 1
    if next_page is None:
        client.set(keys.catch_up_mark(instance_id), state["until"])
        return Batch(done, skipped, failures, None)
    return Batch(done, skipped, failures, json.dumps({**state, "page": next_page}))


def _the(order: dict[str, Any]) -> Callable[[str, str], dict[str, Any] | None]:
    """An order look-up that answers the order in hand (a fulfilment needs its buyer and status)."""
    return lambda _instance_id, _order_id: order


def _counted_something(journal: EventJournal, instance_id: str, event_id: str) -> bool:
    """Whether the event applied a log of its own (not one a webhook had already counted)."""
    record = journal.get(instance_id, event_id) or {}
    return any(entry.get("applied") and not entry.get("duplicate") for entry in record.get("logs") or [])
