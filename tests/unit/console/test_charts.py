"""Server-drawn charts (worker/console/charts.py, drawn by templates/charts.html): a known series gives
bars and points at the right places and a round axis; the funnel's widths are shares of its first step;
the comparison's of the largest item; an empty series says "No data yet" and divides by nothing; every
text is escaped, and the SVG is one image named by its title and description."""

from __future__ import annotations

import itertools
import re

import pytest

from worker.console import charts
from worker.web.console.pages import TEMPLATES

WEEK = [f"2026-12-0{day}" for day in range(1, 8)]
PLOT_HEIGHT = charts.HEIGHT - charts.BOTTOM - charts.TOP
PLOT_BOTTOM = charts.HEIGHT - charts.BOTTOM


def drawn(macro: str, chart: object) -> str:
    module = TEMPLATES.env.get_template("charts.html").make_module({})
    return str(getattr(module, macro)(chart))


@pytest.mark.parametrize(
    ("largest", "top", "ticks"),
    [
        (0, 1, [0, 1]),
        (3, 3, [0, 1, 2, 3]),
        (7, 8, [0, 2, 4, 6, 8]),
        (10, 10, [0, 2, 4, 6, 8, 10]),
        (42, 50, [0, 10, 20, 30, 40, 50]),
        (1234, 1500, [0, 500, 1000, 1500]),
    ],
)
def test_the_axis_goes_to_a_round_top_in_steps_of_one_two_or_five(
    largest: float, top: float, ticks: list[float]
) -> None:
    assert charts.nice_ticks(largest) == (top, ticks)


def test_a_known_series_puts_each_bar_at_its_day_and_height() -> None:
    """Values 0..6 over a week on an axis to 6 in steps of 2: bar i is i/6 of the plot high,
    in the i-th of seven equal slots; values are written over the bars but the zero's."""
    chart = charts.daily_bars(
        "c", "Orders per day", list(zip(WEEK, [0, 1, 2, 3, 4, 5, 6], strict=True)), measure="orders"
    )
    assert not chart.empty
    assert [tick.text for tick in chart.y_ticks] == ["0", "2", "4", "6"]
    slot = (charts.WIDTH - charts.RIGHT - charts.LEFT) / 7
    for index, bar in enumerate(chart.bars):
        assert bar.x == pytest.approx(charts.LEFT + index * slot + 0.15 * slot)
        assert bar.height == pytest.approx(index / 6 * PLOT_HEIGHT)
        assert bar.y + bar.height == pytest.approx(PLOT_BOTTOM)
        assert bar.show_value == (index > 0)
    assert chart.bars[6].y == pytest.approx(charts.TOP)  # the largest reaches the top
    assert [tick.text for tick in chart.x_ticks] == [f"{day} Dec" for day in range(1, 8)]
    assert chart.rows[3] == charts.Row("2026-12-04", ("3",))
    assert "21 in all" in chart.description and "the most in a day: 6" in chart.description


def test_ninety_days_label_a_few_dates_the_last_one_always_and_no_values_over_bars() -> None:
    days = [f"2026-{month:02d}-{day:02d}" for month in (9, 10, 11) for day in range(1, 31)]
    chart = charts.daily_bars("c", "Logs", [(day, 5.0) for day in days], measure="logs")
    assert len(chart.x_ticks) <= charts.MAX_X_LABELS
    assert chart.x_ticks[-1].text == "30 Nov"
    assert not any(bar.show_value for bar in chart.bars)
    assert len(chart.rows) == 90


def test_an_empty_series_says_no_data_yet_and_divides_by_nothing() -> None:
    chart = charts.daily_bars("c", "Orders per day", [(day, 0.0) for day in WEEK], measure="orders")
    assert chart.empty and chart.bars == ()
    assert chart.description.startswith("No data yet")
    markup = drawn("bar_chart", chart)
    assert "No data yet" in markup and 'class="bar"' not in markup
    assert len(chart.rows) == 7  # the table still shows the seven zeros
    nothing = charts.daily_bars("c", "Orders per day", [], measure="orders")
    assert nothing.empty and nothing.rows == ()
    assert charts.daily_lines("l", "Rewards", [], [], measure="reward logs").empty
    assert charts.funnel("f", "Funnel", [("Logged", 0.0), ("Redeemed", 0.0)]).steps == ()
    assert charts.comparison("x", "Logs", [], measure="logs").empty


def test_lines_differ_by_marker_and_dash_and_carry_their_names() -> None:
    chart = charts.daily_lines(
        "l", "Reward logs", WEEK[:3], [("Issued", [0, 2, 4]), ("Redeemed", [0, 1, 4])], measure="reward logs"
    )
    issued, redeemed = chart.lines
    assert (issued.marker, redeemed.marker) == ("circle", "square")
    assert [point.y for point in issued.points] == pytest.approx(
        [PLOT_BOTTOM, PLOT_BOTTOM - PLOT_HEIGHT / 2, charts.TOP]
    )
    assert issued.points[0].x == charts.LEFT and issued.points[-1].x == charts.WIDTH - charts.LINE_RIGHT
    assert abs(issued.end_label_y - redeemed.end_label_y) >= 14  # both end at 4: their names kept apart
    assert chart.columns == ("Day", "Issued", "Redeemed") and chart.rows[1].cells == ("2", "1")
    markup = drawn("line_chart", chart)
    assert 'class="series series-0"' in markup and 'class="series series-1"' in markup
    assert markup.count('<rect class="marker"') == 3 + 1 + 1  # the squares: 3 points, the end, the key
    assert ">Redeemed</text>" in markup


def test_the_names_at_the_lines_ends_stay_apart_and_inside_the_plot() -> None:
    """Two lines end at the top, three at the bottom: five names, none over another."""
    values = [[0, 4], [0, 4], [0, 0], [0, 0], [0, 0]]
    chart = charts.daily_lines(
        "l", "R", WEEK[:2], [(f"s{index}", v) for index, v in enumerate(values)], measure="r"
    )
    ends = sorted(line.end_label_y for line in chart.lines)
    assert all(later - earlier >= 14 for earlier, later in itertools.pairwise(ends))
    assert ends[0] >= charts.TOP and ends[-1] <= PLOT_BOTTOM


def test_the_funnel_is_as_wide_as_each_steps_share_of_the_first() -> None:
    steps = [
        ("Logged", 10.0),
        ("Reached a milestone", 5.0),
        ("Were issued a reward", 4.0),
        ("Redeemed it", 1.0),
    ]
    chart = charts.funnel("f", "Funnel", steps)
    span = charts.FUNNEL_RIGHT - charts.NAMES_LEFT
    assert [step.width for step in chart.steps] == pytest.approx([span, span / 2, span * 0.4, span / 10])
    assert [step.share_text for step in chart.steps] == ["", "50%", "80%", "25%"]
    assert chart.rows[3] == charts.Row("Redeemed it", ("1", "25%", "10%"))
    assert chart.steps[0].y < chart.steps[1].y < chart.steps[2].y < chart.steps[3].y
    assert "1 (25%)" in drawn("funnel", chart)


def test_a_step_after_an_empty_one_has_no_share_rather_than_a_division_by_zero() -> None:
    chart = charts.funnel("f", "Funnel", [("Logged", 3.0), ("Reached", 0.0), ("Issued", 0.0)])
    assert [step.share_text for step in chart.steps] == ["", "0%", "n/a"]


def test_the_comparison_scales_to_the_largest_item_and_hatches_challenges() -> None:
    chart = charts.comparison(
        "x", "Logs", [("Daily", "streak", 8.0), ("Ten orders", "challenge", 2.0)], measure="logs"
    )
    span = charts.COMPARISON_RIGHT - charts.NAMES_LEFT
    assert [item.width for item in chart.items] == pytest.approx([span, span / 4])
    markup = drawn("comparison", chart)
    assert markup.count('fill="url(#x-hatch)"') == 1
    assert "streaks solid, challenges hatched" in markup


def test_every_text_is_escaped_and_long_names_shortened() -> None:
    evil = '<script>alert("x")</script> & a very long challenge name indeed'
    chart = charts.comparison("x", "Logs <b>", [(evil, "challenge", 3.0)], measure="logs")
    markup = drawn("comparison", chart)
    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "Logs &lt;b&gt;" in markup
    assert len(chart.items[0].short_label) == charts.NAME_CHARACTERS and chart.items[0].short_label.endswith(
        "…"
    )
    row = re.search(r'<th scope="row">(.*?)</th>', markup)
    assert row is not None and row.group(1).startswith(
        "&lt;script&gt;alert(&#34;x&#34;)"
    )  # whole in the table


def test_each_chart_is_one_image_named_by_its_title_with_its_table_beside_it() -> None:
    chart = charts.daily_bars("chart-orders", "Orders per day", [(WEEK[0], 2.0)], measure="orders")
    markup = drawn("bar_chart", chart)
    assert 'role="img"' in markup
    assert 'aria-labelledby="chart-orders-title chart-orders-desc"' in markup
    assert '<title id="chart-orders-title">Orders per day</title>' in markup
    assert '<table class="numbers" id="chart-orders-table">' in markup
    assert "style=" not in markup and "<script" not in markup
