"""The one way the service writes instants: ISO-8601 in UTC with a `Z` (`2026-11-24T10:00:00Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
