"""Program documents for tests, built from a few parts so that a test spells out only what matters to it.

`BASE_PROGRAM` is the engine tests' program (two streaks, two challenges, Europe/Berlin). The parts keep
the program document's own key order (docs/programs.md), so a built document reads like a written one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Document = dict[str, Any]

MANUAL: Document = {"type": "manual"}


def points(amount: int) -> Document:
    return {"type": "points", "points": amount}


def coupon(name: str, percent_off: int, valid_days: int | None = None) -> Document:
    reward: Document = {"type": "coupon", "coupon": {"name": name, "percentOffRate": percent_off}}
    if valid_days is not None:
        reward["validDays"] = valid_days
    return reward


def milestone(milestone_id: str, name: str, target: int, reward: Document | None = None) -> Document:
    document: Document = {"id": milestone_id, "name": name, "milestoneTargetValue": target}
    if reward is not None:
        document["reward"] = reward
    return document


def _item(
    item_id: str,
    name: str,
    description: str | None,
    status: str,
    activities: Sequence[str],
    method: str,
) -> Document:
    document: Document = {"id": item_id, "name": name}
    if description is not None:
        document["description"] = description
    document.update({"status": status, "activityIds": list(activities), "aggregationMethod": method})
    return document


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
    document = _item(streak_id, name, description, status, activities, "count")
    document.update({"aggregationPeriod": period, "aggregationTargetValue": target})
    if completion is not None:
        document["completionTargetValue"] = completion
    if milestones:
        document["milestones"] = list(milestones)
    return document


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
    document = _item(challenge_id, name, description, status, activities, method)
    if period is not None:
        document["aggregationPeriod"] = period
    if window is not None:
        document["window"] = window
    document["completionTargetValue"] = completion
    if milestones:
        document["milestones"] = list(milestones)
    return document


def program(
    *,
    timezone: str = "UTC",
    late_log_grace_hours: int | None = None,
    streaks: Sequence[Document] = (),
    challenges: Sequence[Document] = (),
    **more: Any,
) -> Document:
    """A program document; `more` adds the other top-level fields (rules, pointsRules, templates, ...)."""
    document: Document = {"timezone": timezone}
    if late_log_grace_hours is not None:
        document["lateLogGraceHours"] = late_log_grace_hours
    if streaks:
        document["streaks"] = list(streaks)
    if challenges:
        document["challenges"] = list(challenges)
    document.update(more)
    return document


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
