"""Streak progress, recomputed from the member's applied logs.

Progress is a function of the set of applied logs and the time of evaluation, never of the order
the logs arrived in: redeliveries, retries and late logs (within the grace) all give the same answer.

- A period is complete when its logs add up to `aggregationTargetValue`.
- A run is a sequence of consecutive complete periods; `currentProgressValue` is its length. A run
  that reaches `completionTargetValue` is `completed`, and the next complete period starts a new run.
- A run is `broken` once the period after its last one has closed incomplete (`streakBrokenAt` is
  that period's end); the period still under way never breaks a run.
- `at_risk`: the previous period is complete and the current one is not yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from worker.engine.logs import ActivityLog
from worker.engine.periods import PeriodSpan, following, is_next, period_of
from worker.engine.program import Streak
from worker.engine.timestamps import utc_stamp

RunStatus = Literal["in_progress", "broken", "completed"]


@dataclass(frozen=True)
class PeriodTally:
    span: PeriodSpan
    value: Decimal
    completed_at: datetime | None  # when the logs, in order, first reached the target

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


@dataclass
class StreakRun:
    """One progress record: a member's run of consecutive complete periods."""

    periods: list[PeriodTally] = field(default_factory=list)
    status: RunStatus = "in_progress"
    broken_at: datetime | None = None
    completed_at: datetime | None = None
    at_risk: bool = False

    @property
    def run_id(self) -> str:
        return self.periods[0].span.key

    @property
    def progress(self) -> int:
        return len(self.periods)

    def to_json(self, streak: Streak) -> dict[str, Any]:
        return {
            "streakId": streak.id,
            "periodKey": self.run_id,
            "status": self.status,
            "currentProgressValue": self.progress,
            "completionTargetValue": streak.completionTargetValue,
            "streakStartedAt": self.periods[0].span.start.isoformat(),
            "lastCompletedPeriodKey": self.periods[-1].span.key,
            "streakBrokenAt": self.broken_at.isoformat() if self.broken_at else None,
            "streakCompletedAt": self.completed_at.isoformat() if self.completed_at else None,
            "at_risk": self.at_risk,
        }


def tally_periods(logs: Iterable[ActivityLog], streak: Streak, zone: ZoneInfo) -> dict[str, PeriodTally]:
    """Each period's total and the moment it became complete, keyed by period key."""
    by_period: dict[str, tuple[PeriodSpan, list[ActivityLog]]] = {}
    for log in logs:
        span = period_of(log.activityAt, streak.aggregationPeriod, zone)
        by_period.setdefault(span.key, (span, []))[1].append(log)
    tallies = {}
    for key, (span, period_logs) in by_period.items():
        total = Decimal(0)
        completed_at = None
        for log in sorted(period_logs):
            total += log.activityValue
            if completed_at is None and total >= streak.aggregationTargetValue:
                completed_at = log.activityAt
        tallies[key] = PeriodTally(span=span, value=total, completed_at=completed_at)
    return tallies


def streak_runs(
    logs: Iterable[ActivityLog], streak: Streak, zone: ZoneInfo, now: datetime
) -> tuple[list[StreakRun], dict[str, PeriodTally]]:
    """Every run of the member in this streak, oldest first, and the period tallies behind them."""
    tallies = tally_periods(logs, streak, zone)
    complete = sorted((t for t in tallies.values() if t.complete), key=lambda t: t.span.first_day)
    runs: list[StreakRun] = []
    for tally in complete:
        current = runs[-1] if runs else None
        continues = (
            current is not None
            and current.status != "completed"
            and is_next(current.periods[-1].span.first_day, tally.span.first_day, streak.aggregationPeriod)
        )
        if not continues:
            current = StreakRun()
            runs.append(current)
        assert current is not None
        current.periods.append(tally)
        if streak.completionTargetValue is not None and current.progress >= streak.completionTargetValue:
            current.status = "completed"
            current.completed_at = tally.completed_at
    current_period = period_of(now, streak.aggregationPeriod, zone)
    for run in runs:
        if run.status == "completed":
            continue
        after = following(run.periods[-1].span, streak.aggregationPeriod, zone)
        if after.end <= now:
            run.status = "broken"
            run.broken_at = after.end
        elif after.key == current_period.key:
            run.at_risk = True
    return runs, tallies


def run_containing(runs: list[StreakRun], period_key: str) -> StreakRun | None:
    return next((run for run in runs if any(p.span.key == period_key for p in run.periods)), None)


def task_progress(streak: Streak, span: PeriodSpan, tally: PeriodTally | None) -> dict[str, Any]:
    """One period's `taskProgress`: its bounds, its total against the target, and whether it is done."""
    return {
        "periodKey": span.key,
        "periodStartsAt": utc_stamp(span.start),
        "periodEndsAt": utc_stamp(span.end),
        "value": str(tally.value if tally else 0),
        "target": str(streak.aggregationTargetValue),
        "complete": bool(tally and tally.complete),
    }
