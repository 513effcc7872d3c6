"""What the worker records for one event, and that doing it again changes nothing."""

from __future__ import annotations

import json

from tests import wix_samples
from worker.event_processing import process_event
from worker.journal import EventJournal

INSTANCE = "inst-1"


def process(journal: EventJournal, event_type: str, payload: dict) -> str:  # type: ignore[type-arg]
    return process_event(
        journal,
        event_type=event_type,
        instance_id=INSTANCE,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
    )


class TestProcessEvent:
    def test_a_paid_order_is_processed_with_its_normalized_event(self, fake_store) -> None:
        """The journal holds `processed` and the normalized event."""
        journal = EventJournal(fake_store, 3600)
        payload = wix_samples.payment_status_updated()
        assert process(journal, "wix.ecom.v1.order_payment_status_updated", payload) == "processed"
        record = journal.get(INSTANCE, payload["id"])
        assert record["status"] == "processed"
        assert record["normalized"]["name"] == "order_paid"
        assert record["normalized"]["order"]["total"]["amount"] == "10.00"

    def test_running_again_changes_nothing(self, fake_store) -> None:
        """A redelivered task finds the event settled and leaves the record as it was."""
        journal = EventJournal(fake_store, 3600)
        payload = wix_samples.checkout_completed()
        process(journal, "wix.ecom.v1.checkout_completed", payload)
        before = journal.get(INSTANCE, payload["id"])
        assert process(journal, "wix.ecom.v1.checkout_completed", payload) == "already_settled"
        assert journal.get(INSTANCE, payload["id"]) == before

    def test_an_ignored_event_says_why(self, fake_store) -> None:
        """NOT_PAID is recorded as ignored with the reason."""
        journal = EventJournal(fake_store, 3600)
        payload = wix_samples.payment_status_updated(payment_status="NOT_PAID")
        assert process(journal, "wix.ecom.v1.order_payment_status_updated", payload) == "ignored"
        assert "NOT_PAID" in journal.get(INSTANCE, payload["id"])["reason"]

    def test_an_unusable_payload_is_failed_not_retried(self, fake_store) -> None:
        """A payload missing what its type needs is recorded as failed with the error."""
        journal = EventJournal(fake_store, 3600)
        payload = wix_samples.checkout_completed()
        payload["actionEvent"]["body"]["checkout"]["priceSummary"]["total"]["amount"] = "NaN"
        assert process(journal, "wix.ecom.v1.checkout_completed", payload) == "failed"
        assert "finite" in journal.get(INSTANCE, payload["id"])["error"]

    def test_the_record_expires_after_the_journal_ttl(self, fake_store) -> None:
        """Records are kept for the configured time, then go."""
        journal = EventJournal(fake_store, 1234)
        payload = wix_samples.order_approved()
        process(journal, "wix.ecom.v1.order_approved", payload)
        assert 0 < fake_store.ttl(f"wrw:journal:{INSTANCE}:{payload['id']}") <= 1234
