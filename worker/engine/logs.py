"""Activity logs as the engine sees them, and the checks a log must pass before it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from worker.engine.program import Challenge, Streak

FUTURE_TOLERANCE = timedelta(minutes=5)
# The values a sum takes: big enough for any order total, small enough that sums never leave Decimal's
# default context (28 digits) and no exponent can overflow it.
MAX_ACTIVITY_VALUE = Decimal(10) ** 12
MAX_DECIMAL_PLACES = 6
_SMALLEST = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
VALUE_RANGE = f"from 0 to {MAX_ACTIVITY_VALUE:f} with at most {MAX_DECIMAL_PLACES} decimal places"


class LogRejected(ValueError):
    """The domain refuses the log (answered 422 with the reason); nothing is stored."""


@dataclass(frozen=True, order=True)
class ActivityLog:
    """One accepted log. Ordered by when it happened, then by its identifier, so every recomputation
    sees the same sequence whatever order the logs arrived in."""

    activityAt: datetime
    uniqueIdentifier: str
    contactId: str
    activityId: str
    activityValue: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "contactId": self.contactId,
            "activityId": self.activityId,
            "activityValue": str(self.activityValue),
            "activityAt": self.activityAt.isoformat(),
            "uniqueIdentifier": self.uniqueIdentifier,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivityLog:
        return cls(
            activityAt=datetime.fromisoformat(data["activityAt"]),
            uniqueIdentifier=data["uniqueIdentifier"],
            contactId=data["contactId"],
            activityId=data["activityId"],
            activityValue=Decimal(data["activityValue"]),
        )


def activity_value_in_range(activity_value: Any) -> Decimal:
    """The value as a Decimal when it is a finite number in the allowed range, else LogRejected."""
    try:
        value = Decimal(str(activity_value))
    except (InvalidOperation, ValueError):  # ValueError: an int too long for str()
        raise LogRejected(f"activityValue is not a number; it must be a number {VALUE_RANGE}") from None
    if not value.is_finite():
        raise LogRejected(f"activityValue must be finite: a number {VALUE_RANGE}")
    if value < 0:
        raise LogRejected(f"activityValue must not be negative: a number {VALUE_RANGE}")
    if value > MAX_ACTIVITY_VALUE:
        raise LogRejected(f"activityValue is out of range: it must be a number {VALUE_RANGE}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        places = value.quantize(_SMALLEST)
        if places != value:
            raise LogRejected(f"activityValue is out of range: it must be a number {VALUE_RANGE}")
        value = places  # 1.000000000 is 1.000000: the same number, in few digits
    return value


def accept_log(
    item: Streak | Challenge,
    *,
    contact_id: str,
    activity_id: str,
    activity_value: Any,
    activity_at: datetime,
    unique_identifier: str,
    now: datetime,
) -> ActivityLog:
    """The log as the engine will count it, or LogRejected saying why it cannot count."""
    kind = "streak" if isinstance(item, Streak) else "challenge"
    if item.status != "live":
        raise LogRejected(f"{kind} {item.id!r} is {item.status}, not live")
    if activity_id not in item.activityIds:
        raise LogRejected(f"{kind} {item.id!r} does not take activity {activity_id!r}")
    if activity_at.tzinfo is None:
        raise LogRejected("activityAt must include a timezone offset")
    if activity_at > now + FUTURE_TOLERANCE:
        raise LogRejected("activityAt is more than 5 minutes in the future")
    if not unique_identifier:
        raise LogRejected("uniqueIdentifier is required")
    if item.aggregationMethod == "count":
        value = Decimal(1)
    else:
        if activity_value is None or isinstance(activity_value, bool):
            raise LogRejected("activityValue is required for a sum")
        value = activity_value_in_range(activity_value)
    return ActivityLog(
        activityAt=activity_at,
        uniqueIdentifier=unique_identifier,
        contactId=contact_id,
        activityId=activity_id,
        activityValue=value,
    )
