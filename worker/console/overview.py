"""The console's Overview page: the analytics answer (worker/analytics/overview.py) as a merchant reads
it — totals as cards with their labels and number formats, the daily series as charts (worker/console/
charts.py), the funnel, the streaks and challenges compared — and the daily series as CSV (the admin
API's, worker/analytics/series_csv.py).

The answer's shape is the analytics module's (its docstring); this module only reads it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import redis

from worker.analytics.overview import ALLOWED_DAYS, REWARD_KINDS, REWARD_STATUSES, overview
from worker.analytics.series_csv import series_csv
from worker.console import charts
from worker.console.sessions import Refused

DEFAULT_DAYS = 7
REWARD_LABELS = {
    "created": "Reward logs created",
    "issued": "Issued",
    "redeemed": "Redeemed",
    "expired": "Expired unused",
    "failed": "Failed",
}
LINE_NAMES = {
    "created": "Created",
    "issued": "Issued",
    "redeemed": "Redeemed",
    "expired": "Expired",
    "failed": "Failed",
}
KIND_LABELS = {"coupon": "Coupons", "points": "Points", "manual": "Given by hand", "none": "No reward"}
FUNNEL_STEPS = (
    ("logged", "Logged"),
    ("milestone", "Reached a milestone"),
    ("issued", "Were issued a reward"),
    ("redeemed", "Redeemed it"),
)


def days_of(text: str | None) -> int:
    """The `days` query parameter: 7 when absent; 7, 30 or 90, else a 400 saying so."""
    if text is None or text == "":
        return DEFAULT_DAYS
    if text.strip() not in {str(days) for days in ALLOWED_DAYS}:
        choices = ", ".join(str(days) for days in ALLOWED_DAYS)
        raise Refused(400, f"days must be one of {choices} (it was {text[:20]!r})")
    return int(text)


def count(value: float) -> str:
    """A count: `1,234`."""
    return f"{value:,.0f}"


def rate(value: float | None) -> str:
    """A rate (0..1) as a percentage with one decimal; "n/a" when there is none (nothing issued)."""
    return "n/a" if value is None else f"{value:.1%}"


def money_amount(text: object) -> Decimal:
    """The answer's decimal string as a Decimal (0 for anything else)."""
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return Decimal(0)


def money(amount: Decimal | float, currency: str | None) -> str:
    """An amount in a currency: `1,234.50 USD` (the currency left out when unknown)."""
    written = f"{Decimal(str(amount)):,.2f}"
    return f"{written} {currency}" if currency else written


@dataclass(frozen=True)
class Card:
    key: str  # the answer's key, for a test or a reader of the page's markup
    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class DayChoice:
    days: int
    current: bool


@dataclass(frozen=True)
class ItemRow:
    """A streak's or challenge's numbers, as the table under the comparisons shows them."""

    kind: str
    id: str
    name: str
    cells: tuple[tuple[str, str], ...]  # (column, value)


@dataclass(frozen=True)
class Shown:
    days: int
    start: str
    end: str
    choices: tuple[DayChoice, ...]
    cards: tuple[Card, ...]
    reward_cards: tuple[Card, ...]
    by_kind: tuple[charts.Row, ...]  # a row per reward kind with any log: its count in each status
    statuses: tuple[str, ...]  # the by-kind table's columns
    programme_cards: tuple[Card, ...]
    daily: tuple[charts.BarChart, ...]
    lines: tuple[charts.LineChart, ...]
    funnel: charts.Funnel
    comparisons: tuple[charts.Comparison, ...]
    items: tuple[ItemRow, ...]
    item_columns: tuple[str, ...]
    quiet: bool  # nothing counted in the range at all


def _currency_detail(revenue: Mapping[str, Any], part: str) -> str:
    """The other currencies' amounts, when the site sells in more than one."""
    main = revenue.get("currency")
    others = [
        money(money_amount(amounts.get(part)), code)
        for code, amounts in sorted(revenue.get("byCurrency", {}).items())
        if code != main
    ]
    return "also " + ", ".join(others) if others else ""


def cards_of(totals: Mapping[str, Any]) -> tuple[Card, ...]:
    revenue, currency = totals["revenue"], totals["revenue"].get("currency")
    points_by = totals.get("pointsEarnedBy", {})
    return (
        Card("events", "Events handled", count(totals["events"]), "webhooks from Wix, each once"),
        Card("orders", "Orders", count(totals["orders"]), "paid orders counted"),
        Card("members", "Active members", count(totals["members"]), "members with a log"),
        Card("logs", "Logs", count(totals["logs"]), "logs that counted"),
        Card("milestones", "Milestones", count(totals["milestones"]), "milestones reached"),
        Card(
            "pointsEarned",
            "Points earned",
            count(totals["pointsEarned"]),
            f"{count(points_by.get('rules', 0))} from rules, "
            f"{count(points_by.get('rewards', 0))} from rewards",
        ),
        Card(
            "redemptionRate",
            "Redemption rate",
            rate(totals.get("redemptionRate")),
            "of the rewards issued, redeemed",
        ),
        Card(
            "revenue.redeemed",
            "Revenue from redeemed rewards",
            money(money_amount(revenue.get("redeemed")), currency),
            _currency_detail(revenue, "redeemed") or "orders that used a reward's coupon",
        ),
        Card(
            "revenue.engaged",
            "Loyalty-driven revenue",
            money(money_amount(revenue.get("engaged")), currency),
            _currency_detail(revenue, "engaged")
            or "orders by members while a streak was alive or a challenge open",
        ),
    )


def reward_cards_of(totals: Mapping[str, Any]) -> tuple[Card, ...]:
    logs = totals["rewardLogs"]
    return tuple(
        Card(f"rewardLogs.{status}", REWARD_LABELS[status], count(logs[status])) for status in REWARD_STATUSES
    )


def by_kind_rows(totals: Mapping[str, Any]) -> tuple[charts.Row, ...]:
    """The reward logs of each kind in each status, the kinds with none left out."""
    kinds = totals["rewardLogs"].get("byKind", {})
    return tuple(
        charts.Row(
            KIND_LABELS.get(kind, kind),
            tuple(count(kinds[kind].get(status, 0)) for status in REWARD_STATUSES),
        )
        for kind in (*REWARD_KINDS, *sorted(set(kinds) - set(REWARD_KINDS)))
        if kind in kinds and any(kinds[kind].get(status, 0) for status in REWARD_STATUSES)
    )


def programme_cards_of(totals: Mapping[str, Any]) -> tuple[Card, ...]:
    streaks, challenges = totals.get("streaks", {}), totals.get("challenges", {})
    return (
        Card("streaks.started", "Streaks started", count(streaks.get("started", 0))),
        Card("streaks.alive", "Streaks alive", count(streaks.get("alive", 0)), "at the end of the range"),
        Card("streaks.broken", "Streaks broken", count(streaks.get("broken", 0))),
        Card("challenges.completed", "Challenges completed", count(challenges.get("completed", 0))),
        Card("challenges.failed", "Challenges failed", count(challenges.get("failed", 0))),
    )


def _daily(series: Sequence[Mapping[str, Any]], key: str, title: str, measure: str) -> charts.BarChart:
    return charts.daily_bars(
        f"chart-{key}", title, [(day["date"], float(day[key])) for day in series], measure=measure, fmt=count
    )


def daily_charts(series: Sequence[Mapping[str, Any]]) -> tuple[charts.BarChart, ...]:
    return (
        _daily(series, "events", "Events handled per day", "events"),
        _daily(series, "orders", "Orders per day", "orders"),
        _daily(series, "members", "Active members per day", "active members"),
        _daily(series, "logs", "Logs per day", "logs"),
        _daily(series, "pointsEarned", "Points earned per day", "points earned"),
    )


def line_charts(series: Sequence[Mapping[str, Any]], currency: str | None) -> tuple[charts.LineChart, ...]:
    days = [day["date"] for day in series]
    rewards = charts.daily_lines(
        "chart-rewardLogs",
        "Reward logs per day",
        days,
        [
            (LINE_NAMES[status], [float(day["rewardLogs"][status]) for day in series])
            for status in REWARD_STATUSES
        ],
        measure="reward logs",
        fmt=count,
    )

    def amount(value: float) -> str:
        return money(value, currency)

    revenue = charts.daily_lines(
        "chart-revenue",
        "Revenue per day" + (f" ({currency})" if currency else ""),
        days,
        [
            ("Loyalty-driven", [float(money_amount(day["revenue"].get("engaged"))) for day in series]),
            ("Redeemed", [float(money_amount(day["revenue"].get("redeemed"))) for day in series]),
        ],
        measure="revenue",
        fmt=amount,
        tick_fmt=count,
    )
    return rewards, revenue


def funnel_chart(steps: Mapping[str, Any]) -> charts.Funnel:
    return charts.funnel(
        "chart-funnel",
        "From a log to a redeemed reward",
        [(label, float(steps.get(key, 0))) for key, label in FUNNEL_STEPS],
        fmt=count,
    )


def _name(item: Mapping[str, Any]) -> str:
    return str(item.get("name") or f"{item['id']} (removed)")


def comparisons(items: Sequence[Mapping[str, Any]]) -> tuple[charts.Comparison, ...]:
    def compared(
        key: str, title: str, measure: str, value: Callable[[Mapping[str, Any]], float]
    ) -> charts.Comparison:
        return charts.comparison(
            f"chart-items-{key}",
            title,
            [(_name(item), str(item["kind"]), value(item)) for item in items],
            measure=measure,
            fmt=count,
        )

    return (
        compared("logs", "Logs per streak and challenge", "logs", lambda item: float(item["logs"])),
        compared(
            "members", "Members per streak and challenge", "members", lambda item: float(item["members"])
        ),
        compared(
            "redeemed",
            "Rewards redeemed per streak and challenge",
            "rewards redeemed",
            lambda item: float(item["rewardLogs"]["redeemed"]),
        ),
    )


ITEM_COLUMNS = (
    "Logs",
    "Members",
    "Milestones",
    "Rewards issued",
    "Redeemed",
    "Failed",
    "Points earned",
    "Runs",
)


def item_rows(items: Sequence[Mapping[str, Any]]) -> tuple[ItemRow, ...]:
    rows = []
    for item in items:
        logs = item["rewardLogs"]
        streaks, challenges = item.get("streaks"), item.get("challenges")
        if streaks:
            runs = (
                f"{count(streaks['started'])} started, {count(streaks['alive'])} alive, "
                f"{count(streaks['broken'])} broken"
            )
        elif challenges:
            runs = f"{count(challenges['completed'])} completed, {count(challenges['failed'])} failed"
        else:
            runs = ""
        values = (
            item["logs"],
            item["members"],
            item["milestones"],
            logs["issued"],
            logs["redeemed"],
            logs["failed"],
            item["pointsEarned"],
        )
        cells = tuple(zip(ITEM_COLUMNS, (*(count(value) for value in values), runs), strict=True))
        rows.append(ItemRow(str(item["kind"]), str(item["id"]), _name(item), cells))
    return tuple(rows)


def shown(answer: Mapping[str, Any]) -> Shown:
    """The page's content from the analytics answer."""
    totals, series, items = answer["totals"], answer["series"], answer["byItem"]
    quiet = not any(totals[key] for key in ("events", "orders", "logs", "milestones"))
    return Shown(
        days=answer["days"],
        start=answer["from"],
        end=answer["to"],
        choices=tuple(DayChoice(days, days == answer["days"]) for days in ALLOWED_DAYS),
        cards=cards_of(totals),
        reward_cards=reward_cards_of(totals),
        by_kind=by_kind_rows(totals),
        statuses=tuple(LINE_NAMES[status] for status in REWARD_STATUSES),
        programme_cards=programme_cards_of(totals),
        daily=daily_charts(series),
        lines=line_charts(series, totals["revenue"].get("currency")),
        funnel=funnel_chart(answer.get("funnel", {})),
        comparisons=comparisons(items),
        items=item_rows(items),
        item_columns=ITEM_COLUMNS,
        quiet=quiet,
    )


def page(client: redis.Redis, instance_id: str, days: int, now: datetime) -> Shown:
    """The Overview page of a site over its last `days` days."""
    return shown(overview(client, instance_id, days, now))


def csv_of(client: redis.Redis, instance_id: str, days: int, now: datetime) -> tuple[str, str]:
    """The CSV of a site's last `days` days (the admin API's `analytics.csv`, the same text) and the file
    name to download it as."""
    answer = overview(client, instance_id, days, now)
    return series_csv(answer), f"analytics-{instance_id}-{answer['from']}-{answer['to']}.csv"
