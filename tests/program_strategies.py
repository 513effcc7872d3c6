"""Hypothesis strategies for program documents with streaks and challenges of every shape, for the tests
that hold the dry-run's incremental replay (worker/engine/carried.py) to the engine's own recording.

Dates are fixed (`START`, March 2027: both the US and the EU daylight-saving changes fall in the next
45 days), so the tests hold on any day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from worker.dev.programs import MANUAL, coupon, milestone, points

START = datetime(2027, 3, 1, 6, tzinfo=UTC)
SPAN_DAYS = 45
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Pacific/Chatham")
PERIODS = ("daily", "weekly", "monthly")
STATUSES = ("live", "live", "live", "paused")
ACTIVITIES = ("order_paid", "order_paid", "order_paid", "visit")
REWARDS: tuple[dict[str, Any] | None, ...] = (None, MANUAL, points(25), coupon("5% off", 5), points(100))


@st.composite
def milestones(draw: st.DrawFn, targets: st.SearchStrategy[Any]) -> list[dict[str, Any]]:
    """Up to three milestones (ties allowed: their order then comes from the document)."""
    count = draw(st.integers(min_value=0, max_value=3))
    return [
        milestone(f"m{n}", f"Milestone {n}", draw(targets), draw(st.sampled_from(REWARDS)))
        for n in range(count)
    ]


@st.composite
def streaks(draw: st.DrawFn, streak_id: str) -> dict[str, Any]:
    """A streak of any period and method, with or without a completion target."""
    method = draw(st.sampled_from(("count", "sum")))
    target: Any = (
        draw(st.integers(min_value=1, max_value=3))
        if method == "count"
        else draw(st.sampled_from(("5", "10", "7.5", "0.5")))
    )
    completion = draw(st.none() | st.integers(min_value=1, max_value=5))
    return {
        "id": streak_id,
        "name": f"Streak {streak_id}",
        "status": draw(st.sampled_from(STATUSES)),
        "activityIds": [draw(st.sampled_from(ACTIVITIES))],
        "aggregationMethod": method,
        "aggregationPeriod": draw(st.sampled_from(PERIODS)),
        "aggregationTargetValue": target,
        **({"completionTargetValue": completion} if completion is not None else {}),
        "milestones": draw(milestones(st.integers(min_value=1, max_value=completion or 6))),
    }


@st.composite
def challenges(draw: st.DrawFn, challenge_id: str) -> dict[str, Any]:
    """A challenge over a calendar period or a one-off window inside the logs' 45 days."""
    method = draw(st.sampled_from(("count", "sum")))
    completion = (
        draw(st.integers(min_value=1, max_value=8))
        if method == "count"
        else draw(st.sampled_from((10, 25, 60, 150)))
    )
    document: dict[str, Any] = {
        "id": challenge_id,
        "name": f"Challenge {challenge_id}",
        "status": draw(st.sampled_from(STATUSES)),
        "activityIds": [draw(st.sampled_from(ACTIVITIES))],
        "aggregationMethod": method,
    }
    if draw(st.booleans()):
        document["aggregationPeriod"] = draw(st.sampled_from(PERIODS))
    else:
        starts = START + timedelta(hours=draw(st.integers(min_value=0, max_value=30 * 24)))
        ends = starts + timedelta(hours=draw(st.integers(min_value=1, max_value=20 * 24)))
        document["window"] = {"startsAt": starts.isoformat(), "endsAt": ends.isoformat()}
    document["completionTargetValue"] = completion
    document["milestones"] = draw(milestones(st.integers(min_value=1, max_value=completion)))
    return document


@st.composite
def program_documents(draw: st.DrawFn, max_items: int = 2) -> dict[str, Any]:
    """A program with one to `max_items` streaks and challenges each, any timezone and grace."""
    streak_count = draw(st.integers(min_value=1, max_value=max_items))
    challenge_count = draw(st.integers(min_value=1, max_value=max_items))
    return {
        "timezone": draw(st.sampled_from(ZONES)),
        "lateLogGraceHours": draw(st.sampled_from((0, 24, 72, 720))),
        "streaks": [draw(streaks(f"s{n}")) for n in range(streak_count)],
        "challenges": [draw(challenges(f"c{n}")) for n in range(challenge_count)],
    }
