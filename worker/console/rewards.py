"""The Rewards page's decisions: which reward logs a query asks for (each filter checked, a bad one named),
a page of them, their CSV export, and sending a failed one again (worker/rewards/resend.py).

Query parameters (the console's and the admin API's): `status`
(pending|issued|failed|expired|redeemed|revoked), `kind` (coupon|points|manual), `item` (a streak or
challenge id), `milestone` (a milestone id), `from` and `to` (dates, YYYY-MM-DD, UTC, both included),
`cursor` (the previous page's `next`), `limit` (1-200).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis

from worker.dispatch import Dispatcher
from worker.identifiers import identifier_problem
from worker.rewards import resend
from worker.store import reward_listing
from worker.store.progress import ProgressStore
from worker.store.reward_listing import Cursor, RewardFilters

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CSV_MAX_ROWS = 10_000
MAX_DAYS = 3660  # a date range of ten years at most
FILTER_FIELDS = ("status", "kind", "item", "milestone", "from", "to")
CURSOR = re.compile(r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?):(rl_[0-9a-f]{1,64})")
# A cell an office suite would run as a formula (CSV injection): these first characters are quoted.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    ("createdAt", "Created (UTC)"),
    ("id", "Reward log"),
    ("contactId", "Contact"),
    ("status", "Status"),
    ("kind", "Kind"),
    ("linkedSchemaSlug", "Streak or challenge"),
    ("linkedSchemaRecordId", "Item id"),
    ("milestoneId", "Milestone id"),
    ("milestoneName", "Milestone"),
    ("couponCode", "Coupon code"),
    ("points", "Points"),
    ("rewardIssuedAt", "Issued (UTC)"),
    ("rewardExpiryAt", "Expires (UTC)"),
    ("error", "Error"),
    ("lastError", "Error before it was sent again"),
    ("sentAgainBy", "Sent again by"),
)


class BadFilter(ValueError):
    """A query parameter the listing does not take: `field` names it (a 422 says which)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Query:
    """A checked query: the filters, where the page starts and how long it is; `given` is what was asked
    (the form's values and the links' query)."""

    filters: RewardFilters
    cursor: Cursor | None = None
    limit: int = DEFAULT_LIMIT
    given: dict[str, str] = field(default_factory=dict)


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadFilter(field, f"must be one of {', '.join(allowed)}")
    return value


def _identifier(field: str, value: str) -> str:
    problem = identifier_problem(value, 100)
    if problem is not None:
        raise BadFilter(field, problem)
    return value


def _day(field: str, value: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(field, "must be a date as YYYY-MM-DD") from None


def _cursor(value: str) -> Cursor:
    match = CURSOR.fullmatch(value)
    if match is None:
        raise BadFilter("cursor", "is not a cursor this listing gave (start again from the first page)")
    return Cursor(float(match.group(1)), match.group(2))


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadFilter("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def parse_query(params: Mapping[str, str]) -> Query:
    """The query in `params` (empty values mean "any"); BadFilter names the first field that is wrong."""
    stripped = {name: (params.get(name) or "").strip() for name in (*FILTER_FIELDS, "cursor", "limit")}
    given = {name: value for name, value in stripped.items() if value}
    start = _day("from", given["from"]) if "from" in given else None
    end = _day("to", given["to"]) if "to" in given else None
    if start and end and start > end:
        raise BadFilter("to", "must not be before from")
    if start and end and (end - start).days > MAX_DAYS:
        raise BadFilter("to", f"the range is at most {MAX_DAYS} days")
    midnight = time(tzinfo=UTC)
    filters = RewardFilters(
        status=_choice("status", given["status"], reward_listing.STATUSES) if "status" in given else None,
        kind=_choice("kind", given["kind"], reward_listing.KINDS) if "kind" in given else None,
        item=_identifier("item", given["item"]) if "item" in given else None,
        milestone=_identifier("milestone", given["milestone"]) if "milestone" in given else None,
        since=datetime.combine(start, midnight).timestamp() if start else None,
        until=datetime.combine(end + timedelta(days=1), midnight).timestamp() - 1e-6 if end else None,
    )
    cursor = _cursor(given["cursor"]) if "cursor" in given else None
    limit = _limit(given["limit"]) if "limit" in given else DEFAULT_LIMIT
    return Query(filters, cursor, limit, given)


def listing(client: redis.Redis, instance_id: str, query: Query) -> reward_listing.Page:
    """One page of the instance's reward logs (cost: see worker/store/reward_listing.py)."""
    return reward_listing.page(client, instance_id, query.filters, limit=query.limit, cursor=query.cursor)


def shown(reward_log: dict[str, Any]) -> dict[str, Any]:
    """A reward log as the page and the CSV show it: its kind and points brought up; `error` is the
    current failure only (a log sent again keeps its earlier one as `lastError`)."""
    reward = reward_log.get("reward") or {}
    return {
        **reward_log,
        "kind": reward.get("type") or "manual",
        "points": reward.get("points"),
        "error": reward_log.get("error"),
    }


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: a value starting as a formula is quoted with `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(client: redis.Redis, instance_id: str, query: Query) -> Iterator[str]:
    """The filtered list as CSV, a header row then one row per log, newest first, at most CSV_MAX_ROWS;
    produced as it is read (streamed)."""
    out = io.StringIO()
    writer = csv.writer(out)

    def line(cells: list[str]) -> str:
        writer.writerow(cells)
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    yield line([title for _, title in CSV_COLUMNS])
    for reward_log in reward_listing.walk(client, instance_id, query.filters, CSV_MAX_ROWS):
        row = shown(reward_log)
        yield line([safe_cell(row.get(name)) for name, _ in CSV_COLUMNS])


def send_again(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    reward_log_id: str,
    who: str,
) -> resend.Outcome:
    """Send a failed reward again (worker/rewards/resend.py: once, audited); an id outside the identifier
    rule is no reward log of this site."""
    if identifier_problem(contact_id) is not None or identifier_problem(reward_log_id) is not None:
        return resend.Outcome("not_found")
    return resend.send_again(client, follow_ups, instance_id, contact_id, reward_log_id, who)


@dataclass(frozen=True)
class Choices:
    """The live programme's streaks and challenges, and their milestones, for the filters' selects."""

    items: list[tuple[str, str]]
    milestones: list[tuple[str, str]]


def choices(client: redis.Redis, instance_id: str) -> Choices:
    stored = ProgressStore(client).program_document(instance_id)
    document = stored[1] if stored else {}
    items: list[tuple[str, str]] = []
    milestones: list[tuple[str, str]] = []
    for kind in ("streaks", "challenges"):
        for item in document.get(kind) or []:
            items.append((str(item["id"]), f"{item.get('name') or item['id']} ({kind[:-1]})"))
            for milestone in item.get("milestones") or []:
                label = f"{milestone.get('name') or milestone['id']} · {item.get('name') or item['id']}"
                milestones.append((str(milestone["id"]), label))
    return Choices(items, milestones)
