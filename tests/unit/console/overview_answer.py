"""An analytics answer in worker/analytics/overview.py's documented shape, with chosen numbers: the page's
tests show what it makes of a site with activity before the counts themselves are asserted end to end
(tests/browser/test_console_overview.py)."""

from __future__ import annotations

from typing import Any

STATUSES = ("created", "issued", "redeemed", "expired", "failed")
WEEK = [f"2026-12-0{day}" for day in range(1, 8)]


def totals(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "events": 0,
        "orders": 0,
        "members": 0,
        "logs": 0,
        "milestones": 0,
        "rewardLogs": {**dict.fromkeys(STATUSES, 0), "byKind": {}},
        "streaks": {"started": 0, "alive": 0, "broken": 0},
        "challenges": {"completed": 0, "failed": 0},
        "pointsEarned": 0,
        "pointsEarnedBy": {"rules": 0, "rewards": 0},
        "redemptionRate": None,
        "revenue": {"currency": None, "redeemed": "0.00", "engaged": "0.00", "byCurrency": {}},
    }
    return {**base, **changes}


def answer() -> dict[str, Any]:
    """A week: orders on the 5th (2), 6th (3) and 7th (1234); a streak and a challenge named with markup."""
    orders = dict(zip(WEEK, [0, 0, 0, 0, 2, 3, 1234], strict=True))
    series = [
        totals(
            date=day,
            events=count,
            orders=count,
            members=min(count, 3),
            logs=count,
            rewardLogs={"created": 1, "issued": 1, "redeemed": 0, "expired": 0, "failed": 0, "byKind": {}}
            if count
            else totals()["rewardLogs"],
            revenue={
                "currency": "USD",
                "redeemed": "0.00",
                "engaged": f"{count * 10}.50",
                "byCurrency": {"USD": {"redeemed": "0.00", "engaged": f"{count * 10}.50"}},
            },
        )
        for day, count in orders.items()
    ]
    by_kind = {
        "coupon": {"created": 2, "issued": 2, "redeemed": 1, "expired": 1, "failed": 0},
        "points": {"created": 1, "issued": 1, "redeemed": 0, "expired": 0, "failed": 1},
        "manual": dict.fromkeys(STATUSES, 0),
    }
    reward_logs = {"created": 3, "issued": 3, "redeemed": 1, "expired": 1, "failed": 1, "byKind": by_kind}
    item_logs = {"created": 2, "issued": 2, "redeemed": 1, "expired": 0, "failed": 0, "byKind": {}}
    return {
        "days": 7,
        "from": WEEK[0],
        "to": WEEK[-1],
        "timezone": "UTC",
        "totals": totals(
            events=1239,
            orders=1239,
            members=5,
            logs=1239,
            milestones=3,
            rewardLogs=reward_logs,
            streaks={"started": 4, "alive": 2, "broken": 1},
            challenges={"completed": 1, "failed": 0},
            pointsEarned=150,
            pointsEarnedBy={"rules": 100, "rewards": 50},
            redemptionRate=0.3333,
            revenue={
                "currency": "USD",
                "redeemed": "59.99",
                "engaged": "12390.50",
                "byCurrency": {
                    "USD": {"redeemed": "59.99", "engaged": "12390.50"},
                    "EUR": {"redeemed": "0.00", "engaged": "20.00"},
                },
            },
        ),
        "series": series,
        "byItem": [
            {
                "kind": "streak", "id": "daily", "name": "Order <b>daily</b>", "logs": 1200, "members": 4,
                "milestones": 2, "rewardLogs": item_logs, "pointsEarned": 100,
                "streaks": {"started": 4, "alive": 2, "broken": 1}, "challenges": None,
            },
            {
                "kind": "challenge", "id": "ten", "name": None, "logs": 39, "members": 2, "milestones": 1,
                "rewardLogs": {**item_logs, "redeemed": 0}, "pointsEarned": 50,
                "streaks": None, "challenges": {"completed": 1, "failed": 0},
            },
        ],
        "funnel": {"logged": 5, "milestone": 3, "issued": 3, "redeemed": 1},
    }  # fmt: skip
