"""The small part of Wix's query language the fake understands: filters on dotted paths.

Filters are objects such as `{"contactId": {"$eq": "..."}}` or `{"specification.code": "ABC"}`, with
`$eq`, `$ne`, `$in`, `$gt`, `$gte`, `$lt`, `$lte`, `$exists`, `$and` and `$or`; Wix Stores v2 sends the
filter as a JSON *string* (coupons.service.json: `"filter": "{\"specification.code\": \"ABC\"}"`),
which is accepted too. Range operators compare timestamps as instants (`"2024-01-01T00:00:00Z"` equals
`"2024-01-01T00:00:00.000Z"`), numbers as numbers; a date may also be given as `{"$date": "..."}`.
A value that is a list (a contact's emails, say) matches when one of its items does.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from worker.wix.fake.errors import WixError, invalid


def _value_at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict) and "$date" in expected:
        expected = expected["$date"]
    if actual == expected:
        return True
    left, right = _instant(actual), _instant(expected)
    if left is not None and right is not None:
        return left == right
    # Wix serializes int64 and booleans as strings in places: "1557689091957", "true".
    if isinstance(actual, str) != isinstance(expected, str) and actual is not None and expected is not None:
        return str(actual).lower() == str(expected).lower()
    return False


RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")


def _comparable(actual: Any, operand: Any) -> tuple[Any, Any] | None:
    """The two values in a form `<` works on, or None when they cannot be ordered."""
    if isinstance(operand, dict) and "$date" in operand:
        operand = operand["$date"]
    left, right = _instant(actual), _instant(operand)
    if left is not None and right is not None:
        return left, right
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in (actual, operand)):
        return actual, operand
    if isinstance(actual, str) and isinstance(operand, str):
        return actual, operand
    return None


def _in_range(actual: Any, operator: str, operand: Any, field: str) -> bool:
    plain = isinstance(operand, int | float | str) and not isinstance(operand, bool)
    if not plain and not (isinstance(operand, dict) and "$date" in operand):
        raise invalid(field, f"{operator} needs a number, a string or a date")
    pair = _comparable(actual, operand)
    if pair is None:
        return False
    left, right = pair
    if operator == "$gt":
        return bool(left > right)
    if operator == "$gte":
        return bool(left >= right)
    if operator == "$lt":
        return bool(left < right)
    return bool(left <= right)


def _condition(actual: Any, condition: Any, field: str) -> bool:
    if isinstance(actual, list):
        if isinstance(condition, dict) and set(condition) == {"$exists"}:
            return bool(actual) == bool(condition["$exists"])
        return any(_condition(item, condition, field) for item in actual)
    if not isinstance(condition, dict) or "$date" in condition:
        return _same(actual, condition)
    result = True
    for operator, operand in condition.items():
        if operator == "$eq":
            result = result and _same(actual, operand)
        elif operator == "$ne":
            result = result and not _same(actual, operand)
        elif operator == "$in" and isinstance(operand, list):
            result = result and any(_same(actual, item) for item in operand)
        elif operator in RANGE_OPERATORS:
            result = result and _in_range(actual, operator, operand, field)
        elif operator == "$exists":
            result = result and (actual is not None) == bool(operand)
        else:
            raise WixError(400, f"unsupported filter operator {operator} on {field}")
    return result


def matches(document: dict[str, Any], query_filter: dict[str, Any]) -> bool:
    for key, condition in query_filter.items():
        if key == "$and" and isinstance(condition, list):
            if not all(matches(document, part) for part in condition):
                return False
        elif key == "$or" and isinstance(condition, list):
            if not any(matches(document, part) for part in condition):
                return False
        elif not _condition(_value_at(document, key), condition, key):
            return False
    return True


def parse_filter(raw: Any, field: str = "query.filter") -> dict[str, Any]:
    """A filter given as an object or as a JSON string; absent means everything."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        raise invalid(field, "the filter must be an object or a JSON string of one")
    matches({}, raw)  # an unknown operator or a bad operand is a 400 even when nothing is there to match
    return raw


def limit_of(raw: Any, field: str, default: int = 100, maximum: int = 100) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= maximum:
        raise invalid(field, f"must be an integer from 0 to {maximum}", "MAX", {"threshold": maximum})
    return int(raw)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def decode_cursor(cursor: Any) -> int:
    if cursor is None or cursor == "":
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(cursor).encode("ascii")))["offset"]
    except (ValueError, KeyError, TypeError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise invalid("query.cursorPaging.cursor", "not a cursor this service gave out")
    return int(offset)


def cursor_page(
    items: list[dict[str, Any]], cursor_paging: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of `items` and Wix's `pagingMetadata` for cursor paging (`{count, cursors, hasNext}`)."""
    paging = cursor_paging if isinstance(cursor_paging, dict) else {}
    limit = limit_of(paging.get("limit"), "query.cursorPaging.limit")
    offset = decode_cursor(paging.get("cursor"))
    page = items[offset : offset + limit]
    has_next = offset + limit < len(items)
    cursors: dict[str, Any] = {}
    if has_next:
        cursors["next"] = encode_cursor(offset + limit)
    if offset > 0:
        cursors["prev"] = encode_cursor(max(offset - limit, 0))
    return page, {"count": len(page), "cursors": cursors, "hasNext": has_next}


def _sort_value(value: Any) -> tuple[int, Any]:
    """A value in a form that orders across types: instants and numbers, then strings, then nothing."""
    moment = _instant(value)
    if moment is not None:
        return (0, moment.timestamp())
    if isinstance(value, int | float):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if value is None:
        return (2, 0)
    return (1, json.dumps(value, sort_keys=True))


def parse_sort(raw: Any, default: list[dict[str, str]], field: str = "sort") -> list[dict[str, str]]:
    """Wix's `sort: [{"fieldName", "order": "ASC"|"DESC"}]`; absent means `default`."""
    if raw is None or raw == []:
        return default
    if not isinstance(raw, list):
        raise invalid(field, "sort must be a list of {fieldName, order}")
    specs: list[dict[str, str]] = []
    for spec in raw:
        name = spec.get("fieldName") if isinstance(spec, dict) else None
        order = spec.get("order", "ASC") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name or order not in ("ASC", "DESC"):
            raise invalid(field, 'each sort is {"fieldName": "...", "order": "ASC"|"DESC"}')
        specs.append({"fieldName": name, "order": str(order)})
    return specs


def sort_key(document: dict[str, Any], sort: list[dict[str, str]]) -> list[Any]:
    """The document's values for `sort`, then its id (the tie-break), as stored in a cursor."""
    return [*(_value_at(document, spec["fieldName"]) for spec in sort), document.get("id")]


def compare_keys(left: list[Any], right: list[Any], sort: list[dict[str, str]]) -> int:
    """-1, 0 or 1: how two `sort_key`s order under `sort` (ids ascending break ties)."""
    directions = [spec["order"] == "DESC" for spec in sort] + [False]
    for a, b, descending in zip(left, right, directions, strict=True):
        first, second = _sort_value(a), _sort_value(b)
        result = (first > second) - (first < second)
        if result:
            return -result if descending else result
    return 0


def encode_search_cursor(query_filter: dict[str, Any], sort: list[dict[str, str]], after: list[Any]) -> str:
    """A cursor that carries the search (filter and sort) and the sort key of the last item given."""
    state = {"filter": query_filter, "sort": sort, "after": after}
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode("ascii")


def decode_search_cursor(cursor: str, field: str) -> tuple[dict[str, Any], list[dict[str, str]], list[Any]]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        query_filter, sort, after = state["filter"], state["sort"], state["after"]
    except (ValueError, KeyError, TypeError):
        raise invalid(field, "not a cursor this service gave out") from None
    if not isinstance(query_filter, dict) or not isinstance(sort, list) or not isinstance(after, list):
        raise invalid(field, "not a cursor this service gave out")
    return query_filter, sort, after
