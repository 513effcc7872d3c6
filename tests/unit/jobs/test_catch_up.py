"""`catch-up`: orders Wix's search finds are fed through the webhook path; what a webhook already
counted is not counted again, what was missed is, and a second run does nothing."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

import worker.runtime.dispatcher
import worker.runtime.providers
from tests import wix_samples
from tests.unit.events.test_processing import INSTANCE, NOW, ORDER_PAID, RULES, paid, process
from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.jobs.catch_up import events_of
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.runtime.providers import job_context
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # dates here must hold on any day: see tests/clock.py


def order(order_id: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    """A Wix order as the orders search answers it."""
    raw = copy.deepcopy(wix_samples.payment_status_updated()["actionEvent"]["body"]["order"])
    raw.update(id=order_id, updatedDate="2026-11-20T11:00:00Z", createdDate="2026-11-20T10:00:00Z", **fields)
    raw["buyerInfo"]["contactId"] = contact_id
    raw["priceSummary"]["total"]["amount"] = "100.00"
    return raw


class SearchingWix:
    """The orders search, a page of `page_size` at a time; remembers what it was asked."""

    def __init__(self, orders: list[dict[str, Any]], page_size: int = 1) -> None:
        self.orders, self.page_size, self.searches = orders, page_size, []  # type: ignore[var-annotated]

    def search_orders_updated(
        self, instance_id: str, *, since: str, until: str, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.searches.append({"since": since, "until": until, "cursor": cursor})
        start = int(cursor or 0)
        end = start + self.page_size
        return self.orders[start:end], str(end) if end < len(self.orders) else None


@pytest.fixture
def setup(fake_store, monkeypatch):  # type: ignore[no-untyped-def]
    ProgressStore(fake_store).save_program(INSTANCE, {**BASE_PROGRAM, "rules": RULES})
    follow_ups = RecordedDispatcher()
    monkeypatch.setattr(worker.runtime.dispatcher, "CeleryDispatcher", lambda: follow_ups)
    return fake_store


def run_catch_up(client, wix: SearchingWix, monkeypatch, since: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
    jobs = Jobs(client, KINDS)
    record, _ = jobs.start(INSTANCE, "catch-up", since)
    while jobs.run_batch(record["id"], NOW + timedelta(hours=1), job_context(client)) is not None:
        if jobs.get(record["id"])["status"] != "running":  # type: ignore[index]
            break
    return jobs.get(record["id"])  # type: ignore[return-value]


def challenge_values(client, contact_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    state = ProgressStore(client).member_state(INSTANCE, contact_id, "challenge", "spend-500")
    return [str(log.activityValue) for log in state.logs]


class TestEventsOfAnOrder:
    def test_a_paid_fulfilled_order_stands_for_its_payment_and_its_fulfilment(self) -> None:
        events = events_of(
            order("o1", "c1", status="APPROVED", paymentStatus="PAID", fulfillmentStatus="FULFILLED")
        )
        assert [(what, kind) for what, kind, _ in events] == [
            ("approved", "wix.ecom.v1.order_approved"),
            ("paid", ORDER_PAID),
            ("fulfilled", "wix.ecom.v1.fulfillments_updated"),
        ]

    def test_an_unpaid_order_is_not_a_payment_and_a_canceled_one_is_a_cancellation(self) -> None:
        assert [
            w for w, _, _ in events_of(order("o1", "c1", status="APPROVED", paymentStatus="NOT_PAID"))
        ] == ["approved"]
        assert [
            w for w, _, _ in events_of(order("o1", "c1", status="CANCELED", paymentStatus="NOT_PAID"))
        ] == ["canceled"]


class TestCatchUp:
    def test_a_missed_order_is_counted_once_and_a_delivered_one_not_again(self, setup, monkeypatch) -> None:
        client = setup
        journal = EventJournal(client, 3600)
        delivered = paid("evt-delivered", total="100.00", at="2026-11-20T11:00:00Z")
        delivered["actionEvent"]["body"]["order"]["buyerInfo"]["contactId"] = "c-delivered"
        delivered_id = delivered["actionEvent"]["body"]["order"]["id"]
        assert process(journal, ORDER_PAID, delivered) == "processed"
        wix = SearchingWix(
            [
                order(delivered_id, "c-delivered", paymentStatus="PAID"),
                order("order-missed", "c-missed", paymentStatus="PAID"),
            ]
        )

        job = run_catch_up(client, wix, monkeypatch, since="2026-11-19T00:00:00Z")

        assert job["status"] == "succeeded"
        # Each order stands for its approval and its payment; only the missed payment counted something.
        assert (job["done"], job["skipped"], job["failed"]) == (1, 3, 0)
        assert challenge_values(client, "c-delivered") == ["100.00"]
        assert challenge_values(client, "c-missed") == ["100.00"]
        record = journal.get(INSTANCE, "catch-up:order-missed:paid")
        assert record is not None and record["source"] == "catch-up" and record["status"] == "processed"
        assert journal.get(INSTANCE, "evt-delivered")["source"] == "webhook"  # type: ignore[index]
        duplicate = journal.get(INSTANCE, f"catch-up:{delivered_id}:paid")["logs"]  # type: ignore[index]
        assert all(entry["duplicate"] for entry in duplicate)

    def test_a_second_run_counts_nothing_and_starts_from_the_mark(self, setup, monkeypatch) -> None:
        client = setup
        wix = SearchingWix([order("o1", "c1", paymentStatus="PAID"), order("o2", "c2", paymentStatus="PAID")])
        first = run_catch_up(client, wix, monkeypatch, since="2026-11-19T00:00:00Z")
        assert first["done"] == 2
        until = wix.searches[0]["until"]
        assert client.get(keys.catch_up_mark(INSTANCE)) == until

        second = run_catch_up(client, wix, monkeypatch)

        assert (second["done"], second["skipped"]) == (0, first["done"] + first["skipped"])
        assert wix.searches[-2]["since"] == until  # the second run began at the first run's mark
        assert challenge_values(client, "c1") == ["100.00"]

    def test_without_a_mark_or_since_it_looks_back_three_days(self, setup, monkeypatch) -> None:
        wix = SearchingWix([])
        run_catch_up(setup, wix, monkeypatch)
        assert wix.searches[0]["since"].startswith(
            (NOW + timedelta(hours=1) - timedelta(hours=72)).date().isoformat()
        )
