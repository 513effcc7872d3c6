"""Recording one log: the new progress, the milestones it achieves, their reward logs, and the answer.

The store loads a member's state for one streak or challenge (`MemberState`), calls `record_*`, and
writes back what it returns in one atomic step. Everything here is deterministic given the state,
the log and `now`: reward log ids are derived from what they reward, so a retried step yields the
same ids and a milestone is rewarded once per progress record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from worker.engine.challenges import challenge_progress, window_of
from worker.engine.logs import ActivityLog, LogRejected
from worker.engine.periods import period_of
from worker.engine.program import Challenge, Milestone, Program, Streak
from worker.engine.streaks import StreakRun, run_containing, streak_runs, task_progress
from worker.engine.timestamps import utc_stamp


@dataclass
class MemberState:
    """A member's applied logs for one streak or challenge, and the milestones already rewarded,
    as `{periodKey}:{milestoneId}`."""

    logs: list[ActivityLog] = field(default_factory=list)
    achieved: set[str] = field(default_factory=set)

    def apply(self, log: ActivityLog, recorded: Recorded) -> None:
        """Keep what `record_*` answered: the log when it counted, and the milestones it achieved
        (the store does the same before writing the state back; a dry-run keeps the state in memory)."""
        if recorded.applied:
            self.logs.append(log)
            self.achieved.update(recorded.achieved_keys)


@dataclass
class Recorded:
    applied: bool
    answer: dict[str, Any]
    reward_logs: list[dict[str, Any]] = field(default_factory=list)
    achieved_keys: list[str] = field(default_factory=list)
    reason: str | None = None


def reward_log_id(
    instance_id: str, contact_id: str, slug: str, record_id: str, period_key: str, milestone_id: str
) -> str:
    digest = hashlib.sha256(
        "\x1f".join([instance_id, contact_id, slug, record_id, period_key, milestone_id]).encode()
    )
    return "rl_" + digest.hexdigest()[:24]


def new_reward_log(
    *,
    instance_id: str,
    contact_id: str,
    slug: str,
    item: Streak | Challenge,
    period_key: str,
    milestone: Milestone,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": reward_log_id(instance_id, contact_id, slug, item.id, period_key, milestone.id),
        "instanceId": instance_id,
        "contactId": contact_id,
        "linkedSchemaSlug": slug,
        "linkedSchemaRecordId": item.id,
        "milestoneId": milestone.id,
        "milestoneName": milestone.name,
        "rewardInstructions": milestone.rewardInstructions,
        "periodKey": period_key,
        "reward": milestone.reward.model_dump(mode="json", exclude_none=True) if milestone.reward else None,
        "status": "pending",
        "couponCode": None,
        "rewardIssuedAt": None,
        "rewardExpiryAt": None,
        "createdAt": utc_stamp(now),
        "updatedAt": utc_stamp(now),
    }


def _milestone_json(milestone: Milestone | None) -> dict[str, Any] | None:
    if milestone is None:
        return None
    return {
        "id": milestone.id,
        "name": milestone.name,
        "milestoneTargetValue": str(milestone.milestoneTargetValue),
    }


def _achievements(
    item: Streak | Challenge,
    state: MemberState,
    period_key: str,
    progress: Any,
    *,
    instance_id: str,
    contact_id: str,
    slug: str,
    now: datetime,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Milestones newly reached by `progress` in this progress record, their reward logs, and the
    answer's milestone fields."""
    ordered = sorted(item.milestones, key=lambda m: m.milestoneTargetValue)
    reached = [m for m in ordered if m.milestoneTargetValue <= progress]
    new = [m for m in reached if f"{period_key}:{m.id}" not in state.achieved]
    reward_logs = [
        new_reward_log(
            instance_id=instance_id,
            contact_id=contact_id,
            slug=slug,
            item=item,
            period_key=period_key,
            milestone=m,
            now=now,
        )
        for m in new
    ]
    next_milestone = next((m for m in ordered if m.milestoneTargetValue > progress), None)
    fields = {
        "achievedMilestone": _milestone_json(new[-1]) if new else None,
        "achievedMilestoneRewardLog": reward_logs[-1] if reward_logs else None,
        "achievedMilestones": [_milestone_json(m) for m in new],
        "achievedMilestoneRewardLogs": reward_logs,
        "nextMilestone": _milestone_json(next_milestone),
    }
    return fields, reward_logs, [f"{period_key}:{m.id}" for m in new]


def _is_late(period_end: datetime, program: Program, now: datetime) -> bool:
    return period_end + timedelta(hours=program.lateLogGraceHours) < now


def record_streak_log(
    program: Program,
    streak: Streak,
    state: MemberState,
    log: ActivityLog,
    *,
    instance_id: str,
    now: datetime,
    paused: bool = False,
) -> Recorded:
    """The log's outcome; a `paused` member's log (worker/store/member_status.py) is kept, never counted,
    as a late one is: no progress, no milestone, no reward."""
    zone = program.zone
    span = period_of(log.activityAt, streak.aggregationPeriod, zone)
    late = _is_late(span.end, program, now)
    skipped = "late" if late else "paused" if paused else None
    late = skipped is not None
    logs = state.logs if late else [*state.logs, log]
    runs, tallies = streak_runs(logs, streak, zone, now)
    tally = tallies.get(span.key)
    run = run_containing(runs, span.key) or _latest_open_run(runs)
    progress = run.to_json(streak) if run else _empty_streak_progress(streak, span.key)
    answer: dict[str, Any] = {
        "log": {"streakId": streak.id, **log.to_json()},
        "applied": not late,
        "streakProgress": progress,
        "taskProgress": task_progress(streak, span, tally),
    }
    if late:
        answer |= _no_achievements(streak, run.progress if run else 0)
        answer["reason"] = skipped
        return Recorded(applied=False, answer=answer, reason=skipped)
    reward_logs: list[dict[str, Any]] = []
    keys: list[str] = []
    if run is None or run_containing(runs, span.key) is None:
        fields = _no_achievements(streak, run.progress if run else 0)
    else:
        fields, reward_logs, keys = _achievements(
            streak, state, run.run_id, run.progress,
            instance_id=instance_id, contact_id=log.contactId, slug="streak", now=now,
        )  # fmt: skip
    answer |= fields
    return Recorded(applied=True, answer=answer, reward_logs=reward_logs, achieved_keys=keys)


def _latest_open_run(runs: list[StreakRun]) -> StreakRun | None:
    return runs[-1] if runs and runs[-1].status == "in_progress" else None


def _empty_streak_progress(streak: Streak, period_key: str) -> dict[str, Any]:
    return {
        "streakId": streak.id,
        "periodKey": period_key,
        "status": "in_progress",
        "currentProgressValue": 0,
        "completionTargetValue": streak.completionTargetValue,
        "streakStartedAt": None,
        "lastCompletedPeriodKey": None,
        "streakBrokenAt": None,
        "streakCompletedAt": None,
        "at_risk": False,
    }


def _no_achievements(item: Streak | Challenge, progress: Any) -> dict[str, Any]:
    ordered = sorted(item.milestones, key=lambda m: m.milestoneTargetValue)
    return {
        "achievedMilestone": None,
        "achievedMilestoneRewardLog": None,
        "achievedMilestones": [],
        "achievedMilestoneRewardLogs": [],
        "nextMilestone": _milestone_json(
            next((m for m in ordered if m.milestoneTargetValue > progress), None)
        ),
    }


def record_challenge_log(
    program: Program,
    challenge: Challenge,
    state: MemberState,
    log: ActivityLog,
    *,
    instance_id: str,
    now: datetime,
    paused: bool = False,
) -> Recorded:
    """As `record_streak_log`, for a challenge."""
    window = window_of(challenge, log.activityAt, program.zone)
    if window is None:
        raise LogRejected(f"activityAt is outside the window of challenge {challenge.id!r}")
    late = _is_late(window.end, program, now)
    skipped = "late" if late else "paused" if paused else None
    late = skipped is not None
    logs = state.logs if late else [*state.logs, log]
    progress = challenge_progress(logs, challenge, window, now)
    answer: dict[str, Any] = {
        "log": {"challengeId": challenge.id, **log.to_json()},
        "applied": not late,
        "challengeProgress": progress.to_json(challenge),
        "taskProgress": {
            "periodKey": window.key,
            "periodStartsAt": utc_stamp(window.start),
            "periodEndsAt": utc_stamp(window.end),
            "value": str(progress.value),
            "target": str(challenge.completionTargetValue),
            "complete": progress.status == "completed",
        },
    }
    if late:
        answer |= _no_achievements(challenge, progress.value)
        answer["reason"] = skipped
        return Recorded(applied=False, answer=answer, reason=skipped)
    fields, reward_logs, keys = _achievements(
        challenge, state, window.key, progress.value,
        instance_id=instance_id, contact_id=log.contactId, slug="challenge", now=now,
    )  # fmt: skip
    answer |= fields
    return Recorded(applied=True, answer=answer, reward_logs=reward_logs, achieved_keys=keys)
