"""Progress records that have closed for good: broken streak runs and failed challenge windows.

A break or a failure becomes final once the late-log grace after it has passed (a late log within the
grace may still mend it, see DESIGN.md "Late logs"). The sweep job persists these, stamped, without
waiting for the member's next log.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from worker.engine.challenges import ChallengeWindow, challenge_progress, window_of
from worker.engine.logs import ActivityLog
from worker.engine.program import Challenge, Program, Streak
from worker.engine.streaks import streak_runs


def final_closures(
    program: Program, item: Streak | Challenge, logs: Iterable[ActivityLog], now: datetime
) -> dict[str, dict[str, Any]]:
    """The item's progress records that are `broken` or `failed` for good, keyed by run or window."""
    logs = list(logs)
    grace = timedelta(hours=program.lateLogGraceHours)
    closed: dict[str, dict[str, Any]] = {}
    if isinstance(item, Streak):
        runs, _ = streak_runs(logs, item, program.zone, now)
        for run in runs:
            if run.status == "broken" and run.broken_at is not None and run.broken_at + grace <= now:
                closed[run.run_id] = run.to_json(item)
        return closed
    windows: dict[str, ChallengeWindow] = {}
    for log in logs:
        window = window_of(item, log.activityAt, program.zone)
        if window is not None:
            windows[window.key] = window
    for key, window in windows.items():
        progress = challenge_progress(logs, item, window, now)
        if progress.status == "failed" and window.end + grace <= now:
            closed[key] = progress.to_json(item)
    return closed
