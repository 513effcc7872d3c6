"""A member's progress as shoppers and API clients see it: every streak and challenge, now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.engine.challenges import ChallengeWindow, challenge_progress, window_of
from worker.engine.periods import period_of
from worker.engine.program import Challenge
from worker.engine.streaks import streak_runs
from worker.engine.timestamps import utc_stamp
from worker.progress_store import ProgressStore


def _window_now(challenge: Challenge, now: datetime, zone: Any) -> ChallengeWindow:
    window = window_of(challenge, now, zone)
    if window is None:  # a one-off window that has not started or has ended: show that window
        assert challenge.window is not None
        return ChallengeWindow(
            challenge.window.startsAt.isoformat(), challenge.window.startsAt, challenge.window.endsAt
        )
    return window


def member_progress(store: ProgressStore, instance_id: str, contact_id: str, now: datetime) -> dict[str, Any]:
    program = store.program(instance_id)
    zone = program.zone
    streaks = []
    for streak in program.streaks:
        state = store.member_state(instance_id, contact_id, "streak", streak.id)
        runs, tallies = streak_runs(state.logs, streak, zone, now)
        span = period_of(now, streak.aggregationPeriod, zone)
        tally = tallies.get(span.key)
        current = runs[-1].to_json(streak) if runs else None
        streaks.append(
            {
                "streakId": streak.id,
                "name": streak.name,
                "status": streak.status,
                "streakProgress": current,
                "taskProgress": {
                    "periodKey": span.key,
                    "periodStartsAt": utc_stamp(span.start),
                    "periodEndsAt": utc_stamp(span.end),
                    "value": str(tally.value if tally else 0),
                    "target": str(streak.aggregationTargetValue),
                    "complete": bool(tally and tally.complete),
                },
            }
        )
    challenges = []
    for challenge in program.challenges:
        state = store.member_state(instance_id, contact_id, "challenge", challenge.id)
        window = _window_now(challenge, now, zone)
        progress = challenge_progress(state.logs, challenge, window, now)
        challenges.append(
            {
                "challengeId": challenge.id,
                "name": challenge.name,
                "status": challenge.status,
                "challengeProgress": progress.to_json(challenge),
            }
        )
    return {
        "contactId": contact_id,
        "streaks": streaks,
        "challenges": challenges,
        "rewardLogs": store.member_reward_logs(instance_id, contact_id),
    }
