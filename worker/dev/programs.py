"""Program documents built from a few parts, so that a test, the demo or the chaos run spells out only
what matters to it.

`BASE_PROGRAM` is the engine tests' program (two streaks, two challenges, Europe/Berlin). The parts keep
the program document's own key order (docs/programs.md), so a built document reads like a written one;
what they build is a plain document, validated where it is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Document = dict[str, Any]

MANUAL: Document = {"type": "manual"}


def _with(document: Document, **fields: Any) -> Document:
    """`document` with each of `fields` that is given (not None) added, in order."""
    document.update({name: value for name, value in fields.items() if value is not None})
    return document


def points(amount: int) -> Document:
    return {"type": "points", "points": amount}


def coupon(
    name: str, percent_off: int | None = None, valid_days: int | None = None, *, money_off: int | None = None
) -> Document:
    """A coupon reward: `percent_off` percent or `money_off` off, valid `valid_days` days when given."""
    spec = _with({"name": name}, percentOffRate=percent_off, moneyOffAmount=money_off)
    return _with({"type": "coupon", "coupon": spec}, validDays=valid_days)


def milestone(
    milestone_id: str,
    name: str,
    target: int,
    reward: Document | None = None,
    *,
    instructions: str | None = None,
) -> Document:
    """A milestone at `target`; `instructions` are the reward's instructions shown to the member."""
    document: Document = {"id": milestone_id, "name": name, "milestoneTargetValue": target}
    return _with(document, rewardInstructions=instructions, reward=reward)


def _item(
    item_id: str,
    name: str,
    description: str | None,
    status: str,
    activities: Sequence[str],
    method: str,
) -> Document:
    return _with(
        {"id": item_id, "name": name},
        description=description,
        status=status,
        activityIds=list(activities),
        aggregationMethod=method,
    )


def streak(
    streak_id: str,
    name: str,
    *,
    period: str,
    target: int = 1,
    completion: int | None = None,
    milestones: Sequence[Document] = (),
    activities: Sequence[str] = ("order_paid",),
    status: str = "live",
    description: str | None = None,
) -> Document:
    """A streak counting `activities`: `target` a `period` keeps the run going."""
    return _with(
        _item(streak_id, name, description, status, activities, "count"),
        aggregationPeriod=period,
        aggregationTargetValue=target,
        completionTargetValue=completion,
        milestones=list(milestones) or None,
    )


def challenge(
    challenge_id: str,
    name: str,
    *,
    completion: int,
    method: str = "count",
    period: str | None = None,
    window: Document | None = None,
    milestones: Sequence[Document] = (),
    activities: Sequence[str] = ("order_paid",),
    status: str = "live",
    description: str | None = None,
) -> Document:
    """A challenge over a calendar `period` or a fixed `window`."""
    return _with(
        _item(challenge_id, name, description, status, activities, method),
        aggregationPeriod=period,
        window=window,
        completionTargetValue=completion,
        milestones=list(milestones) or None,
    )


def rule(
    on: str,
    *,
    streak: str | None = None,
    challenge: str | None = None,
    activity: str = "order_paid",
    value: str = "count",
) -> Document:
    """A rule: each `on` event logs `value` (`count`, or a path such as `order.total`) to one streak or
    challenge."""
    return _with({"on": on}, streak=streak, challenge=challenge, activityId=activity, value=value)


def points_rule(on: str, points: int, per: int) -> Document:
    """Loyalty points: `points` for every `per` spent, on each `on` event."""
    return {"on": on, "points": points, "per": per}


def program(
    *,
    timezone: str = "UTC",
    late_log_grace_hours: int | None = None,
    streaks: Sequence[Document] = (),
    challenges: Sequence[Document] = (),
    rules: Sequence[Document] = (),
    points_rules: Sequence[Document] = (),
    **more: Any,
) -> Document:
    """A program document; `more` adds the other top-level fields (templates, themes, ...)."""
    return _with(
        {"timezone": timezone},
        lateLogGraceHours=late_log_grace_hours,
        streaks=list(streaks) or None,
        challenges=list(challenges) or None,
        rules=list(rules) or None,
        pointsRules=list(points_rules) or None,
        **more,
    )


BASE_PROGRAM: Document = program(
    timezone="Europe/Berlin",
    late_log_grace_hours=72,
    streaks=[
        streak(
            "weekly-shopper",
            "Weekly shopper",
            period="weekly",
            completion=4,
            milestones=[
                milestone("two-weeks", "Two weeks running", 2, coupon("5% off", 5, valid_days=30)),
                milestone("four-weeks", "Four weeks", 4, points(100)),
            ],
        ),
        streak("paused-one", "Paused", period="daily", status="paused"),
    ],
    challenges=[
        challenge(
            "spend-500",
            "Spend $500 this month",
            method="sum",
            period="monthly",
            completion=500,
            milestones=[milestone("half", "Halfway", 250, MANUAL), milestone("full", "Done", 500, MANUAL)],
        ),
        challenge(
            "launch-week",
            "Launch week",
            window={"startsAt": "2026-11-02T00:00:00+01:00", "endsAt": "2026-11-09T00:00:00+01:00"},
            completion=3,
        ),
    ],
)
