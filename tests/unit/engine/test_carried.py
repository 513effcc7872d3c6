"""The dry-run's trackers (worker/engine/carried.py) answer every log exactly as the engine's own
recording does (`record_streak_log` / `record_challenge_log` over a `MemberState`): applied or late,
rejected, and the same milestones under the same keys, for logs in any order, late ones included."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.program_strategies import SPAN_DAYS, START, program_documents
from worker.dev.programs import milestone, program, streak
from worker.engine.carried import MemberProgress, StreakTracker, tracker_for
from worker.engine.logs import ActivityLog, LogRejected, accept_log
from worker.engine.program import Challenge, Program, Streak, parse_program
from worker.engine.recording import MemberState, record_challenge_log, record_streak_log

VALUES = ("1", "3", "5", "7.5", "10", "0.25", "40")
DELAYS_HOURS = (0, 0, 0, 0, 1, 30, 80, 200, 800)  # from when it happened to when it is logged

# (the fraction of the 45 days after START when it happened, its value, hours until it is logged)
log_entries = st.tuples(
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.sampled_from(VALUES),
    st.sampled_from(DELAYS_HOURS),
)


def reference_answer(
    program: Program, item: Streak | Challenge, state: MemberState, log: ActivityLog, now: datetime
) -> tuple[Any, ...]:
    """What the live engine answers about the log (and the state it keeps, as the store does)."""
    record = record_streak_log if isinstance(item, Streak) else record_challenge_log
    try:
        recorded = record(program, item, state, log, instance_id="i1", now=now)  # type: ignore[arg-type]
    except LogRejected as exc:
        return ("rejected", str(exc))
    state.apply(log, recorded)
    milestone_ids = [reward_log["milestoneId"] for reward_log in recorded.reward_logs]
    return (recorded.applied, recorded.achieved_keys, milestone_ids)


def tracker_answer(tracker: MemberProgress, log: ActivityLog, now: datetime) -> tuple[Any, ...]:
    try:
        outcome = tracker.record(log, now)
    except LogRejected as exc:
        return ("rejected", str(exc))
    return (outcome.applied, [key for key, _ in outcome.achieved], [m.id for _, m in outcome.achieved])


def accepted(item: Streak | Challenge, at: datetime, value: str, uid: str, now: datetime) -> ActivityLog:
    return accept_log(
        item,
        contact_id="c1",
        activity_id=item.activityIds[0],
        activity_value=value,
        activity_at=at,
        unique_identifier=uid,
        now=now,
    )


class TestSameAnswersAsTheEngine:
    @settings(max_examples=400, deadline=None)
    @given(
        document=program_documents(max_items=1),
        entries=st.lists(log_entries, min_size=1, max_size=80),
        spread_days=st.sampled_from((2, 8, 20, SPAN_DAYS)),
        in_time_order=st.booleans(),
    )
    def test_every_log_answered_alike(self, document, entries, spread_days, in_time_order) -> None:
        """Logs delivered as they happen or in any order, some past the grace, sparse or dense: each log
        gets the engine's answer from the tracker, for a streak and a challenge of any shape."""
        program = parse_program(document)
        logs = []
        for n, (fraction, value, delay) in enumerate(entries):
            at = START + timedelta(minutes=int(fraction * spread_days * 24 * 60))
            logs.append((at, value, at + timedelta(hours=delay), f"u{n}"))
        if in_time_order:
            logs.sort(key=lambda entry: (entry[2], entry[0]))
        for item in [*program.streaks, *program.challenges]:
            if item.status != "live":
                continue
            state, tracker = MemberState(), MemberProgress(program, item)
            for at, value, now, uid in logs:
                log = accepted(item, at, value, uid, now)
                assert tracker_answer(tracker, log, now) == reference_answer(program, item, state, log, now)


class TestStreakRuns:
    def document(self, completion: int | None) -> dict[str, Any]:
        return program(
            late_log_grace_hours=720,
            streaks=[
                streak(
                    "daily",
                    "Daily",
                    period="daily",
                    completion=completion,
                    milestones=[milestone("two", "Two", 2), milestone("three", "Three", completion or 3)],
                )
            ],
        )

    def test_a_late_log_joining_two_runs_rewards_the_joined_run(self) -> None:
        """Days 1, 3 and 4 logged, then day 2 late: one run of four days from day 1, whose milestones
        (keyed by its first day) are reached by the late log."""
        prog = parse_program(self.document(None))
        item = prog.streaks[0]
        tracker = MemberProgress(prog, item)
        day = START.replace(hour=12)
        now = day + timedelta(days=4)
        answers = [
            tracker.record(accepted(item, day + timedelta(days=n), "1", f"u{n}", now), now)
            for n in (0, 2, 3, 1)
        ]
        assert [[key for key, _ in a.achieved] for a in answers] == [
            [],
            [],
            [f"{(day + timedelta(days=2)).date()}:two"],
            [f"{day.date()}:two", f"{day.date()}:three"],
        ]

    def test_a_completed_run_starts_the_next(self) -> None:
        """With a completion target of two days, four days in a row are two runs of two."""
        prog = parse_program(self.document(2))
        item = prog.streaks[0]
        tracker = StreakTracker(prog, item)
        day = START.replace(hour=12)
        for n in range(4):
            at = day + timedelta(days=n)
            tracker.advance(accepted(item, at, "1", f"u{n}", at), at)
        assert [(run.days[0], len(run.days)) for run in tracker.runs] == [
            (day.date(), 2),
            ((day + timedelta(days=2)).date(), 2),
        ]

    def test_a_log_past_the_grace_is_not_applied(self) -> None:
        prog = parse_program({**self.document(None), "lateLogGraceHours": 0})
        item = prog.streaks[0]
        tracker = StreakTracker(prog, item)
        at = START.replace(hour=12)
        outcome = tracker.advance(
            accepted(item, at, "1", "u1", at + timedelta(days=2)), at + timedelta(days=2)
        )
        assert not outcome.applied
        assert tracker.totals == {}


@pytest.mark.parametrize("value", ["0.1", "0.2", "0.3"])
def test_sums_are_exact(value: str) -> None:
    """Decimal totals: ten logs of 0.1 make exactly 1 (no float drift decides a milestone)."""
    prog = parse_program(
        program(
            challenges=[
                {
                    "id": "c",
                    "name": "C",
                    "status": "live",
                    "activityIds": ["order_paid"],
                    "aggregationMethod": "sum",
                    "aggregationPeriod": "monthly",
                    "completionTargetValue": 1,
                }
            ]
        )
    )
    item = prog.challenges[0]
    tracker = tracker_for(prog, item)
    at = START.replace(day=2)
    for n in range(10):
        tracker.advance(accepted(item, at, value, f"u{n}", at), at)
    assert tracker.totals == {"2027-03-01": Decimal(value) * 10}  # type: ignore[union-attr]


@pytest.mark.parametrize("after_grace", [timedelta(0), timedelta(microseconds=1)])
def test_the_grace_ends_where_the_engines_does(after_grace: timedelta) -> None:
    """Logged exactly when the grace after its period ends, a log still counts; a microsecond later it
    does not: the tracker and the engine draw the line at the same instant."""
    prog = parse_program(
        program(
            timezone="Europe/Berlin",
            late_log_grace_hours=72,
            streaks=[streak("weekly", "Weekly", period="weekly", milestones=[milestone("one", "One", 1)])],
            challenges=[
                {
                    "id": "c",
                    "name": "C",
                    "status": "live",
                    "activityIds": ["order_paid"],
                    "aggregationMethod": "count",
                    "aggregationPeriod": "weekly",
                    "completionTargetValue": 1,
                }
            ],
        )
    )
    at = START + timedelta(days=2)  # Wednesday 3 March 2027; the week ends Monday 8 March, 00:00 in Berlin
    week_end = datetime.fromisoformat("2027-03-08T00:00:00+01:00")
    now = week_end + timedelta(hours=72) + after_grace
    for item in (prog.streaks[0], prog.challenges[0]):
        log = accepted(item, at, "1", "u1", now)
        answer = tracker_answer(MemberProgress(prog, item), log, now)
        assert answer == reference_answer(prog, item, MemberState(), log, now)
        assert answer[0] is (after_grace == timedelta(0))
