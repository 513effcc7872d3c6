"""The overview's daily series as CSV (`GET /admin/v1/instances/{id}/analytics.csv`): a header row, then
one row per day, oldest first. Revenue columns are in the overview's main currency (`currency`)."""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = (
    "date",
    "events",
    "orders",
    "members",
    "logs",
    "milestones",
    "rewardLogsCreated",
    "rewardLogsIssued",
    "rewardLogsRedeemed",
    "rewardLogsExpired",
    "rewardLogsFailed",
    "streaksStarted",
    "streaksAlive",
    "streaksBroken",
    "challengesCompleted",
    "challengesFailed",
    "pointsEarned",
    "pointsFromRules",
    "pointsFromRewards",
    "redemptionRate",
    "currency",
    "revenueRedeemed",
    "revenueEngaged",
)


def _row(day: dict[str, Any], currency: str | None) -> list[Any]:
    rewards, streaks, challenges = day["rewardLogs"], day["streaks"], day["challenges"]
    revenue = day["revenue"]["byCurrency"].get(currency, {}) if currency else {}
    rate = day["redemptionRate"]
    return [
        day["date"],
        day["events"],
        day["orders"],
        day["members"],
        day["logs"],
        day["milestones"],
        *(rewards[status] for status in ("created", "issued", "redeemed", "expired", "failed")),
        streaks["started"],
        streaks["alive"],
        streaks["broken"],
        challenges["completed"],
        challenges["failed"],
        day["pointsEarned"],
        day["pointsEarnedBy"]["rules"],
        day["pointsEarnedBy"]["rewards"],
        "" if rate is None else rate,
        currency or "",
        revenue.get("redeemed", "0.00"),
        revenue.get("engaged", "0.00"),
    ]


def series_csv(answer: dict[str, Any]) -> str:
    """The series of an `overview` answer as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    currency = answer["totals"]["revenue"]["currency"]
    for day in answer["series"]:
        writer.writerow(_row(day, currency))
    return out.getvalue()
