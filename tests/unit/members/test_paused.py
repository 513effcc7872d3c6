"""A paused member (worker/store/member_status.py): their orders are still logged and journaled, but count
for nothing (no progress, no milestone, no reward log, no points); resumed, their next order counts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests import wix_samples
from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.members.erasure import erase_member
from worker.store.journal import EventJournal
from worker.store.member_status import set_status, status_of
from worker.store.progress import ProgressStore

pytestmark = [pytest.mark.calendar, pytest.mark.both_stores]

INSTANCE = "inst-1"
CONTACT = wix_samples.CONTACT_ID
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
RULES: list[dict[str, Any]] = [
    {"on": "order_paid", "challenge": "spend-500", "activityId": "order_paid", "value": "order.total"},
]
PROGRAM = {**BASE_PROGRAM, "rules": RULES, "pointsRules": [{"on": "order_paid", "points": 1, "per": 10}]}


def paid(event_id: str, order_id: str, total: str = "300.00") -> dict[str, Any]:
    payload = copy.deepcopy(wix_samples.payment_status_updated(event_id))
    payload["eventTime"] = "2026-11-20T11:59:00Z"
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = order_id
    order["priceSummary"]["total"]["amount"] = total
    return payload


def process(fake_store: Any, follow_ups: RecordedDispatcher, payload: dict[str, Any]) -> str:
    return process_event(
        EventJournal(fake_store, 3600),
        fake_store,
        event_type=ORDER_PAID,
        instance_id=INSTANCE,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
        claim_ttl_seconds=3600,
        now=NOW,
        follow_ups=follow_ups,
    )


def pause(fake_store: Any, status: str) -> None:
    with fake_store.pipeline() as pipe:
        set_status(pipe, INSTANCE, CONTACT, status)  # type: ignore[arg-type]
        pipe.execute()


@pytest.fixture
def store(fake_store: Any) -> ProgressStore:
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, PROGRAM)
    return store


class TestPausedMember:
    def test_a_paused_members_order_is_logged_and_earns_nothing(self, fake_store, store) -> None:
        """Journaled with the reason `paused`; no progress, no reward log, no points earn sent."""
        pause(fake_store, "paused")
        follow_ups = RecordedDispatcher()
        assert process(fake_store, follow_ups, paid("evt-1", "order-1")) == "processed"
        (entry,) = EventJournal(fake_store, 3600).get(INSTANCE, "evt-1")["logs"]  # type: ignore[index]
        assert entry["applied"] is False
        assert entry["reason"] == "paused"
        assert store.member_state(INSTANCE, CONTACT, "challenge", "spend-500").logs == []
        assert store.member_reward_logs(INSTANCE, CONTACT) == []
        assert follow_ups.earns == []
        assert follow_ups.sent == []

    def test_the_paused_log_is_kept_so_its_redelivery_stays_a_duplicate(self, fake_store, store) -> None:
        """The log's answer is kept: a redelivery after the resume does not count it late."""
        pause(fake_store, "paused")
        process(fake_store, RecordedDispatcher(), paid("evt-1", "order-1"))
        pause(fake_store, "live")
        process(fake_store, RecordedDispatcher(), paid("evt-2", "order-1"))
        (entry,) = EventJournal(fake_store, 3600).get(INSTANCE, "evt-2")["logs"]  # type: ignore[index]
        assert entry["duplicate"] is True
        assert store.member_state(INSTANCE, CONTACT, "challenge", "spend-500").logs == []

    def test_resumed_the_next_order_counts_and_earns(self, fake_store, store) -> None:
        """After the resume: progress, the `half` milestone's reward log, and 30 points."""
        pause(fake_store, "paused")
        process(fake_store, RecordedDispatcher(), paid("evt-1", "order-1"))
        pause(fake_store, "live")
        assert status_of(fake_store, INSTANCE, CONTACT) == "live"
        follow_ups = RecordedDispatcher()
        process(fake_store, follow_ups, paid("evt-2", "order-2"))
        (log,) = store.member_state(INSTANCE, CONTACT, "challenge", "spend-500").logs
        assert str(log.activityValue) == "300.00"
        assert [r["milestoneId"] for r in store.member_reward_logs(INSTANCE, CONTACT)] == ["half"]
        [(_, earn)] = follow_ups.earns
        assert earn.points == 30


class TestMemberTimeline:
    def test_the_members_events_are_listed_newest_first_and_paged(self, fake_store, store) -> None:
        """Each settled event about the member is in their timeline, the newest first."""
        start = datetime.now(UTC) - timedelta(minutes=5)  # the index expires with the journal, by the clock
        for number in (1, 2, 3):
            with time_machine.travel(start + timedelta(minutes=number), tick=False):
                process(fake_store, RecordedDispatcher(), paid(f"evt-{number}", f"order-{number}", "10.00"))
        journal = EventJournal(fake_store, 10**9)
        page, total = journal.member_events(INSTANCE, CONTACT, limit=2)
        assert total == 3
        assert [record["eventId"] for record in page] == ["evt-3", "evt-2"]
        older, _ = journal.member_events(INSTANCE, CONTACT, offset=2, limit=2)
        assert [record["eventId"] for record in older] == ["evt-1"]
        assert journal.member_events(INSTANCE, "someone-else")[1] == 0


def test_erasing_the_member_takes_their_status_and_timeline(fake_store, store) -> None:
    """The status and the timeline index live under the member's hash tag: the erasure removes them."""
    pause(fake_store, "paused")
    process(fake_store, RecordedDispatcher(), paid("evt-1", "order-1"))
    assert (
        fake_store.exists(keys.member_status(INSTANCE, CONTACT), keys.member_events(INSTANCE, CONTACT)) == 2
    )
    erase_member(fake_store, INSTANCE, CONTACT)
    assert (
        fake_store.exists(keys.member_status(INSTANCE, CONTACT), keys.member_events(INSTANCE, CONTACT)) == 0
    )
    assert status_of(fake_store, INSTANCE, CONTACT) == "live"
