"""A member's progress in one streak or challenge, carried forward log by log (for replays).

`record_streak_log` and `record_challenge_log` (worker/engine/recording.py) recompute a member's progress
from all of their applied logs at every new log: right for the live service, which holds one member's
state at a time, but quadratic over a replay of a member's whole history (the dry-run replays thousands
of logs per member). The trackers here keep what those recomputations need, updated at each log:

- a streak: each period's total, the sorted complete periods, and the runs they form;
- a challenge: each window's total.

A log in the newest complete period (a replay feeds logs in time order) extends the runs in O(1); a
late log that completes an earlier period rebuilds the runs from the complete periods (as
`streak_runs` does). Sums of Decimals are exact here (see `MAX_ACTIVITY_VALUE`), so totals do not depend
on the order logs arrive in, and a period is complete exactly when its total reaches the target
(values are never negative).

A tracker's `Step` (applied or late; the progress record and its progress) leaves milestones out, so a
dry-run of two programs that differ only in milestones can share one tracker per member
(`progress_signature`); `Milestones` turns a step into the milestones achieved. Together
(`MemberProgress`) they answer for a log (`Outcome`) what `record_*` answers about it — whether it
applied, and which milestones it achieved under which keys — as tests/unit/engine/test_carried.py
checks. The trackers are not a source of truth: the live service records through `record_*` only.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from worker.engine.challenges import ChallengeWindow, window_of
from worker.engine.logs import ActivityLog, LogRejected
from worker.engine.periods import PeriodSpan, is_next, period_of
from worker.engine.program import Challenge, Milestone, Program, Streak


@dataclass(frozen=True)
class Outcome:
    """One log's effect: whether it applied (False: too late), and the milestones it newly achieved,
    each with its key `{periodKey}:{milestoneId}`, in the order `record_*` lists them."""

    applied: bool
    achieved: tuple[tuple[str, Milestone], ...] = ()


NOT_APPLIED = Outcome(applied=False)
NOTHING_ACHIEVED = Outcome(applied=True)


@dataclass(frozen=True)
class Step:
    """What one log did to a member's progress: whether it applied (False: too late), and the progress
    record it counts in with that record's progress (`period_key` None: none, e.g. a streak period not
    complete yet). Milestones are not part of it: two programs that differ only in their milestones
    take the same steps."""

    applied: bool
    period_key: str | None = None
    progress: Decimal | int = 0


LATE = Step(applied=False)
NO_RECORD = Step(applied=True)


class Milestones:
    """An item's milestones by target, and those one member already achieved (by key)."""

    def __init__(self, item: Streak | Challenge) -> None:
        self.ordered = sorted(item.milestones, key=lambda m: m.milestoneTargetValue)
        self.achieved: set[str] = set()

    def reach(self, step: Step) -> Outcome:
        """The milestones the step's progress reaches in its progress record, not achieved before."""
        if not step.applied:
            return NOT_APPLIED
        if step.period_key is None:
            return NOTHING_ACHIEVED
        new: list[tuple[str, Milestone]] = []
        for milestone in self.ordered:
            if milestone.milestoneTargetValue > step.progress:
                break
            key = f"{step.period_key}:{milestone.id}"
            if key not in self.achieved:
                new.append((key, milestone))
        if not new:
            return NOTHING_ACHIEVED
        self.achieved.update(key for key, _ in new)
        return Outcome(applied=True, achieved=tuple(new))


@dataclass
class _Run:
    """Consecutive complete periods (by first day); `completed` once it reached the completion target."""

    days: list[date] = field(default_factory=list)
    completed: bool = False


class StreakTracker:
    """One member's progress in one streak."""

    def __init__(self, program: Program, streak: Streak) -> None:
        self.streak = streak
        self.zone = program.zone
        self.grace = timedelta(hours=program.lateLogGraceHours)
        self.totals: dict[date, Decimal] = {}
        self.complete: list[date] = []  # sorted
        self.runs: list[_Run] = []
        self.run_of: dict[date, _Run] = {}
        self.last_span: PeriodSpan | None = None

    def advance(self, log: ActivityLog, now: datetime) -> Step:
        span = self.last_span
        if span is None or not span.start <= log.activityAt < span.end:  # most logs fall in the last one
            span = self.last_span = period_of(log.activityAt, self.streak.aggregationPeriod, self.zone)
        if span.end + self.grace < now:
            return LATE
        day = span.first_day
        before = self.totals.get(day)
        total = log.activityValue if before is None else before + log.activityValue
        self.totals[day] = total
        target = self.streak.aggregationTargetValue
        if total >= target and (before is None or before < target):
            self._completed(day)
        run = self.run_of.get(day)
        if run is None:
            return NO_RECORD
        return Step(applied=True, period_key=run.days[0].isoformat(), progress=len(run.days))

    def _completed(self, day: date) -> None:
        """`day`'s period has just become complete: extend the runs, or rebuild them."""
        if self.complete and day < self.complete[-1]:
            bisect.insort(self.complete, day)
            self.runs, self.run_of = [], {}
            for each in self.complete:
                self._extend(each)
        else:
            self.complete.append(day)
            self._extend(day)

    def _extend(self, day: date) -> None:
        """Add the complete period `day` after every other one (streak_runs' loop, one step)."""
        current = self.runs[-1] if self.runs else None
        if (
            current is None
            or current.completed
            or not is_next(current.days[-1], day, self.streak.aggregationPeriod)
        ):
            current = _Run()
            self.runs.append(current)
        current.days.append(day)
        self.run_of[day] = current
        limit = self.streak.completionTargetValue
        if limit is not None and len(current.days) >= limit:
            current.completed = True


class ChallengeTracker:
    """One member's progress in one challenge."""

    def __init__(self, program: Program, challenge: Challenge) -> None:
        self.challenge = challenge
        self.zone = program.zone
        self.grace = timedelta(hours=program.lateLogGraceHours)
        self.totals: dict[str, Decimal] = {}
        self.last_window: ChallengeWindow | None = None

    def advance(self, log: ActivityLog, now: datetime) -> Step:
        """LogRejected when the log falls outside a one-off window, as `record_challenge_log`."""
        window = self.last_window
        if window is None or not window.contains(log.activityAt):  # most logs fall in the last one
            window = self.last_window = window_of(self.challenge, log.activityAt, self.zone)
        if window is None:
            raise LogRejected(f"activityAt is outside the window of challenge {self.challenge.id!r}")
        if window.end + self.grace < now:
            return LATE
        before = self.totals.get(window.key)
        total = log.activityValue if before is None else before + log.activityValue
        self.totals[window.key] = total
        return Step(applied=True, period_key=window.key, progress=total)


Tracker = StreakTracker | ChallengeTracker


def tracker_for(program: Program, item: Streak | Challenge) -> Tracker:
    if isinstance(item, Streak):
        return StreakTracker(program, item)
    return ChallengeTracker(program, item)


def progress_signature(program: Program, item: Streak | Challenge) -> str:
    """All that a member's steps in `item` depend on (with the log): its kind, the program's timezone and
    grace, and every field of the item but its name, description and milestones. Two items with the same
    signature, in two programs, take the same steps for the same logs, so a replay of both can share
    one tracker per member."""
    kind = "streak" if isinstance(item, Streak) else "challenge"
    fields = item.model_dump(mode="json", exclude={"name", "description", "milestones"})
    return json.dumps([kind, program.timezone, program.lateLogGraceHours, fields], sort_keys=True)


class MemberProgress:
    """One member's progress and milestones in one item: what `record_*` answers, log by log."""

    def __init__(self, program: Program, item: Streak | Challenge) -> None:
        self.tracker = tracker_for(program, item)
        self.milestones = Milestones(item)

    def record(self, log: ActivityLog, now: datetime) -> Outcome:
        """LogRejected as `record_challenge_log` raises it."""
        return self.milestones.reach(self.tracker.advance(log, now))
