"""Challenge progress, recomputed from the member's applied logs in one window.

A window is a recurring period (`aggregationPeriod`) or one fixed `window`. `currentProgressValue`
adds up the window's logs; the challenge is `completed` when it reaches `completionTargetValue`
(`challengeCompletedAt`: the log that got it there, in activity order) and `failed` when the window
ends short (`challengeFailedAt`: the window's end).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from worker.engine.logs import ActivityLog
from worker.engine.periods import period_of
from worker.engine.program import Challenge

ChallengeStatus = Literal["in_progress", "completed", "failed"]


@dataclass(frozen=True)
class ChallengeWindow:
    key: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window_of(challenge: Challenge, moment: datetime, zone: ZoneInfo) -> ChallengeWindow | None:
    """The window `moment` falls in; None when a one-off window does not contain it."""
    if challenge.window is not None:
        fixed = ChallengeWindow(
            challenge.window.startsAt.isoformat(), challenge.window.startsAt, challenge.window.endsAt
        )
        return fixed if fixed.contains(moment) else None
    assert challenge.aggregationPeriod is not None
    span = period_of(moment, challenge.aggregationPeriod, zone)
    return ChallengeWindow(span.key, span.start, span.end)


@dataclass(frozen=True)
class ChallengeProgress:
    window: ChallengeWindow
    value: Decimal
    status: ChallengeStatus
    completed_at: datetime | None
    failed_at: datetime | None

    def to_json(self, challenge: Challenge) -> dict[str, Any]:
        return {
            "challengeId": challenge.id,
            "periodKey": self.window.key,
            "windowStartsAt": self.window.start.isoformat(),
            "windowEndsAt": self.window.end.isoformat(),
            "status": self.status,
            "currentProgressValue": str(self.value),
            "completionTargetValue": str(challenge.completionTargetValue),
            "challengeCompletedAt": self.completed_at.isoformat() if self.completed_at else None,
            "challengeFailedAt": self.failed_at.isoformat() if self.failed_at else None,
        }


def challenge_progress(
    logs: Iterable[ActivityLog], challenge: Challenge, window: ChallengeWindow, now: datetime
) -> ChallengeProgress:
    """The progress of one window from the logs in it (logs outside the window are not counted)."""
    total = Decimal(0)
    completed_at = None
    for log in sorted(log for log in logs if window.contains(log.activityAt)):
        total += log.activityValue
        if completed_at is None and total >= challenge.completionTargetValue:
            completed_at = log.activityAt
    if completed_at is not None:
        return ChallengeProgress(window, total, "completed", completed_at, None)
    if window.end <= now:
        return ChallengeProgress(window, total, "failed", None, window.end)
    return ChallengeProgress(window, total, "in_progress", None, None)
