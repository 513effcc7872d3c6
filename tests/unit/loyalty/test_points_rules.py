"""pointsRules: floor(total / per) * points on checkout, one earn per checkout however often delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests import wix_samples
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.program import parse_program
from worker.events.processing import process_event
from worker.loyalty.points_rules import points_to_earn
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.events import normalize

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

PROGRAM = {**BASE_PROGRAM, "pointsRules": [{"on": "checkout_completed", "points": 1, "per": 10}]}


def checkout(total: str, event_id: str = "evt-1") -> dict:  # type: ignore[type-arg]
    payload = wix_samples.checkout_completed(event_id=event_id)
    payload["actionEvent"]["body"]["checkout"]["priceSummary"]["total"]["amount"] = total
    payload["eventTime"] = datetime.now(UTC).isoformat()
    return payload


def event(total: str, event_id: str = "evt-1"):  # type: ignore[no-untyped-def]
    payload = checkout(total, event_id)
    return normalize(
        event_type="wix.ecom.v1.checkout_completed", instance_id="i", event_id=event_id, payload=payload
    )


class TestPointsToEarn:
    def test_one_point_per_ten(self) -> None:
        """$50 earns 5 points for the buyer, keyed by the checkout."""
        [earn] = points_to_earn(event("50"), parse_program(PROGRAM))
        assert earn.points == 5
        assert earn.contact_id == wix_samples.CONTACT_ID
        assert earn.idempotency_key == "wrw:checkout_completed:ddbeb7fc-fab7-4ab8-9ce2-f87a8f5f4327:0"

    def test_the_remainder_is_dropped(self) -> None:
        """$59.99 earns 5, $9.99 earns nothing."""
        assert points_to_earn(event("59.99"), parse_program(PROGRAM))[0].points == 5
        assert points_to_earn(event("9.99"), parse_program(PROGRAM)) == []

    def test_two_deliveries_of_one_checkout_share_the_key(self) -> None:
        """Different webhook event ids, same checkout: the same idempotency key, so Wix earns once."""
        program = parse_program(PROGRAM)
        first = points_to_earn(event("50", "evt-1"), program)
        second = points_to_earn(event("50", "evt-2"), program)
        assert first == second


class TestProcessEventSendsEarns:
    def test_a_checkout_event_sends_its_earn(self, fake_store) -> None:
        """The worker sends the earn to the rewards queue with the program's points."""
        ProgressStore(fake_store).save_program("i", PROGRAM)
        follow_ups = RecordedDispatcher()
        process_event(
            EventJournal(fake_store, 60),
            fake_store,
            event_type="wix.ecom.v1.checkout_completed",
            instance_id="i",
            event_id="evt-1",
            data=json.dumps(checkout("120")),
            our_app_id=None,
            claim_ttl_seconds=60,
            follow_ups=follow_ups,
        )
        [(instance_id, earn)] = follow_ups.earns
        assert instance_id == "i"
        assert earn.points == 12
