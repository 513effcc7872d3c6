"""The store applies the engine's results atomically: duplicates change nothing, refusals write nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.engine.logs import LogRejected, accept_log
from worker.engine.program import ProgramInvalid, parse_program
from worker.store import progress
from worker.store.progress import NoProgram, ProgressStore

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def store(fake_store) -> ProgressStore:
    store = ProgressStore(fake_store)
    store.save_program("inst-1", BASE_PROGRAM)
    return store


def record(
    store: ProgressStore, item_id: str, uid: str, value: object = 1, at: datetime = NOW, contact: str = "c1"
):  # type: ignore[no-untyped-def]
    program = store.program("inst-1")
    item = program.streak(item_id) or program.challenge(item_id)
    log = accept_log(
        item, contact_id=contact, activity_id="order_paid", activity_value=value,
        activity_at=at, unique_identifier=uid, now=NOW,
    )  # fmt: skip
    return store.record("inst-1", program, item, log, NOW)


class TestPrograms:
    def test_versions_grow_and_the_document_round_trips(self, fake_store) -> None:
        """Each save bumps the version; the stored document is what was saved."""
        store = ProgressStore(fake_store)
        assert store.save_program("inst-1", BASE_PROGRAM) == 1
        assert store.save_program("inst-1", BASE_PROGRAM) == 2
        assert store.program_document("inst-1") == (2, BASE_PROGRAM)

    def test_no_program(self, fake_store) -> None:
        """An instance without a program says so."""
        with pytest.raises(NoProgram):
            ProgressStore(fake_store).program("nobody")

    def test_an_unchanged_program_is_validated_once_and_a_published_one_is_read_at_once(
        self, fake_store, monkeypatch
    ) -> None:
        """Many reads of one stored program validate it once (an event reads it several times); the
        next publication is what the next read answers."""
        parsed: list[object] = []
        monkeypatch.setattr(progress, "parse_program", lambda doc: parsed.append(doc) or parse_program(doc))
        progress._parsed_program.cache_clear()
        store = ProgressStore(fake_store)
        store.save_program("inst-1", BASE_PROGRAM)
        first = [store.program("inst-1") for _ in range(5)]
        assert len(parsed) == 1 and all(program == first[0] for program in first)
        changed = {**BASE_PROGRAM, "streaks": BASE_PROGRAM["streaks"][:1]}
        store.save_program("inst-1", changed)
        assert [s.id for s in store.program("inst-1").streaks] == [BASE_PROGRAM["streaks"][0]["id"]]
        assert len(parsed) == 2

    def test_a_stored_program_that_does_not_validate_is_refused_at_every_read(self, fake_store) -> None:
        """A broken stored program is never cached as anything: each read raises ProgramInvalid."""
        fake_store.set(keys.program("inst-1"), json.dumps({"version": 1, "document": {"streaks": 3}}))
        for _ in range(2):
            with pytest.raises(ProgramInvalid):
                ProgressStore(fake_store).program("inst-1")


class TestMemberStates:
    def test_one_read_answers_each_item_as_member_state_does(self, store, fake_store) -> None:
        """Several items' states in one MGET: the same as reading each, an item never logged is empty."""
        record(store, "spend-500", "order-1", value=300)
        items = [("challenge", "spend-500"), ("streak", "weekly-shopper"), ("challenge", "no-such")]
        states = [state() for state in store.member_states("inst-1", "c1", items)]  # type: ignore[arg-type]
        assert states == [store.member_state("inst-1", "c1", kind, item) for kind, item in items]  # type: ignore[arg-type]
        assert len(states[0].logs) == 1 and states[2].logs == []


class TestRecord:
    def test_a_duplicate_answers_the_original_and_changes_nothing(self, store, fake_store) -> None:
        """The same uniqueIdentifier again: the first answer, flagged duplicate, state untouched."""
        first = record(store, "spend-500", "order-1", value=300)
        before = fake_store.get("wrw:{inst-1:c1}:challenge:spend-500")
        again = record(store, "spend-500", "order-1", value=999)
        assert again.duplicate
        assert again.answer == first.answer
        assert fake_store.get("wrw:{inst-1:c1}:challenge:spend-500") == before

    def test_an_identifier_is_unique_across_the_members_items(self, store) -> None:
        """A uniqueIdentifier used for one of the member's items is a duplicate for another item too."""
        record(store, "spend-500", "order-1", value=300)
        assert record(store, "weekly-shopper", "order-1").duplicate

    def test_reward_logs_are_stored_with_the_milestone(self, store) -> None:
        """Crossing a milestone stores its reward log, readable by id and by member."""
        outcome = record(store, "spend-500", "order-1", value=300)
        reward_log = outcome.answer["achievedMilestoneRewardLog"]
        assert store.reward_log("inst-1", reward_log["id"]) == reward_log
        assert [r["id"] for r in store.member_reward_logs("inst-1", "c1")] == [reward_log["id"]]
        assert store.reward_log("inst-2", reward_log["id"]) is None

    def test_a_refused_log_writes_nothing(self, store, fake_store) -> None:
        """One-off window refusal: no state, no identifier claimed."""
        before = set(fake_store.keys("*"))
        with pytest.raises(LogRejected):
            record(store, "launch-week", "order-x", at=datetime(2026, 11, 20, 11, tzinfo=UTC))
        assert set(fake_store.keys("*")) == before

    def test_a_late_log_is_kept_but_not_counted(self, store) -> None:
        """Outside the grace: answered applied false, kept aside, progress unchanged."""
        record(store, "spend-500", "recent", value=10)
        late = record(store, "spend-500", "old", value=10, at=NOW - timedelta(days=40))
        assert late.answer["applied"] is False
        state = store.member_state("inst-1", "c1", "challenge", "spend-500")
        assert [log.uniqueIdentifier for log in state.logs] == ["recent"]


class TestOneSlotPerMember:
    def test_every_key_a_log_writes_shares_the_members_hash_tag(self, store, fake_store) -> None:
        """State, identifier, reward log and outbox all live in the member's slot; only the indexes
        (reward log ids and their times, members for the sweep, outboxes for the relay) are outside, and
        the analytics counts of the day (worker/store/stats.py: on one Redis, in the same MULTI; on a
        cluster right after it)."""
        record(store, "spend-500", "order-1", value=300)
        program_keys = ("wrw:program:", "wrw:program-versions:", "wrw:audit-log:")  # the program's save
        program_keys += ("wrw:stats:{inst-1}:",)
        written = {key for key in fake_store.scan_iter("*") if not key.startswith(program_keys)}
        outside = {key for key in written if not key.startswith("wrw:{inst-1:c1}:")}
        assert outside == {
            "wrw:reward-index:{inst-1}",
            "wrw:reward-times:{inst-1}",
            "wrw:members:inst-1",
            "wrw:outbox-index",
        }
        assert "wrw:{inst-1:c1}:outbox" in written

    def test_a_member_is_indexed_for_the_sweep_and_a_lost_entry_mended_by_the_retry(
        self, store, fake_store
    ) -> None:
        record(store, "spend-500", "order-1", value=300)
        assert fake_store.smembers("wrw:members:inst-1") == {"c1"}
        fake_store.delete("wrw:members:inst-1")
        assert record(store, "spend-500", "order-1", value=300).duplicate
        assert fake_store.smembers("wrw:members:inst-1") == {"c1"}

    def test_a_lost_index_entry_is_mended_by_the_retry(self, store, fake_store) -> None:
        """If the process died after the MULTI, the client's retry (a duplicate) indexes the reward log."""
        outcome = record(store, "spend-500", "order-1", value=300)
        reward_id = outcome.answer["achievedMilestoneRewardLog"]["id"]
        fake_store.delete("wrw:reward-index:{inst-1}")
        assert store.reward_log("inst-1", reward_id) is None
        assert record(store, "spend-500", "order-1", value=300).duplicate
        assert store.reward_log("inst-1", reward_id)["milestoneId"] == "half"
