"""Streaks at risk on their last day: what the `streak_at_risk` trigger reports (pure).

A member's run is at risk while the previous period is complete and the current one is not yet
(worker.engine.streaks); the trigger fires once the current period's *last local day* has begun, so a
merchant's automation can remind the member while there is still time. A daily streak's only day is
its last. One notice per run and period: the caller keys it by `(streakId, runKey, periodKey)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from worker.engine.logs import ActivityLog
from worker.engine.periods import PeriodSpan, period_of
from worker.engine.program import Program, Streak
from worker.engine.streaks import streak_runs


@dataclass(frozen=True)
class StreakAtRisk:
    streak_id: str
    streak_name: str
    run_key: str  # the run's first period: one notice per run and period
    period: PeriodSpan  # the period under way, not yet complete
    current_progress: int  # complete periods in a row so far
    period_value: Decimal
    period_target: Decimal


def last_day_start(period: PeriodSpan, program: Program) -> datetime:
    """When the period's last local day begins (a UTC instant)."""
    return period_of(period.end - timedelta(microseconds=1), "daily", program.zone).start


def streak_at_risk(
    program: Program, streak: Streak, logs: Iterable[ActivityLog], now: datetime
) -> StreakAtRisk | None:
    """The member's run of this live streak at risk now, on its period's last day; None otherwise."""
    if streak.status != "live":
        return None
    runs, tallies = streak_runs(logs, streak, program.zone, now)
    current = period_of(now, streak.aggregationPeriod, program.zone)
    if now < last_day_start(current, program):
        return None
    for run in runs:
        if run.at_risk and run.status == "in_progress":
            tally = tallies.get(current.key)
            return StreakAtRisk(
                streak_id=streak.id,
                streak_name=streak.name,
                run_key=run.run_id,
                period=current,
                current_progress=run.progress,
                period_value=tally.value if tally else Decimal(0),
                period_target=Decimal(streak.aggregationTargetValue),
            )
    return None
