"""What the storefront widget is answered (docs/widget-api.md): public content and a member's progress.

Plain functions from the program and the progress API's answer to the widget's JSON, so `/widget/v1/me`
shows exactly the numbers `GET /v1/members/{contactId}/progress` gives, only shaped for the widget.
Numbers that may be decimals are strings, as in the progress API; instants are UTC with a `Z`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from worker.engine.challenges import window_of
from worker.engine.program import Challenge, Milestone, Program, Streak
from worker.engine.storefront import resolved_copy
from worker.engine.timestamps import utc_stamp

# The engine's run status as the widget names it.
_RUN_STATUS = {"in_progress": "active", "broken": "broken", "completed": "completed"}


def reward_summary(milestone: Milestone) -> dict[str, Any] | None:
    """`{"type", "summary"}`: the coupon's name, "N points", or the milestone's instructions."""
    reward = milestone.reward
    if reward is None:
        return None
    if reward.type == "coupon" and reward.coupon is not None:
        summary = reward.coupon.name
    elif reward.type == "points" and reward.points is not None:
        summary = f"{reward.points} points"
    else:
        summary = milestone.rewardInstructions or ""
    return {"type": reward.type, "summary": summary}


def _milestones(item: Streak | Challenge) -> list[Milestone]:
    return sorted(item.milestones, key=lambda milestone: milestone.milestoneTargetValue)


def _milestone_json(milestone: Milestone) -> dict[str, Any]:
    return {
        "id": milestone.id,
        "name": milestone.name,
        "target": str(milestone.milestoneTargetValue),
        "reward": reward_summary(milestone),
    }


def _challenge_ends_at(challenge: Challenge, now: datetime, program: Program) -> str | None:
    """The end of the window under way (a one-off window's end; a periodic one's current period's)."""
    if challenge.window is not None:
        return utc_stamp(challenge.window.endsAt)
    window = window_of(challenge, now, program.zone)
    return utc_stamp(window.end) if window is not None else None


def public_content(
    program: Program,
    instance_id: str,
    *,
    template_id: str,
    theme_id: str,
    floating_widget_id: str,
    locale: str | None,
    now: datetime,
) -> dict[str, Any]:
    """`GET /widget/v1/public`'s answer; `UnknownResource` names an id the program does not have."""
    template = program.template(template_id)
    theme = program.theme(theme_id)
    floating_widget = program.floating_widget(floating_widget_id)
    chosen = template.locale_for(locale)
    return {
        "instanceId": instance_id,
        "locale": chosen,
        "copy": resolved_copy(template, chosen),
        "theme": theme.model_dump(mode="json"),
        "floatingWidget": floating_widget.model_dump(mode="json"),
        "streaks": [
            {
                "id": streak.id,
                "name": streak.name,
                "description": streak.description,
                "period": streak.aggregationPeriod,
                "target": str(streak.aggregationTargetValue),
                "completionTarget": streak.completionTargetValue,
                "milestones": [_milestone_json(milestone) for milestone in _milestones(streak)],
            }
            for streak in program.streaks
            if streak.status == "live"
        ],
        "challenges": [
            {
                "id": challenge.id,
                "name": challenge.name,
                "description": challenge.description,
                "period": challenge.aggregationPeriod,
                "target": str(challenge.completionTargetValue),
                "endsAt": _challenge_ends_at(challenge, now, program),
                "milestones": [_milestone_json(milestone) for milestone in _milestones(challenge)],
            }
            for challenge in program.challenges
            if challenge.status == "live"
        ],
    }


def _stamp(value: Any) -> str | None:
    """An ISO-8601 instant from the progress API as UTC with a `Z` (None stays None)."""
    return utc_stamp(datetime.fromisoformat(value)) if isinstance(value, str) and value else None


def _next_milestone(streak: Streak, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The first milestone the run has not reached; after a break or a completion a new run starts."""
    progress = run["currentProgressValue"] if run and run.get("status") == "in_progress" else 0
    upcoming = [m for m in _milestones(streak) if m.milestoneTargetValue > progress]
    return _milestone_json(upcoming[0]) if upcoming else None


def _streak_json(streak: Streak, entry: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] | None = entry.get("streakProgress")
    period: dict[str, Any] = entry["taskProgress"]
    return {
        "id": streak.id,
        "name": streak.name,
        "currentRun": run["currentProgressValue"] if run else 0,
        "status": _RUN_STATUS.get(run["status"], run["status"]) if run else None,
        "atRisk": bool(run and run.get("at_risk")),
        "periodValue": period["value"],
        "periodTarget": period["target"],
        "periodComplete": period["complete"],
        "periodEndsAt": _stamp(period["periodEndsAt"]),
        "nextMilestone": _next_milestone(streak, run),
    }


def _challenge_json(challenge: Challenge, entry: dict[str, Any]) -> dict[str, Any]:
    progress: dict[str, Any] = entry["challengeProgress"]
    value = Decimal(progress["currentProgressValue"])
    return {
        "id": challenge.id,
        "name": challenge.name,
        "status": progress["status"],
        "value": progress["currentProgressValue"],
        "target": progress["completionTargetValue"],
        "endsAt": _stamp(progress["windowEndsAt"]),
        "milestones": [
            {**_milestone_json(m), "achieved": value >= m.milestoneTargetValue}
            for m in _milestones(challenge)
        ],
    }


def _reward_json(reward_log: dict[str, Any]) -> dict[str, Any]:
    reward = reward_log.get("reward") or {}
    return {
        "id": reward_log["id"],
        "name": reward_log.get("milestoneName") or reward_log.get("milestoneId"),
        "type": reward.get("type"),
        "status": reward_log.get("status"),
        "couponCode": reward_log.get("couponCode"),
        "points": reward.get("points") if reward.get("type") == "points" else None,
        "expiresAt": reward_log.get("rewardExpiryAt"),
        "issuedAt": reward_log.get("rewardIssuedAt"),
        "redeemedAt": reward_log.get("redeemedAt"),
    }


def widget_points(points: dict[str, Any] | None) -> dict[str, Any] | None:
    """The progress API's `points` for the widget: the expiration policy only while it is ENABLED."""
    if points is None:
        return None
    expiration = points.get("pointsExpiration")
    enabled = isinstance(expiration, dict) and expiration.get("status") == "ENABLED"
    return {
        "balance": points["balance"],
        "pointsName": points["pointsName"],
        "expiration": expiration if enabled else None,
    }


def member_view(program: Program, instance_id: str, progress: dict[str, Any]) -> dict[str, Any]:
    """`GET /widget/v1/me`'s answer from the progress API's answer: live streaks and challenges only."""
    streaks = []
    for entry in progress["streaks"]:
        streak = program.streak(entry["streakId"])
        if streak is not None and streak.status == "live":
            streaks.append(_streak_json(streak, entry))
    challenges = []
    for entry in progress["challenges"]:
        challenge = program.challenge(entry["challengeId"])
        if challenge is not None and challenge.status == "live":
            challenges.append(_challenge_json(challenge, entry))
    return {
        "instanceId": instance_id,
        "contactId": progress["contactId"],
        "status": progress.get("status", "live"),  # `paused`: the widget says so (copy `memberPaused`)
        "streaks": streaks,
        "challenges": challenges,
        "rewards": [_reward_json(reward_log) for reward_log in progress["rewardLogs"]],
        "points": widget_points(progress.get("points")),
        "tier": progress.get("tier"),  # the Wix tier and the next one's need (worker/progress/tiers.py)
    }
