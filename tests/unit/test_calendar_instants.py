"""The calendar-sensitive tests really run at the instants they are named after."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.clock import CALENDAR_INSTANTS


@pytest.mark.parametrize(
    "calendar_instant", list(CALENDAR_INSTANTS.values()), ids=list(CALENDAR_INSTANTS), indirect=True
)
def test_the_clock_stands_at_the_instant_and_ticks_on(calendar_instant: datetime) -> None:
    """At an instant both clocks the code reads say that instant (give or take the test's own run
    time), and time still passes."""
    now = datetime.now(UTC)
    assert timedelta(0) <= now - calendar_instant < timedelta(seconds=30)
    assert abs(time.time() - calendar_instant.timestamp()) < 30
    time.sleep(0.01)
    assert datetime.now(UTC) > now


def test_the_instants_are_the_days_that_broke_tests() -> None:
    """A Thursday, a Sunday night, ISO week 53, the EU's spring-forward night and a month end."""
    thursday, sunday, week_53, dst, month_end = CALENDAR_INSTANTS.values()
    assert thursday.isoweekday() == 4
    assert (sunday.isoweekday(), sunday.hour) == (7, 23)
    assert week_53.isocalendar()[:2] == (2026, 53)
    assert (dst.month, dst.isoweekday(), dst.day + 7 > 31) == (3, 7, True)  # the last Sunday of March
    assert (month_end + timedelta(days=1)).day == 1
