"""Caps, budgets and tier multipliers where an event's earns are decided: what is sent, and what the
event's journal entry says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import wix_samples
from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

RULE = {"on": "checkout_completed", "points": 1, "per": 1}


def deliver(  # type: ignore[type-arg]
    client: Any,
    follow_ups: RecordedDispatcher,
    checkout_id: str,
    total: str,
    event_id: str,
    contact: str = wix_samples.CONTACT_ID,
) -> dict:
    payload = wix_samples.checkout_completed(event_id=event_id)
    checkout = payload["actionEvent"]["body"]["checkout"]
    checkout["id"] = checkout_id
    checkout["buyerInfo"]["contactId"] = contact
    checkout["priceSummary"]["total"]["amount"] = total
    payload["eventTime"] = datetime(2026, 3, 14, 12, tzinfo=UTC).isoformat()
    journal = EventJournal(client, 600)
    process_event(
        journal,
        client,
        event_type="wix.ecom.v1.checkout_completed",
        instance_id="i",
        event_id=event_id,
        data=json.dumps(payload),
        our_app_id=None,
        claim_ttl_seconds=60,
        follow_ups=follow_ups,
    )
    record = journal.get("i", event_id)
    assert record is not None
    return record


class TestCapsInProcessing:
    def test_orders_past_the_cap_are_cut_then_dropped_and_the_journal_says_why(self, fake_store) -> None:
        """A 50 monthly cap: 40 earns 40, 30 earns 10, 20 earns nothing; a redelivery of the second
        (another webhook, same checkout) sends the same 10 again (Wix's key makes it one earn)."""
        rule = {**RULE, "maxPerPeriod": 50, "period": "monthly"}
        ProgressStore(fake_store).save_program("i", {**BASE_PROGRAM, "pointsRules": [rule]})
        sent = RecordedDispatcher()
        assert "reason" not in deliver(fake_store, sent, "ch-1", "40", "e1")
        second = deliver(fake_store, sent, "ch-2", "30", "e2")
        assert (
            second["reason"]
            == "pointsRules[0]: capped: maxPerPeriod 50 monthly reached (10 of 30 points earned)"
        )
        third = deliver(fake_store, sent, "ch-3", "20", "e3")
        assert (
            third["reason"]
            == "pointsRules[0]: capped: maxPerPeriod 50 monthly reached (0 of 20 points earned)"
        )
        deliver(fake_store, sent, "ch-2", "30", "e2-again")
        assert [earn.points for _, earn in sent.earns] == [40, 10, 10]
        assert sent.earns[1][1].description == "10 points (30 points for 30 USD; capped)"
        assert len({earn.idempotency_key for _, earn in sent.earns}) == 2

    def test_the_budget_stops_the_rule_for_everyone(self, fake_store) -> None:
        rule = {**RULE, "budget": {"points": 100, "period": "daily"}}
        ProgressStore(fake_store).save_program("i", {**BASE_PROGRAM, "pointsRules": [rule]})
        sent = RecordedDispatcher()
        deliver(fake_store, sent, "ch-1", "90", "e1")
        record = deliver(fake_store, sent, "ch-2", "90", "e2")
        assert record["reason"] == "pointsRules[0]: budget reached: 100 daily (10 of 90 points earned)"
        assert [earn.points for _, earn in sent.earns] == [90, 10]

    def test_the_members_tier_multiplies_before_the_cap(self, fake_store) -> None:
        """Gold x2 on a $30 checkout asks 60; the 50 cap grants 50."""
        rule = {**RULE, "tierMultipliers": {"gold-tier-id": 2}, "maxPerPeriod": 50, "period": "monthly"}
        ProgressStore(fake_store).save_program("i", {**BASE_PROGRAM, "pointsRules": [rule]})
        account = {"id": "acc", "contactId": wix_samples.CONTACT_ID, "tier": {"id": "gold-tier-id"}}
        fake_store.set(keys.loyalty_account_copy("i", wix_samples.CONTACT_ID), json.dumps(account))
        sent = RecordedDispatcher()
        deliver(fake_store, sent, "ch-1", "20", "e1")
        deliver(fake_store, sent, "ch-2", "30", "e2")
        assert [earn.points for _, earn in sent.earns] == [40, 10]


orders = st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 90)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders, st.randoms(use_true_random=False))
def test_any_order_of_events_with_duplicates_stays_within_the_caps(fake_store, placed, rnd) -> None:
    """Checkouts of three members, each delivered 1 to 3 times (other webhooks about the same checkout),
    in any order: each checkout's earn always the same amount, no member past 100, the rule past 150,
    and nothing lost: what fits is granted."""
    fake_store.flushdb()
    rule = {**RULE, "maxPerPeriod": 100, "period": "monthly", "budget": {"points": 150, "period": "monthly"}}
    ProgressStore(fake_store).save_program("i", {**BASE_PROGRAM, "pointsRules": [rule]})
    deliveries = [n for n in range(len(placed)) for _ in range(rnd.randint(1, 3))]
    rnd.shuffle(deliveries)
    sent = RecordedDispatcher()
    for k, n in enumerate(deliveries):
        member, total = placed[n]
        contact = f"{wix_samples.CONTACT_ID[:-1]}{'abc'.index(member)}"
        deliver(fake_store, sent, f"ch-{n}", str(total), f"e{k}", contact=contact)
    by_key: dict[str, set[int]] = {}
    for _, earn in sent.earns:
        by_key.setdefault(earn.idempotency_key, set()).add(earn.points)
    assert all(len(amounts) == 1 for amounts in by_key.values())
    granted = {key: next(iter(amounts)) for key, amounts in by_key.items()}
    contacts = {earn.idempotency_key: earn.contact_id for _, earn in sent.earns}
    for contact in set(contacts.values()):
        assert sum(p for key, p in granted.items() if contacts[key] == contact) <= 100
    assert sum(granted.values()) <= 150
    asked = {member: sum(total for m, total in placed if m == member) for member in "abc"}
    assert sum(granted.values()) == min(150, sum(min(100, points) for points in asked.values()))  # no loss
