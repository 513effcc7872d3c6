"""Streaks, challenges, milestones and reward logs, from the engine's point of view (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.dev.programs import BASE_PROGRAM
from worker.engine.logs import LogRejected, accept_log
from worker.engine.program import Program, parse_program
from worker.engine.recording import MemberState, Recorded, record_challenge_log, record_streak_log

pytestmark = pytest.mark.calendar  # dates here must hold on any day: see tests/clock.py


@pytest.fixture
def program() -> Program:
    return parse_program(BASE_PROGRAM)


class Member:
    """A member's state in one streak or challenge, as the store would keep it."""

    def __init__(self, program: Program, item_id: str) -> None:
        self.program = program
        self.item = program.streak(item_id) or program.challenge(item_id)
        self.state = MemberState()
        self.seen: set[str] = set()
        self.reward_logs: list[dict[str, Any]] = []

    def log(self, at: datetime, uid: str, value: Any = 1, now: datetime | None = None) -> Recorded | None:
        now = now or at + timedelta(minutes=1)
        if uid in self.seen:
            return None  # a duplicate changes nothing (the store answers the original)
        assert self.item is not None
        log = accept_log(
            self.item, contact_id="c1", activity_id="order_paid", activity_value=value,
            activity_at=at, unique_identifier=uid, now=now,
        )  # fmt: skip
        record = record_streak_log if self.program.streak(self.item.id) else record_challenge_log
        recorded = record(self.program, self.item, self.state, log, instance_id="i1", now=now)  # type: ignore[arg-type]
        self.seen.add(uid)
        if recorded.applied:
            self.state.logs.append(log)
            self.state.achieved.update(recorded.achieved_keys)
            self.reward_logs.extend(recorded.reward_logs)
        return recorded


def berlin(*parts: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*parts, tzinfo=ZoneInfo("Europe/Berlin"))


# Mondays of November 2026
WEEK1, WEEK2, WEEK3, WEEK4, WEEK5 = (berlin(2026, 11, day, 12) for day in (2, 9, 16, 23, 30))


class TestStreaks:
    def test_consecutive_weeks_count_and_reach_a_milestone(self, program) -> None:
        """Two weeks in a row: progress 2, the two-weeks milestone and its coupon reward log."""
        member = Member(program, "weekly-shopper")
        first = member.log(WEEK1, "o1")
        assert first.answer["streakProgress"]["currentProgressValue"] == 1
        assert first.answer["nextMilestone"]["id"] == "two-weeks"
        second = member.log(WEEK2, "o2")
        progress = second.answer["streakProgress"]
        assert progress["currentProgressValue"] == 2
        assert progress["status"] == "in_progress"
        assert second.answer["achievedMilestone"]["id"] == "two-weeks"
        reward_log = second.answer["achievedMilestoneRewardLog"]
        assert reward_log["status"] == "pending"
        assert reward_log["reward"]["coupon"]["percentOffRate"] == "5"
        assert reward_log["linkedSchemaSlug"] == "streak"
        assert reward_log["periodKey"] == "2026-11-02"
        assert second.answer["taskProgress"] == {
            "periodKey": "2026-11-09",
            "periodStartsAt": "2026-11-08T23:00:00Z",
            "periodEndsAt": "2026-11-15T23:00:00Z",
            "value": "1",
            "target": "1",
            "complete": True,
        }

    def test_a_second_log_in_the_same_week_changes_nothing_more(self, program) -> None:
        """Once the week is complete, more orders that week neither extend the run nor re-award."""
        member = Member(program, "weekly-shopper")
        member.log(WEEK1, "o1")
        member.log(WEEK2, "o2")
        again = member.log(WEEK2 + timedelta(hours=3), "o3")
        assert again.answer["streakProgress"]["currentProgressValue"] == 2
        assert again.answer["achievedMilestone"] is None
        assert len(member.reward_logs) == 1

    def test_at_risk_then_broken(self, program) -> None:
        """With last week complete and this week not yet, the run is at risk; a missed week breaks it."""
        member = Member(program, "weekly-shopper")
        member.log(WEEK1, "o1")
        member.log(WEEK2, "o2")
        during_week3 = member.log(WEEK1 + timedelta(hours=1), "o-extra", now=WEEK3)
        assert during_week3.answer["streakProgress"]["at_risk"] is True
        after_week3 = member.log(WEEK4 + timedelta(days=6), "o4")
        assert after_week3.answer["streakProgress"]["currentProgressValue"] == 1
        assert after_week3.answer["streakProgress"]["periodKey"] == "2026-11-23"

    def test_the_broken_run_is_stamped(self, program) -> None:
        """A run whose next week closed empty is broken at that week's end."""
        member = Member(program, "weekly-shopper")
        member.log(WEEK1, "o1")
        later = member.log(WEEK1 + timedelta(hours=2), "o1b", now=WEEK3 + timedelta(days=6, hours=12))
        progress = later.answer["streakProgress"]
        assert progress["status"] == "broken"
        assert progress["streakBrokenAt"] == "2026-11-15T23:00:00+00:00"

    def test_a_late_log_within_the_grace_mends_the_break(self, program) -> None:
        """Week 2's order arrives on Tuesday of week 3: it still counts and joins weeks 1 to 3."""
        member = Member(program, "weekly-shopper")
        member.log(WEEK1, "o1")
        member.log(WEEK3, "o3")
        mended = member.log(WEEK2, "o2", now=WEEK3 + timedelta(days=1))
        assert mended.answer["applied"] is True
        assert mended.answer["streakProgress"]["currentProgressValue"] == 3

    def test_a_log_past_the_grace_is_kept_out(self, program) -> None:
        """Week 1's order arriving ten days after week 1 ended changes no progress and says late."""
        member = Member(program, "weekly-shopper")
        member.log(WEEK2, "o2")
        late = member.log(WEEK1, "o1", now=WEEK3 + timedelta(days=3))
        assert late.answer["applied"] is False
        assert late.answer["reason"] == "late"
        assert member.state.logs[-1].uniqueIdentifier == "o2"

    def test_completion_ends_the_run_and_the_next_log_starts_a_new_one(self, program) -> None:
        """Four weeks complete the streak (both milestones); week five starts run two."""
        member = Member(program, "weekly-shopper")
        for uid, week in enumerate((WEEK1, WEEK2, WEEK3)):
            member.log(week, f"o{uid}")
        fourth = member.log(WEEK4, "o4")
        assert fourth.answer["streakProgress"]["status"] == "completed"
        assert fourth.answer["achievedMilestone"]["id"] == "four-weeks"
        fifth = member.log(WEEK5, "o5")
        assert fifth.answer["streakProgress"]["currentProgressValue"] == 1
        assert fifth.answer["streakProgress"]["periodKey"] == "2026-11-30"
        assert [r["milestoneId"] for r in member.reward_logs] == ["two-weeks", "four-weeks"]


class TestChallenges:
    def test_one_log_crossing_two_milestones_achieves_both(self, program) -> None:
        """$600 at once passes 250 and 500: both achieved, the highest reported, completed."""
        member = Member(program, "spend-500")
        recorded = member.log(berlin(2026, 11, 5, 10), "o1", value="600.00")
        assert [m["id"] for m in recorded.answer["achievedMilestones"]] == ["half", "full"]
        assert recorded.answer["achievedMilestone"]["id"] == "full"
        assert len(recorded.answer["achievedMilestoneRewardLogs"]) == 2
        assert recorded.answer["challengeProgress"]["status"] == "completed"

    def test_sums_never_drift(self, program) -> None:
        """Ten orders of 0.10 add up to exactly 1.00."""
        member = Member(program, "spend-500")
        for n in range(10):
            last = member.log(berlin(2026, 11, 5, 10, n), f"o{n}", value="0.10")
        assert last.answer["challengeProgress"]["currentProgressValue"] == "1.00"

    def test_a_window_that_ends_short_fails(self, program) -> None:
        """November closes at 100 of 500: failed, stamped at the month's end."""
        member = Member(program, "spend-500")
        member.log(berlin(2026, 11, 5, 10), "o1", value=100)
        later = member.log(berlin(2026, 11, 5, 11), "o2", value=1, now=berlin(2026, 12, 1, 12))
        assert later.answer["challengeProgress"]["status"] == "failed"
        assert later.answer["challengeProgress"]["challengeFailedAt"] == "2026-11-30T23:00:00+00:00"

    def test_a_one_off_window_rejects_logs_outside_it(self, program) -> None:
        """The launch week takes only its own week."""
        member = Member(program, "launch-week")
        with pytest.raises(LogRejected, match="outside the window"):
            member.log(berlin(2026, 11, 10, 12), "o1")

    def test_each_month_is_its_own_window(self, program) -> None:
        """December starts from zero, and its milestones can be achieved again."""
        member = Member(program, "spend-500")
        member.log(berlin(2026, 11, 5), "o1", value=300)
        december = member.log(berlin(2026, 12, 5), "o2", value=300)
        assert december.answer["challengeProgress"]["currentProgressValue"] == "300"
        assert december.answer["achievedMilestone"]["id"] == "half"
        assert [r["periodKey"] for r in member.reward_logs] == ["2026-11-01", "2026-12-01"]


class TestRejected:
    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"item": "paused-one"}, "paused, not live"),
            ({"activity_id": "visited"}, "does not take activity"),
            ({"activity_at": datetime(2026, 11, 5, 12)}, "timezone"),
            ({"activity_at": datetime(2026, 11, 5, 12, 10, tzinfo=UTC)}, "future"),
            ({"item": "spend-500", "activity_value": None}, "required"),
            ({"item": "spend-500", "activity_value": "-1"}, "negative"),
            ({"item": "spend-500", "activity_value": "NaN"}, "finite"),
            ({"item": "spend-500", "activity_value": "abc"}, "not a number"),
        ],
    )
    def test_what_the_domain_refuses(self, program, changes, reason) -> None:
        """Each refusal names its reason."""
        changes = dict(changes)  # the parameter is shared by every run of this case
        item_id = changes.pop("item", "weekly-shopper")
        item = program.streak(item_id) or program.challenge(item_id)
        arguments = {
            "contact_id": "c1", "activity_id": "order_paid", "activity_value": 1,
            "activity_at": datetime(2026, 11, 5, 12, tzinfo=UTC), "unique_identifier": "u1",
            "now": datetime(2026, 11, 5, 12, tzinfo=UTC),
        }  # fmt: skip
        arguments.update(changes)
        with pytest.raises(LogRejected, match=reason):
            accept_log(item, **arguments)


# --- properties -----------------------------------------------------------------------------------

DAILY: dict[str, Any] = {
    "timezone": "America/New_York",
    "lateLogGraceHours": 720,
    "streaks": [
        {
            "id": "daily",
            "name": "Daily",
            "status": "live",
            "activityIds": ["order_paid"],
            "aggregationMethod": "sum",
            "aggregationPeriod": "daily",
            "aggregationTargetValue": 10,
            "completionTargetValue": 5,
            "milestones": [
                {"id": "m2", "name": "2", "milestoneTargetValue": 2},
                {"id": "m3", "name": "3", "milestoneTargetValue": 3},
            ],
        }
    ],
    "challenges": [
        {
            "id": "monthly",
            "name": "Monthly",
            "status": "live",
            "activityIds": ["order_paid"],
            "aggregationMethod": "sum",
            "aggregationPeriod": "monthly",
            "completionTargetValue": 100,
            "milestones": [{"id": "m50", "name": "50", "milestoneTargetValue": 50}],
        }
    ],
}
START = datetime(2026, 10, 25, tzinfo=UTC)  # spans the US daylight-saving change of 1 Nov 2026

log_strategy = st.tuples(
    st.integers(min_value=0, max_value=20 * 24 * 60),  # minutes after START
    st.sampled_from(["3", "5", "7.5", "10", "0.25"]),
)


def brute_force_runs(
    logs: list[tuple[datetime, Decimal]], target: Decimal, completion: int
) -> list[tuple[date, int]]:
    """Day by day from the first log's local day: (first day, length) of each run."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    totals: dict[date, Decimal] = {}
    for at, value in sorted(logs):
        day = at.astimezone(zone).date()
        totals[day] = totals.get(day, Decimal(0)) + value
    runs: list[tuple[date, int]] = []
    if not totals:
        return runs
    day, last = min(totals), max(totals)
    current: tuple[date, int] | None = None
    while day <= last:
        complete = totals.get(day, Decimal(0)) >= target
        if complete:
            if current is None or current[1] == completion:
                current = (day, 1)
                runs.append(current)
            else:
                current = (current[0], current[1] + 1)
                runs[-1] = current
        else:
            current = None
        day += timedelta(days=1)
    return runs


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(
        logs=st.lists(log_strategy, min_size=1, max_size=25, unique_by=lambda entry: entry[0]),
        order=st.randoms(use_true_random=False),
        duplicates=st.lists(st.integers(min_value=0, max_value=24), max_size=10),
    )
    def test_any_order_with_duplicates_equals_the_brute_force(self, logs, order, duplicates) -> None:
        """Logs delivered in any order, some twice, give the progress a day-by-day recount gives,
        a challenge total equal to the sum of its distinct logs, and no milestone twice per record."""
        program = parse_program(DAILY)
        entries = [(START + timedelta(minutes=minutes), Decimal(value)) for minutes, value in logs]
        deliveries = list(range(len(entries))) + [d % len(entries) for d in duplicates]
        order.shuffle(deliveries)
        now = START + timedelta(days=21)
        streak_member, challenge_member = Member(program, "daily"), Member(program, "monthly")
        for index in deliveries:
            at, value = entries[index]
            streak_member.log(at, f"u{index}", value, now=now)
            challenge_member.log(at, f"u{index}", value, now=now)

        from worker.engine.streaks import streak_runs

        runs, _ = streak_runs(streak_member.state.logs, program.streaks[0], program.zone, now)
        assert [(run.periods[0].span.first_day, run.progress) for run in runs] == brute_force_runs(
            entries, Decimal(10), 5
        )
        keys = [(r["periodKey"], r["milestoneId"]) for r in streak_member.reward_logs]
        assert len(keys) == len(set(keys))

        by_month: dict[str, Decimal] = {}
        for log in challenge_member.state.logs:
            month = log.activityAt.astimezone(program.zone).strftime("%Y-%m")
            by_month[month] = by_month.get(month, Decimal(0)) + log.activityValue
        assert sum(by_month.values()) == sum(value for _, value in entries)
        challenge_keys = [(r["periodKey"], r["milestoneId"]) for r in challenge_member.reward_logs]
        assert len(challenge_keys) == len(set(challenge_keys))
