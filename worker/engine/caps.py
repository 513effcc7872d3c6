"""Caps' periods, and reward caps: a milestone's reward issued at most `maxPerPeriod` times per member and
`period` (worker/engine/program.py Reward).

Decided in the member's atomic step (worker/store/progress.py), from a count kept in the member's own
state for the streak or challenge (the reward belongs to one of its milestones), so two logs recorded
at once cannot both take the last place. A capped reward's milestone is still achieved (it is not
rewarded again for the same progress record), but no reward log is created: nothing is issued,
fulfilled or reported for it, and the log's answer lists it under `cappedRewards` with the reason. The
period is the reward's creation time's (the log's processing), in the program's timezone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.engine.periods import period_of
from worker.engine.program import CapPeriod, Challenge, Program, Streak


def cap_period(moment: datetime, kind: CapPeriod, zone: ZoneInfo) -> tuple[str, datetime]:
    """The period a moment falls in for a cap: its name (`monthly:2026-03-01`) and its end."""
    if kind == "yearly":
        local = moment.astimezone(zone)
        return f"yearly:{date(local.year, 1, 1).isoformat()}", datetime(local.year + 1, 1, 1, tzinfo=zone)
    span = period_of(moment, kind, zone)
    return f"{kind}:{span.key}", span.end


IssuedCounts = dict[str, dict[str, int]]
"""Milestone id -> {cap period name -> rewards issued in it}; only the current period is kept."""


def cap_rewards(
    program: Program,
    item: Streak | Challenge,
    answer: dict[str, Any],
    reward_logs: list[dict[str, Any]],
    issued: IssuedCounts,
    now: datetime,
) -> tuple[list[dict[str, Any]], IssuedCounts]:
    """The reward logs still issued (the capped ones taken out of `answer` too), and the new counts."""
    counts: IssuedCounts = {milestone: dict(periods) for milestone, periods in issued.items()}
    kept: list[dict[str, Any]] = []
    capped: list[dict[str, str]] = []
    for reward_log in reward_logs:
        milestone = next((m for m in item.milestones if m.id == reward_log["milestoneId"]), None)
        reward = milestone.reward if milestone is not None else None
        if reward is None or reward.maxPerPeriod is None or reward.period is None:
            kept.append(reward_log)
            continue
        period, _ = cap_period(now, reward.period, program.zone)
        periods = {period: counts.get(reward_log["milestoneId"], {}).get(period, 0)}
        if periods[period] >= reward.maxPerPeriod:
            reason = f"capped: maxPerPeriod {reward.maxPerPeriod} {reward.period} reached"
            capped.append(
                {"milestoneId": reward_log["milestoneId"], "rewardLogId": reward_log["id"], "reason": reason}
            )
        else:
            periods[period] += 1
            kept.append(reward_log)
        counts[reward_log["milestoneId"]] = periods
    if capped:
        answer["achievedMilestoneRewardLogs"] = kept
        answer["achievedMilestoneRewardLog"] = kept[-1] if kept else None
        answer["cappedRewards"] = capped
    return kept, counts
