"""`sweep`: broken streak runs and failed challenge windows are closed, stamped, once their grace has
passed, without a next log; a second sweep changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.dev.programs import BASE_PROGRAM
from worker.engine.logs import accept_log
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.runtime.providers import job_context
from worker.store.progress import ProgressStore

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # dates here must hold on any day: see tests/clock.py

INSTANCE = "inst-sweep"
# Weekly streak logs in the weeks of 2 and 9 November: the week of 16 November closes incomplete at
# 2026-11-23 00:00 Berlin (22 November 23:00 UTC), final 72 hours later.
BROKEN_AT = "2026-11-23T00:00:00+01:00"
BEFORE_FINAL = datetime(2026, 11, 25, 22, tzinfo=UTC)
AFTER_FINAL = datetime(2026, 11, 26, 0, tzinfo=UTC)


@pytest.fixture
def store(fake_store) -> ProgressStore:  # type: ignore[no-untyped-def]
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, BASE_PROGRAM)
    return store


def record(store: ProgressStore, contact: str, item_id: str, at: datetime, value: int, uid: str) -> None:
    program = store.program(INSTANCE)
    item = program.streak(item_id) or program.challenge(item_id)
    assert item is not None
    log = accept_log(
        item, contact_id=contact, activity_id="order_paid", activity_value=value, activity_at=at,
        unique_identifier=uid, now=at,
    )  # fmt: skip
    store.record(INSTANCE, program, item, log, at)


def run_sweep(store: ProgressStore, now: datetime) -> dict[str, object]:
    jobs = Jobs(store._redis, KINDS)
    job, _ = jobs.start(INSTANCE, "sweep")
    while (
        jobs.run_batch(job["id"], now, job_context(store._redis)) is not None
        and jobs.get(job["id"])["status"] == "running"
    ):  # type: ignore[index]
        pass
    return jobs.get(job["id"])  # type: ignore[return-value]


@pytest.fixture
def lapsed(store: ProgressStore) -> ProgressStore:
    """c1 kept a two-week streak and then stopped; c2 spent 300 of 500 in October; c3 is still going."""
    record(store, "c1", "weekly-shopper", datetime(2026, 11, 3, 10, tzinfo=UTC), 1, "a")
    record(store, "c1", "weekly-shopper", datetime(2026, 11, 10, 10, tzinfo=UTC), 1, "b")
    record(store, "c2", "spend-500", datetime(2026, 10, 20, 10, tzinfo=UTC), 300, "c")
    record(store, "c3", "weekly-shopper", datetime(2026, 11, 24, 10, tzinfo=UTC), 1, "d")
    return store


class TestSweep:
    def test_a_lapsed_streak_and_a_missed_challenge_are_closed_with_their_stamps(self, lapsed) -> None:
        job = run_sweep(lapsed, AFTER_FINAL)

        assert (job["status"], job["total"], job["done"], job["skipped"]) == ("succeeded", 3, 2, 1)
        [streak] = lapsed.closed_records(INSTANCE, "c1")
        assert streak["status"] == "broken" and streak["currentProgressValue"] == 2
        assert datetime.fromisoformat(streak["streakBrokenAt"]) == datetime.fromisoformat(BROKEN_AT)
        assert streak["closedAt"] == "2026-11-26T00:00:00Z"
        [challenge] = lapsed.closed_records(INSTANCE, "c2")
        assert challenge["status"] == "failed" and challenge["currentProgressValue"] == "300"
        assert datetime.fromisoformat(challenge["challengeFailedAt"]) == datetime(
            2026, 10, 31, 23, tzinfo=UTC
        )
        assert lapsed.closed_records(INSTANCE, "c3") == []

    def test_within_the_grace_a_break_is_not_final(self, lapsed) -> None:
        """A late log may still mend it, so the sweep leaves the streak open."""
        run_sweep(lapsed, BEFORE_FINAL)
        assert lapsed.closed_records(INSTANCE, "c1") == []
        assert [r["status"] for r in lapsed.closed_records(INSTANCE, "c2")] == ["failed"]

    def test_a_second_sweep_keeps_the_first_stamps_and_counts_nothing(self, lapsed) -> None:
        run_sweep(lapsed, AFTER_FINAL)
        first = lapsed.closed_records(INSTANCE, "c1")

        again = run_sweep(lapsed, datetime(2026, 11, 27, tzinfo=UTC))

        assert again["done"] == 0
        assert lapsed.closed_records(INSTANCE, "c1") == first

    def test_the_members_progress_shows_what_the_sweep_closed(self, lapsed) -> None:
        from worker.progress.member_progress import member_progress

        run_sweep(lapsed, AFTER_FINAL)
        progress = member_progress(lapsed, INSTANCE, "c1", AFTER_FINAL, wix=lambda: None)
        assert [(r["streakId"], r["status"]) for r in progress["closedRecords"]] == [
            ("weekly-shopper", "broken")
        ]
