"""While the Wix loyalty program is not ACTIVE, points wait; when it is ACTIVE again, they go."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests import wix_samples
from tests.unit.loyalty.test_points_rules import PROGRAM, checkout
from tests.unit.rewards.test_fulfilment import StandInWix, reward_log
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.rewards.fulfilment import fulfil_reward
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)


def deliver(fake_store, follow_ups, event_type: str, payload: dict) -> str:  # type: ignore[no-untyped-def, type-arg]
    return process_event(
        EventJournal(fake_store, 60),
        fake_store,
        event_type=event_type,
        instance_id="inst-1",
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id=None,
        claim_ttl_seconds=60,
        follow_ups=follow_ups,
    )


def program_event(status: str, event_id: str) -> dict:  # type: ignore[type-arg]
    payload = wix_samples.program_updated(event_id=event_id, status=status)
    payload["eventTime"] = datetime.now(UTC).isoformat()
    return payload


class TestPointsWait:
    def test_checkout_points_wait_while_paused_and_go_when_active(self, fake_store) -> None:
        """Paused: the earn is held back. Active again: the same earn (same key) is sent."""
        ProgressStore(fake_store).save_program("inst-1", PROGRAM)
        follow_ups = RecordedDispatcher()
        deliver(fake_store, follow_ups, "wix.loyalty.v1.program_updated", program_event("PAUSED", "p-1"))
        deliver(fake_store, follow_ups, "wix.ecom.v1.checkout_completed", checkout("50", "c-1"))
        assert follow_ups.earns == []
        deliver(fake_store, follow_ups, "wix.loyalty.v1.program_updated", program_event("ACTIVE", "p-2"))
        [(_, earn)] = follow_ups.earns
        assert earn.points == 5
        deliver(fake_store, follow_ups, "wix.loyalty.v1.program_updated", program_event("ACTIVE", "p-3"))
        assert len(follow_ups.earns) == 1  # nothing left waiting

    def test_a_points_reward_waits_pending_with_the_reason(self, fake_store) -> None:
        """A points reward while paused: pending, saying why; sent for fulfilment once ACTIVE."""
        store = ProgressStore(fake_store)
        store.save_program("inst-1", {**PROGRAM, "lateLogGraceHours": 720})
        follow_ups = RecordedDispatcher()
        deliver(fake_store, follow_ups, "wix.loyalty.v1.program_updated", program_event("PAUSED", "p-1"))
        log = reward_log(store, 4)
        wix = StandInWix()
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], datetime.now(UTC)) == "pending"  # type: ignore[arg-type]
        assert wix.earned == {}
        assert "PAUSED" in store.reward_log("inst-1", log["id"])["error"]
        deliver(fake_store, follow_ups, "wix.loyalty.v1.program_updated", program_event("ACTIVE", "p-2"))
        assert follow_ups.sent == [("inst-1", log["id"])]
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], datetime.now(UTC)) == "issued"  # type: ignore[arg-type]
