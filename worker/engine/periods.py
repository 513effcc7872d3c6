"""Calendar periods in a program's timezone: daily, weekly (ISO, from Monday) and monthly.

A period is named by the local date it starts on (`2026-03-30` for the ISO week from Monday 30
March). Its bounds are local midnights turned into UTC instants, so a day across a daylight-saving
change lasts 23 or 25 hours, as the merchant's customers live it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["daily", "weekly", "monthly"]


@dataclass(frozen=True, order=True)
class PeriodSpan:
    """One period: its first local day, and its [start, end) instants in UTC."""

    first_day: date
    start: datetime
    end: datetime

    @cached_property
    def key(self) -> str:  # cached: the same (cached) span is asked for its key at every log
        return self.first_day.isoformat()


def _first_day(day: date, kind: PeriodKind) -> date:
    if kind == "daily":
        return day
    if kind == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_first_day(first_day: date, kind: PeriodKind) -> date:
    if kind == "daily":
        return first_day + timedelta(days=1)
    if kind == "weekly":
        return first_day + timedelta(days=7)
    return date(first_day.year + first_day.month // 12, first_day.month % 12 + 1, 1)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


# Spans are immutable and a member's logs are placed in their periods again at every new log (a dry-run
# replays thousands in a row): both look-ups are cached, by instant (an aware datetime hashes by it).
@lru_cache(maxsize=4096)
def span_starting(first_day: date, kind: PeriodKind, zone: ZoneInfo) -> PeriodSpan:
    return PeriodSpan(
        first_day=first_day,
        start=_local_midnight(first_day, zone),
        end=_local_midnight(_next_first_day(first_day, kind), zone),
    )


@lru_cache(maxsize=65536)
def period_of(moment: datetime, kind: PeriodKind, zone: ZoneInfo) -> PeriodSpan:
    """The period `moment` (timezone-aware) falls in."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    local_day = moment.astimezone(zone).date()
    return span_starting(_first_day(local_day, kind), kind, zone)


def following(span: PeriodSpan, kind: PeriodKind, zone: ZoneInfo) -> PeriodSpan:
    return span_starting(_next_first_day(span.first_day, kind), kind, zone)


def preceding(span: PeriodSpan, kind: PeriodKind, zone: ZoneInfo) -> PeriodSpan:
    return period_of(span.start - timedelta(microseconds=1), kind, zone)


def is_next(earlier: date, later: date, kind: PeriodKind) -> bool:
    """Whether the period starting on `later` comes right after the one starting on `earlier`."""
    return _next_first_day(earlier, kind) == later
