"""The instants at which the calendar-sensitive tests run besides today.

A module (or class, or test) marked `pytest.mark.calendar` runs once with the real clock and once at
each of these instants, the clock frozen there by time-machine and ticking on from it, so a test that
only holds on some days fails here on every day. Each instant is one that broke a test before.
"""

from __future__ import annotations

from datetime import UTC, datetime

CALENDAR_INSTANTS: dict[str, datetime] = {
    # A late-log grace of 72 h makes last week's logs late from Thursday on.
    "thursday": datetime(2026, 12, 10, 12, 0, tzinfo=UTC),
    # The last half hour of an ISO week: Monday is minutes away in UTC, already here east of it.
    "sunday-23:30": datetime(2026, 12, 13, 23, 30, tzinfo=UTC),
    # The last evening of ISO week 53 and of the year (2026 has 53 ISO weeks).
    "iso-week-53": datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
    # Europe's clocks go forward at 01:00 UTC: 03:30 in Berlin, a 23-hour day.
    "eu-dst-start": datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
    # The end of a short month, and of a quarter's second month.
    "month-end": datetime(2027, 2, 28, 23, 30, tzinfo=UTC),
}
