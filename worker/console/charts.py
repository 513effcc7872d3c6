"""Charts drawn on the server: numbers in, the geometry of an SVG out (worker/web/console/templates/
charts.html draws it, Jinja escaping every text). No script, no style attribute: the console's CSP forbids
both, so what varies is an attribute (x, y, width, points) and the look is a class of console.css.

Each chart is readable without colour: a single series needs none; the line chart's series differ by dash
pattern and marker shape as well as colour, each labelled at its end; bars carry their value as text. Each
carries the rows of the table shown beside it for screen readers (the SVG itself is one `role="img"`).
An empty chart (no point above zero) says so and divides by nothing."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

Formatter = Callable[[float], str]

WIDTH = 640  # the viewBox; the SVG scales to its container
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 20, 36  # room for the y labels, the x labels and values over bars
LINE_RIGHT = 120  # the line chart keeps room at the right for each series' label
MAX_X_LABELS = 8  # dates written under the x axis, at most
MAX_VALUE_LABELS = 14  # bars with their value written over them (more would overlap)
MAX_Y_TICKS = 5
NAME_CHARACTERS = 26  # an item's name in a chart (the table has it whole)
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
EMPTY_TEXT = "No data yet"
NAMES_LEFT = 190  # the funnel's and the comparison's bars start here, their names written left of it
FUNNEL_RIGHT = WIDTH - 150  # room for "1,234 (100%)" after the widest bar
COMPARISON_RIGHT = WIDTH - 90


def plain(value: float) -> str:
    """A count as it is written in a chart: a whole number with thousands separators."""
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Tick:
    position: float  # along the axis, in the viewBox's units
    text: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # what the bar stands for (a day, an item)
    value_text: str
    show_value: bool


@dataclass(frozen=True)
class Row:
    """A row of the table beside a chart: its header and one cell per column."""

    label: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value_text: str


@dataclass(frozen=True)
class Line:
    name: str
    index: int  # its class (colour), dash pattern and marker
    marker: str
    points: tuple[Point, ...]
    end_label_y: float  # where its name is written, right of its last point, kept apart from the others

    @property
    def path(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


@dataclass(frozen=True)
class LineChart:
    id: str
    title: str
    description: str
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - LINE_RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


@dataclass(frozen=True)
class Step:
    """A funnel's step: a bar from the left edge, as wide as its share of the first step."""

    label: str
    y: float
    width: float
    value_text: str
    share_text: str  # of the step before it ("" for the first)


@dataclass(frozen=True)
class Funnel:
    id: str
    title: str
    description: str
    steps: tuple[Step, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    empty: bool
    bar_height: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = NAMES_LEFT
    right: int = FUNNEL_RIGHT


@dataclass(frozen=True)
class Compared:
    """An item's bar in a comparison: its name at the left, its value after the bar."""

    label: str
    short_label: str
    kind: str  # a class: "streak" bars are solid, "challenge" bars hatched
    y: float
    width: float
    value_text: str


@dataclass(frozen=True)
class Comparison:
    id: str
    title: str
    description: str
    items: tuple[Compared, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    empty: bool
    bar_height: float
    height: int
    width: int = WIDTH
    left: int = NAMES_LEFT
    right: int = COMPARISON_RIGHT


def nice_ticks(largest: float) -> tuple[float, list[float]]:
    """The axis' top and its ticks from 0: steps of 1, 2 or 5 times a power of ten, at most
    MAX_Y_TICKS above 0, the top the first tick at or over `largest` (1 when there is nothing)."""
    if largest <= 0:
        return 1.0, [0.0, 1.0]
    raw = largest / MAX_Y_TICKS
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(power * factor for factor in (1, 2, 5, 10) if power * factor >= raw)
    top = math.ceil(largest / step) * step
    return float(top), [float(step * index) for index in range(round(top / step) + 1)]


def day_label(day: str) -> str:
    """`2026-12-07` as `7 Dec` (the table keeps the ISO date)."""
    parsed = date.fromisoformat(day)
    return f"{parsed.day} {parsed.strftime('%b')}"


def shortened(name: str, limit: int = NAME_CHARACTERS) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def _x_ticks(centers: Sequence[float], days: Sequence[str]) -> tuple[Tick, ...]:
    """Every k-th day's label, the last day's always (the one a merchant looks for)."""
    if not days:
        return ()
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    shown = {index for index in range(len(days) - 1, -1, -every)}
    return tuple(Tick(centers[index], day_label(days[index])) for index in sorted(shown))


@dataclass(frozen=True)
class _Scale:
    """A value axis from 0 to a round top (`nice_ticks`), drawn upward from `bottom` over `height`
    units of the viewBox: the bar and line charts' shared geometry."""

    top: float
    ticks: tuple[float, ...]
    bottom: float
    height: float

    @classmethod
    def up_to(cls, largest: float, bottom: float, height: float) -> _Scale:
        top, ticks = nice_ticks(largest)
        return cls(top, tuple(ticks), bottom, height)

    def length(self, value: float) -> float:
        """How long `value` is drawn (a negative value as nothing)."""
        return max(0.0, value) / self.top * self.height

    def y(self, value: float) -> float:
        return self.bottom - self.length(value)

    def labels(self, fmt: Formatter) -> tuple[Tick, ...]:
        return tuple(Tick(self.y(value), fmt(value)) for value in self.ticks)


def _share_of_largest(value: float, largest: float, span: float) -> float:
    """A horizontal bar's width: `value`'s share of the largest bar's, the longest as long as `span`
    (nothing when every value is nothing: an empty chart divides by nothing)."""
    return max(0.0, value) / largest * span if largest > 0 else 0.0


def _described(empty: bool, nothing: str, something: str) -> str:
    """A chart's text for screen readers: what is there, or the empty chart's own sentence."""
    return f"{EMPTY_TEXT}: {nothing}" if empty else something


def daily_bars(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, float]],
    *,
    measure: str,
    fmt: Formatter = plain,
) -> BarChart:
    """A bar per day of `series` ((ISO date, value), oldest first), the y axis from 0 to a round top."""
    values = [max(0.0, value) for _, value in series]
    days = [day for day, _ in series]
    empty = not any(values)
    plot_width = WIDTH - RIGHT - LEFT
    scale = _Scale.up_to(max(values, default=0.0), HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP)
    slot = plot_width / len(values) if values else plot_width
    bars = tuple(
        Bar(
            x=LEFT + index * slot + slot * 0.15,
            y=scale.y(value),
            width=slot * 0.7,
            height=scale.length(value),
            label=day_label(days[index]),
            value_text=fmt(value),
            show_value=len(values) <= MAX_VALUE_LABELS and value > 0,
        )
        for index, value in enumerate(values)
    )
    centers = [LEFT + (index + 0.5) * slot for index in range(len(values))]
    description = _described(
        empty,
        f"no {measure} in these {len(values)} days.",
        f"{measure.capitalize()} per day over {len(values)} days, {fmt(sum(values))} in all; "
        f"the most in a day: {fmt(max(values, default=0.0))}.",
    )
    return BarChart(
        id=chart_id,
        title=title,
        description=description,
        bars=() if empty else bars,
        y_ticks=scale.labels(fmt),
        x_ticks=_x_ticks(centers, days),
        columns=("Day", measure.capitalize()),
        rows=tuple(Row(day, (fmt(value),)) for day, value in zip(days, values, strict=True)),
        empty=empty,
    )


def _spread(wanted: list[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions as near `wanted` as may be, each at least `gap` from the next (labels at the
    ends of lines that end at the same height would overwrite each other)."""
    order = sorted(range(len(wanted)), key=lambda index: wanted[index])
    placed: dict[int, float] = {}
    last = low - gap
    for index in order:
        placed[index] = max(wanted[index], last + gap)
        last = placed[index]
    limit = high  # then pushed back above the bottom, keeping the gaps
    for index in reversed(order):
        placed[index] = min(placed[index], limit)
        limit = placed[index] - gap
    return [placed[index] for index in range(len(wanted))]


def daily_lines(
    chart_id: str,
    title: str,
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    measure: str,
    fmt: Formatter = plain,
    tick_fmt: Formatter = plain,
) -> LineChart:
    """A line per named series over the same `days` (ISO dates, oldest first), each with its own dash
    pattern and marker shape, and its name written at its end. `tick_fmt` writes the y axis (short: an
    amount's currency is in the title)."""
    right, bottom = WIDTH - LINE_RIGHT, HEIGHT - BOTTOM
    plot_width = right - LEFT
    largest = max((value for _, values in series for value in values), default=0.0)
    empty = largest <= 0
    scale = _Scale.up_to(largest, bottom, bottom - TOP)
    step = plot_width / (len(days) - 1) if len(days) > 1 else 0.0
    xs = [LEFT + index * step if len(days) > 1 else LEFT + plot_width / 2 for index in range(len(days))]
    lines = []
    for index, (name, values) in enumerate(series):
        points = tuple(
            Point(x, scale.y(value), day_label(day), fmt(value))
            for x, day, value in zip(xs, days, values, strict=True)
        )
        lines.append((name, index, points))
    ends = _spread([points[-1].y if points else bottom for _, _, points in lines], 14.0, TOP, bottom)
    drawn = tuple(
        Line(name, index, MARKERS[index % len(MARKERS)], points, end)
        for (name, index, points), end in zip(lines, ends, strict=True)
    )
    totals = ", ".join(f"{name} {fmt(sum(values))}" for name, values in series)
    description = _described(
        empty,
        f"no {measure} in these {len(days)} days.",
        f"{measure.capitalize()} per day over {len(days)} days, a line each: {totals}.",
    )
    return LineChart(
        id=chart_id,
        title=title,
        description=description,
        lines=() if empty else drawn,
        y_ticks=scale.labels(tick_fmt),
        x_ticks=_x_ticks(xs, days),
        columns=("Day", *(name for name, _ in series)),
        rows=tuple(
            Row(day, tuple(fmt(values[index]) for _, values in series)) for index, day in enumerate(days)
        ),
        empty=empty,
    )


def share(part: float, whole: float) -> str:
    """`part` of `whole` as a whole percentage; "n/a" when `whole` is nothing."""
    return f"{part / whole:.0%}" if whole > 0 else "n/a"


def funnel(
    chart_id: str, title: str, steps: Sequence[tuple[str, float]], *, fmt: Formatter = plain
) -> Funnel:
    """A bar per step, as wide as its share of the first (the widest), with its count and its share of
    the step before it written after it."""
    first = max((value for _, value in steps), default=0.0)
    empty = first <= 0
    bar_height = (HEIGHT - 2 * TOP) / max(1, len(steps)) * 0.7
    slot = (HEIGHT - 2 * TOP) / max(1, len(steps))
    span = FUNNEL_RIGHT - NAMES_LEFT
    drawn, rows, previous = [], [], None
    for index, (label, value) in enumerate(steps):
        of_previous = "" if previous is None else share(value, previous)
        drawn.append(
            Step(
                label=label,
                y=TOP + index * slot + (slot - bar_height) / 2,
                width=_share_of_largest(value, first, span),
                value_text=fmt(value),
                share_text=of_previous,
            )
        )
        rows.append(Row(label, (fmt(value), of_previous or "n/a", share(value, first))))
        previous = value
    described = "; ".join(
        f"{step.label}: {step.value_text}"
        + (f" ({step.share_text} of the step before)" if step.share_text else "")
        for step in drawn
    )
    return Funnel(
        id=chart_id,
        title=title,
        description=_described(empty, "nobody at any step.", described + "."),
        steps=() if empty else tuple(drawn),
        columns=("Step", "Members", "Of the step before", "Of the first step"),
        rows=tuple(rows),
        empty=empty,
        bar_height=bar_height,
    )


def comparison(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, str, float]],
    *,
    measure: str,
    fmt: Formatter = plain,
) -> Comparison:
    """A horizontal bar per item ((name, kind, value)), as wide as its share of the largest, its name at
    the left and its value after it; challenges hatched, streaks solid."""
    bar_height, gap = 18.0, 10.0
    height = int(2 * TOP + max(1, len(items)) * (bar_height + gap))
    largest = max((value for _, _, value in items), default=0.0)
    empty = largest <= 0
    drawn = tuple(
        Compared(
            label=name,
            short_label=shortened(name),
            kind=kind if kind in ("streak", "challenge") else "other",
            y=TOP + index * (bar_height + gap),
            width=_share_of_largest(value, largest, COMPARISON_RIGHT - NAMES_LEFT),
            value_text=fmt(value),
        )
        for index, (name, kind, value) in enumerate(items)
    )
    described = "; ".join(f"{item.label} ({item.kind}): {item.value_text}" for item in drawn)
    return Comparison(
        id=chart_id,
        title=title,
        description=_described(empty, f"no {measure} for any streak or challenge.", described + "."),
        items=() if empty else drawn,
        columns=("Streak or challenge", "Kind", measure.capitalize()),
        rows=tuple(Row(item.label, (item.kind, item.value_text)) for item in drawn),
        empty=empty,
        bar_height=bar_height,
        height=height,
    )
