"""What the worker does with one event: normalize it, feed the program's rules into the engine, and
record in the journal what came of it; doing it again changes nothing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from tests import wix_samples
from worker.dev.programs import BASE_PROGRAM
from worker.events.processing import process_event
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # dates here must hold on any day: see tests/clock.py

INSTANCE = "inst-1"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
# DESIGN.md's example rules.
RULES: list[dict[str, Any]] = [
    {"on": "order_paid", "streak": "weekly-shopper", "activityId": "order_paid", "value": "count"},
    {"on": "order_paid", "challenge": "spend-500", "activityId": "order_paid", "value": "order.total"},
]


def process(journal: EventJournal, event_type: str, payload: dict[str, Any], now: datetime = NOW) -> str:
    return process_event(
        journal,
        journal._redis,  # the same fake Redis
        event_type=event_type,
        instance_id=INSTANCE,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
        claim_ttl_seconds=3600,
        now=now,
    )


def paid(event_id: str, total: str = "300.00", at: str = "2026-11-20T11:59:00Z") -> dict[str, Any]:
    """An order_paid webhook for the sample order, with its own event id, total and time."""
    payload = copy.deepcopy(wix_samples.payment_status_updated(event_id))
    payload["eventTime"] = at
    payload["actionEvent"]["body"]["order"]["priceSummary"]["total"]["amount"] = total
    return payload


def logs(journal: EventJournal, event_id: str) -> list[dict[str, Any]]:
    """The journal's list of what the event produced (stored as JSON text)."""
    value = journal.get(INSTANCE, event_id)["logs"]  # type: ignore[index]
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


@pytest.fixture
def journal(fake_store) -> EventJournal:  # type: ignore[no-untyped-def]
    return EventJournal(fake_store, 3600)


@pytest.fixture
def store(fake_store) -> ProgressStore:  # type: ignore[no-untyped-def]
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, {**BASE_PROGRAM, "rules": RULES})
    return store


class TestProcessEvent:
    def test_a_paid_order_is_processed_with_its_normalized_event(self, journal) -> None:
        """The journal holds `processed` and the normalized event."""
        payload = wix_samples.payment_status_updated()
        assert process(journal, ORDER_PAID, payload) == "processed"
        record = journal.get(INSTANCE, payload["id"])
        assert record["status"] == "processed"
        assert record["normalized"]["name"] == "order_paid"
        assert record["normalized"]["order"]["total"]["amount"] == "10.00"

    def test_running_again_changes_nothing(self, journal, store) -> None:
        """A redelivered task finds the event settled and leaves the record (and progress) as it was."""
        payload = paid("evt-1")
        process(journal, ORDER_PAID, payload)
        before = journal.get(INSTANCE, payload["id"])
        assert process(journal, ORDER_PAID, payload) == "already_settled"
        assert journal.get(INSTANCE, payload["id"]) == before
        assert len(store.member_state(INSTANCE, wix_samples.CONTACT_ID, "challenge", "spend-500").logs) == 1

    def test_an_ignored_event_says_why(self, journal) -> None:
        """NOT_PAID is recorded as ignored with the reason."""
        payload = wix_samples.payment_status_updated(payment_status="NOT_PAID")
        assert process(journal, ORDER_PAID, payload) == "ignored"
        assert "NOT_PAID" in journal.get(INSTANCE, payload["id"])["reason"]

    def test_an_unusable_payload_is_failed_not_retried(self, journal) -> None:
        """A payload missing what its type needs is recorded as failed with the error."""
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


class TestRulesFeedTheEngine:
    def test_a_paid_order_feeds_the_streak_and_the_challenge(self, journal, store) -> None:
        """DESIGN's rules: the streak counts the order, the challenge adds its total; both are journaled."""
        assert process(journal, ORDER_PAID, paid("evt-1", total="120.50")) == "processed"
        order = wix_samples.ORDER_ID
        streak_log, challenge_log = logs(journal, "evt-1")
        assert streak_log == {
            "rule": 0, "on": "order_paid", "streak": "weekly-shopper", "activityId": "order_paid",
            "uniqueIdentifier": f"wix:order:{order}:order_paid:streak:weekly-shopper",
            "activityValue": "1", "applied": True, "duplicate": False,
            "achievedMilestones": [], "rewardLogIds": [],
        }  # fmt: skip
        assert challenge_log["challenge"] == "spend-500"
        assert challenge_log["uniqueIdentifier"] == f"wix:order:{order}:order_paid:challenge:spend-500"
        assert challenge_log["activityValue"] == "120.50"
        assert challenge_log["applied"] is True
        contact = wix_samples.CONTACT_ID
        assert len(store.member_state(INSTANCE, contact, "streak", "weekly-shopper").logs) == 1
        (log,) = store.member_state(INSTANCE, contact, "challenge", "spend-500").logs
        assert str(log.activityValue) == "120.50"

    def test_the_journal_names_the_milestone_and_its_reward_log(self, journal, store) -> None:
        """Spending 300 of 500 crosses `half`: the journal names it and its stored reward log."""
        process(journal, ORDER_PAID, paid("evt-1", total="300.00"))
        challenge_log = logs(journal, "evt-1")[1]
        assert challenge_log["achievedMilestones"] == ["half"]
        (reward_log_id,) = challenge_log["rewardLogIds"]
        reward_log = store.reward_log(INSTANCE, reward_log_id)
        assert reward_log["milestoneId"] == "half"
        assert reward_log["contactId"] == wix_samples.CONTACT_ID
        assert reward_log["status"] == "pending"

    def test_one_order_paid_by_two_webhooks_counts_once(self, journal, store) -> None:
        """A second webhook (another event id) about the same order is a duplicate: progress stays at 300."""
        process(journal, ORDER_PAID, paid("evt-1"))
        assert process(journal, ORDER_PAID, paid("evt-2")) == "processed"
        for entry in logs(journal, "evt-2"):
            assert entry["duplicate"] is True
            assert entry["applied"] is False
            assert entry["achievedMilestones"] == []
            assert entry["reason"] == "already counted by event evt-1"
        state = store.member_state(INSTANCE, wix_samples.CONTACT_ID, "challenge", "spend-500")
        assert [str(log.activityValue) for log in state.logs] == ["300.00"]
        assert len(store.member_reward_logs(INSTANCE, wix_samples.CONTACT_ID)) == 1

    def test_a_run_stopped_before_settling_ends_the_same_when_run_again(
        self, journal, store, fake_store, monkeypatch
    ) -> None:
        """Logs recorded, then the worker dies before the journal is settled: the re-run journals what
        an uninterrupted run would have, and counts nothing twice."""
        clean = EventJournal(fake_store, 3600)
        process(clean, ORDER_PAID, paid("evt-clean", total="300.00"))
        expected = logs(clean, "evt-clean")
        fake_store.flushall()
        store.save_program(INSTANCE, {**BASE_PROGRAM, "rules": RULES})

        def die(*args: object, **kwargs: object) -> None:
            raise redis.ConnectionError("worker lost")

        with monkeypatch.context() as patch:
            patch.setattr(journal, "settle", die)
            with pytest.raises(redis.ConnectionError):
                process(journal, ORDER_PAID, paid("evt-1", total="300.00"))
        assert not journal.is_settled(INSTANCE, "evt-1")
        assert process(journal, ORDER_PAID, paid("evt-1", total="300.00")) == "processed"
        assert logs(journal, "evt-1") == expected
        assert len(store.member_reward_logs(INSTANCE, wix_samples.CONTACT_ID)) == 1

    def test_a_redis_error_while_recording_propagates_for_a_retry(self, journal, store, monkeypatch) -> None:
        """A Redis hiccup is not a reason: it reaches Celery (which retries) and the event stays unsettled."""

        def hiccup(*args: object, **kwargs: object) -> None:
            raise redis.ConnectionError("connection reset")

        monkeypatch.setattr(ProgressStore, "record", hiccup)
        with pytest.raises(redis.ConnectionError):
            process(journal, ORDER_PAID, paid("evt-1"))
        assert not journal.is_settled(INSTANCE, "evt-1")


class TestReasons:
    def test_no_program_is_processed_with_the_reason(self, journal) -> None:
        """An instance without a program: processed (not failed, not retried), and the journal says why."""
        assert process(journal, ORDER_PAID, paid("evt-1")) == "processed"
        record = journal.get(INSTANCE, "evt-1")
        assert record["status"] == "processed"
        assert "no program" in record["reason"]
        assert logs(journal, "evt-1") == []

    def test_a_paused_streak_is_the_rules_reason(self, journal, store) -> None:
        """The paused streak's rule records why it took nothing; the live challenge still counts."""
        rules = [{**RULES[0], "streak": "paused-one"}, RULES[1]]
        store.save_program(INSTANCE, {**BASE_PROGRAM, "rules": rules})
        assert process(journal, ORDER_PAID, paid("evt-1")) == "processed"
        paused, challenge = logs(journal, "evt-1")
        assert paused["streak"] == "paused-one"
        assert paused["reason"] == "streak 'paused-one' is paused, not live"
        assert "applied" not in paused
        assert challenge["applied"] is True

    def test_a_stored_program_that_does_not_validate_fails_the_event(self, journal, store) -> None:
        """A rule naming an unknown streak makes the stored program invalid: failed with the problem."""
        rules = [{**RULES[0], "streak": "no-such-streak"}]
        store.save_program(INSTANCE, {**BASE_PROGRAM, "rules": rules})
        assert process(journal, ORDER_PAID, paid("evt-1")) == "failed"
        assert (
            "rules[0].streak: no streak with id 'no-such-streak'" in journal.get(INSTANCE, "evt-1")["error"]
        )

    def test_an_event_from_the_future_is_the_rules_reason(self, journal, store) -> None:
        """An eventTime an hour ahead of the worker's clock is refused by the engine, rule by rule."""
        process(journal, ORDER_PAID, paid("evt-1", at="2026-11-20T13:00:00Z"))
        assert [entry["reason"] for entry in logs(journal, "evt-1")] == [
            "activityAt is more than 5 minutes in the future"
        ] * 2

    def test_an_order_paid_long_ago_is_kept_but_late(self, journal, store) -> None:
        """Past the late-log grace the log is kept but counts nothing, and the journal says late."""
        process(journal, ORDER_PAID, paid("evt-1", at="2026-09-01T10:00:00Z"))
        for entry in logs(journal, "evt-1"):
            assert (entry["applied"], entry["duplicate"], entry["reason"]) == (False, False, "late")

    def test_an_event_without_a_contact_is_the_rules_reason(self, journal, store) -> None:
        """No buyer contact on the order: nothing is logged and each rule says why."""
        payload = paid("evt-1")
        del payload["actionEvent"]["body"]["order"]["buyerInfo"]
        assert process(journal, ORDER_PAID, payload) == "processed"
        assert [entry["reason"] for entry in logs(journal, "evt-1")] == [
            "the order_paid event names no contact"
        ] * 2

    def test_a_missing_total_is_the_challenges_reason(self, journal, store) -> None:
        """An order without a total still feeds the count streak; the sum challenge says what is missing."""
        payload = paid("evt-1")
        del payload["actionEvent"]["body"]["order"]["priceSummary"]
        process(journal, ORDER_PAID, payload)
        streak, challenge = logs(journal, "evt-1")
        assert streak["applied"] is True
        assert challenge["reason"] == "order.total is missing on this order_paid event"

    def test_an_event_no_rule_is_on_produces_no_logs(self, journal, store) -> None:
        """An approved (not yet paid) order: processed, no logs, no progress."""
        payload = wix_samples.order_approved("evt-1")
        assert process(journal, "wix.ecom.v1.order_approved", payload) == "processed"
        assert logs(journal, "evt-1") == []
        assert "reason" not in journal.get(INSTANCE, "evt-1")
        assert store.member_state(INSTANCE, wix_samples.CONTACT_ID, "streak", "weekly-shopper").logs == []


class TestOrderFulfilledOncePerOrder:
    def test_a_second_fulfilment_webhook_for_a_fulfilled_order_is_ignored(self, fake_store) -> None:
        """Wix may send several fulfilment updates; order_fulfilled is emitted for the first only."""
        order = wix_samples.payment_status_updated()["actionEvent"]["body"]["order"]
        order["fulfillmentStatus"] = "FULFILLED"
        journal = EventJournal(fake_store, 3600)
        outcomes = []
        for event_id in ("f-1", "f-2", "f-1"):
            payload = wix_samples.fulfillments_updated(event_id=event_id)
            outcomes.append(
                process_event(
                    journal,
                    fake_store,
                    event_type="wix.ecom.v1.fulfillments_updated",
                    instance_id=INSTANCE,
                    event_id=event_id,
                    data=json.dumps(payload),
                    our_app_id=None,
                    claim_ttl_seconds=3600,
                    order_lookup=lambda instance, order_id: order,
                )
            )
        assert outcomes == ["processed", "ignored", "already_settled"]
        assert "emitted for this order by event f-1" in journal.get(INSTANCE, "f-2")["reason"]
