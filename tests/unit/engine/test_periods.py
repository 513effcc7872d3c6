"""Calendar edges: daylight-saving changes, ISO week 53, month ends, the last second of a local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.engine.periods import following, is_next, period_of, preceding

pytestmark = pytest.mark.calendar  # dates here must hold on any day: see tests/clock.py

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


class TestDaily:
    def test_the_last_second_of_a_local_day_belongs_to_that_day(self) -> None:
        """23:59:59 in Berlin is already the next day in UTC terms for some offsets, not for the program."""
        span = period_of(local(BERLIN, 2026, 6, 30, 23, 59, 59), "daily", BERLIN)
        assert span.key == "2026-06-30"
        assert period_of(local(BERLIN, 2026, 7, 1, 0, 0, 0), "daily", BERLIN).key == "2026-07-01"

    def test_a_utc_instant_is_placed_by_local_time(self) -> None:
        """22:30 UTC on 30 June is 00:30 on 1 July in Berlin (UTC+2 in summer)."""
        assert period_of(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), "daily", BERLIN).key == "2026-07-01"

    def test_the_spring_forward_day_is_23_hours(self) -> None:
        """29 March 2026 in Berlin skips 02:00-03:00."""
        span = period_of(local(BERLIN, 2026, 3, 29, 12), "daily", BERLIN)
        assert span.end - span.start == timedelta(hours=23)

    def test_the_fall_back_day_is_25_hours(self) -> None:
        """1 November 2026 in New York repeats 01:00-02:00."""
        span = period_of(local(NEW_YORK, 2026, 11, 1, 12), "daily", NEW_YORK)
        assert span.end - span.start == timedelta(hours=25)

    def test_the_repeated_hour_is_still_the_same_day(self) -> None:
        """Both 01:30s of the fall-back night fall on 1 November."""
        first = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=0)
        second = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=1)
        assert (
            period_of(first, "daily", NEW_YORK).key
            == period_of(second, "daily", NEW_YORK).key
            == "2026-11-01"
        )


class TestWeekly:
    def test_weeks_start_on_monday(self) -> None:
        """Sunday belongs to the week that began the Monday before."""
        assert period_of(local(BERLIN, 2026, 11, 29, 23, 59, 59), "weekly", BERLIN).key == "2026-11-23"
        assert period_of(local(BERLIN, 2026, 11, 30, 0, 0), "weekly", BERLIN).key == "2026-11-30"

    def test_iso_week_53(self) -> None:
        """2026 has an ISO week 53 (28 Dec 2026 - 3 Jan 2027): one period across the new year."""
        span = period_of(local(BERLIN, 2027, 1, 2, 12), "weekly", BERLIN)
        assert span.key == "2026-12-28"
        assert span.first_day.isocalendar()[:2] == (2026, 53)
        assert following(span, "weekly", BERLIN).key == "2027-01-04"

    def test_a_week_across_a_dst_change_is_167_hours(self) -> None:
        """The week of 23 March 2026 in Berlin loses an hour."""
        span = period_of(local(BERLIN, 2026, 3, 25), "weekly", BERLIN)
        assert span.end - span.start == timedelta(hours=167)


class TestMonthly:
    @pytest.mark.parametrize(
        ("moment", "key", "days"),
        [
            ((2026, 1, 31, 23, 59, 59), "2026-01-01", 31),
            ((2026, 2, 28, 12), "2026-02-01", 28),
            ((2028, 2, 29, 12), "2028-02-01", 29),
            ((2026, 12, 31, 23, 59, 59), "2026-12-01", 31),
        ],
    )
    def test_month_ends(self, moment: tuple[int, ...], key: str, days: int) -> None:
        """The last second of a month stays in it; months have their own lengths; December wraps."""
        span = period_of(local(BERLIN, *moment), "monthly", BERLIN)
        assert span.key == key
        assert (span.end.astimezone(BERLIN).date() - span.first_day).days == days


class TestNeighbours:
    @given(
        moment=st.datetimes(
            min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(BERLIN)
        ),
        kind=st.sampled_from(["daily", "weekly", "monthly"]),
    )
    def test_periods_tile_time(self, moment: datetime, kind) -> None:  # type: ignore[no-untyped-def]
        """Every instant is in its period; the next period starts where this one ends, and back again."""
        span = period_of(moment, kind, BERLIN)
        assert span.start <= moment < span.end
        after = following(span, kind, BERLIN)
        assert after.start == span.end
        assert is_next(span.first_day, after.first_day, kind)
        assert preceding(after, kind, BERLIN) == span

    def test_is_next_is_strict(self) -> None:
        """Two weeks apart is not next."""
        assert not is_next(date(2026, 11, 2), date(2026, 11, 16), "weekly")
