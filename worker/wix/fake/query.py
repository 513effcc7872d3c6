"""The small part of Wix's query language the fake understands: equality filters on dotted paths.

Filters are objects such as `{"contactId": {"$eq": "..."}}` or `{"specification.code": "ABC"}`, with
`$eq`, `$ne`, `$in`, `$and` and `$or`; Wix Stores v2 sends the filter as a JSON *string*
(coupons.service.json: `"filter": "{\"specification.code\": \"ABC\"}"`), which is accepted too.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from worker.wix.fake.errors import WixError, invalid


def _value_at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _same(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    # Wix serializes int64 and booleans as strings in places: "1557689091957", "true".
    if isinstance(actual, str) != isinstance(expected, str) and actual is not None and expected is not None:
        return str(actual).lower() == str(expected).lower()
    return False


def _condition(actual: Any, condition: Any, field: str) -> bool:
    if not isinstance(condition, dict):
        return _same(actual, condition)
    result = True
    for operator, operand in condition.items():
        if operator == "$eq":
            result = result and _same(actual, operand)
        elif operator == "$ne":
            result = result and not _same(actual, operand)
        elif operator == "$in" and isinstance(operand, list):
            result = result and any(_same(actual, item) for item in operand)
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
