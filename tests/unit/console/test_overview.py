"""The Overview page's domain (worker/console/overview.py): the period asked for (7, 30 or 90 days, else a
400 saying so), the totals as cards in a merchant's number formats (thousands, percentages, money with its
currency and the others beside it), the charts and item rows from the answer, and the series as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import fakeredis
import pytest

from tests.unit.console.overview_answer import WEEK, answer
from worker.analytics.overview import overview as analytics
from worker.analytics.series_csv import series_csv
from worker.console import overview
from worker.console.sessions import Refused


@pytest.mark.parametrize(("text", "days"), [(None, 7), ("", 7), ("7", 7), ("30", 30), ("90", 90)])
def test_the_period_is_seven_thirty_or_ninety_days(text: str | None, days: int) -> None:
    assert overview.days_of(text) == days


@pytest.mark.parametrize("text", ["8", "0", "-7", "abc", "7.0", "9" * 400])
def test_another_period_is_refused_with_a_400_that_says_which_are_allowed(text: str) -> None:
    with pytest.raises(Refused) as refused:
        overview.days_of(text)
    assert refused.value.status == 400
    assert "7, 30, 90" in refused.value.message and len(refused.value.message) < 80


def test_numbers_are_written_as_a_merchant_reads_them() -> None:
    assert overview.count(1234567) == "1,234,567"
    assert overview.rate(0.3333) == "33.3%" and overview.rate(None) == "n/a"
    assert overview.money(Decimal("12390.5"), "USD") == "12,390.50 USD"
    assert overview.money(overview.money_amount("not money"), None) == "0.00"


def test_the_cards_show_the_totals_and_other_currencies_beside_the_main_one() -> None:
    shown = overview.shown(answer())
    cards = {card.key: card for card in shown.cards + shown.reward_cards + shown.programme_cards}
    assert cards["events"].value == "1,239" and cards["members"].value == "5"
    assert cards["redemptionRate"].value == "33.3%"
    assert cards["pointsEarned"].detail == "100 from rules, 50 from rewards"
    assert cards["revenue.engaged"].value == "12,390.50 USD"
    assert cards["revenue.engaged"].detail == "also 20.00 EUR"
    assert cards["revenue.redeemed"].value == "59.99 USD"
    assert [cards[f"rewardLogs.{status}"].value for status in overview.REWARD_STATUSES] == [
        "3",
        "3",
        "1",
        "1",
        "1",
    ]
    assert cards["streaks.alive"].value == "2" and cards["challenges.completed"].value == "1"
    assert [(row.label, row.cells) for row in shown.by_kind] == [
        ("Coupons", ("2", "2", "1", "1", "0")),
        ("Points", ("1", "1", "0", "0", "1")),
    ]  # fmt: skip  (no manual reward: no row)
    assert not shown.quiet


def test_the_charts_and_item_rows_come_from_the_answer() -> None:
    shown = overview.shown(answer())
    orders = next(chart for chart in shown.daily if chart.id == "chart-orders")
    assert [row.cells[0] for row in orders.rows] == ["0", "0", "0", "0", "2", "3", "1,234"]
    rewards, revenue = shown.lines
    assert [line.name for line in rewards.lines] == [
        "Created",
        "Issued",
        "Redeemed",
        "Expired",
        "Failed",
    ]
    assert revenue.rows[-1].cells == ("12,340.50 USD", "0.00 USD")
    assert [tick.text for tick in revenue.y_ticks][-1] == "15,000"  # the axis short: USD is in the title
    assert [row.cells for row in shown.funnel.rows] == [
        ("5", "n/a", "100%"), ("3", "60%", "60%"), ("3", "100%", "60%"), ("1", "33%", "20%")
    ]  # fmt: skip
    assert [item.name for item in shown.items] == ["Order <b>daily</b>", "ten (removed)"]
    assert dict(shown.items[0].cells)["Runs"] == "4 started, 2 alive, 1 broken"
    assert dict(shown.items[1].cells)["Runs"] == "1 completed, 0 failed"
    logs = shown.comparisons[0]
    assert [(item.kind, item.value_text) for item in logs.items] == [("streak", "1,200"), ("challenge", "39")]


def test_a_site_with_nothing_counted_is_quiet() -> None:
    shown = overview.page(fakeredis.FakeRedis(), "site-a", 30, datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert shown.quiet and shown.days == 30 and len(shown.daily[0].rows) == 30
    assert all(chart.empty for chart in shown.daily) and shown.funnel.empty


def test_the_csv_is_the_admin_apis_with_a_row_a_day() -> None:
    client = fakeredis.FakeRedis()
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    text, name = overview.csv_of(client, "site-a", 30, now)
    assert text == series_csv(analytics(client, "site-a", 30, now))
    assert name == "analytics-site-a-2026-11-08-2026-12-07.csv"
    rows = list(csv.DictReader(io.StringIO(overview.series_csv(answer()))))
    assert [row["date"] for row in rows] == WEEK
    assert (rows[-1]["orders"], rows[-1]["revenueEngaged"]) == ("1234", "12340.50")
