"""The member's last known Wix tier: a change is answered once per account revision, whatever the order
and repetition of the account events that tell it."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.loyalty.tiers import TierChange, member_tier, observe_tier

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-tiers"
CONTACT = "c-1"
SILVER, GOLD = "9b0e2f4c-0000-4000-8000-000000000001", "9b0e2f4c-0000-4000-8000-000000000002"


class TestObserveTier:
    def test_a_first_tier_above_the_base_is_a_change_from_the_base(self, fake_store) -> None:
        """A member seen first in Silver moved up from the base tier (an account starts there)."""
        change = observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "2")
        assert change == TierChange(CONTACT, None, SILVER, "2")
        assert member_tier(fake_store, INSTANCE, CONTACT) == SILVER

    def test_a_first_event_in_the_base_tier_is_no_change(self, fake_store) -> None:
        assert observe_tier(fake_store, INSTANCE, CONTACT, None, "2") is None
        assert member_tier(fake_store, INSTANCE, CONTACT) is None

    def test_the_same_event_again_answers_the_same_change_so_no_report_is_lost(self, fake_store) -> None:
        """A redelivery (or a re-run after a crash before the report) answers the change again, with the
        same entity: the report is decided once by its entity."""
        first = observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "2")
        again = observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "2")
        assert first == again and first is not None and first.entity == f"tier:{CONTACT}:2"

    def test_an_older_event_arriving_late_changes_nothing(self, fake_store) -> None:
        """Gold at revision 5 then Silver at revision 3 (delivered late): no downgrade, Gold stays."""
        assert observe_tier(fake_store, INSTANCE, CONTACT, GOLD, "5") == TierChange(CONTACT, None, GOLD, "5")
        assert observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "3") is None
        assert member_tier(fake_store, INSTANCE, CONTACT) == GOLD

    def test_points_that_keep_the_tier_are_no_change_and_a_later_move_is(self, fake_store) -> None:
        observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "2")
        assert observe_tier(fake_store, INSTANCE, CONTACT, SILVER, "3") is None
        up, down = (
            observe_tier(fake_store, INSTANCE, CONTACT, GOLD, "4"),
            observe_tier(fake_store, INSTANCE, CONTACT, None, "9"),
        )
        assert (up, down) == (TierChange(CONTACT, SILVER, GOLD, "4"), TierChange(CONTACT, GOLD, None, "9"))

    def test_an_identifier_that_cannot_stand_in_a_key_is_not_kept(self, fake_store) -> None:
        assert observe_tier(fake_store, INSTANCE, "a}b", SILVER, "2") is None
        assert fake_store.keys("*") == []


# Each account revision has one tier (Wix's); the events are delivered in any order, some several times.
revisions = st.lists(st.sampled_from([None, SILVER, GOLD]), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(tiers=revisions, data=st.data())
def test_any_order_with_duplicates_answers_each_change_entity_at_most_once_as_a_new_tier(
    tiers: list[str | None], data: Any
) -> None:
    """Whatever the order and repetition, the distinct changes answered never contradict the newest
    event seen: the member ends in the tier of the highest revision delivered, and every change answered
    for one revision is always the same change."""
    store = fakeredis.FakeRedis(decode_responses=True)
    events = [(str(rev + 1), tier) for rev, tier in enumerate(tiers)]
    deliveries = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=20))
    answered: dict[str, TierChange] = {}
    for revision, tier in deliveries:
        change = observe_tier(store, INSTANCE, CONTACT, tier, revision)
        if change is not None:
            assert answered.setdefault(change.entity, change) == change
            assert change.previous != change.current
    newest = max(deliveries, key=lambda event: int(event[0]))
    assert member_tier(store, INSTANCE, CONTACT) == newest[1]
