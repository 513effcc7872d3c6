"""eCommerce orders (wix-facts.md §3.1): `GET /ecom/v1/orders/{id}` → `{"order": {...}}`, and
`POST /ecom/v1/orders/search`.

The fake creates no orders; tests and the demo seed them through `/_fake/instances/{id}/orders`
(built with `payloads.order_object`), and seeding the same id again replaces the order (to move it to
FULFILLED, say). An unknown id is a 404 `NOT_FOUND` (UNCONFIRMED code).

Search Orders (Wix's reference page "Search Orders"): `{"search": {"filter", "sort": [{"fieldName",
"order"}], "cursorPaging": {"limit", "cursor"}}}` → `{"orders": [...], "metadata": {"count",
"cursors": {"next"}, "hasNext"}}`. As Wix documents: `createdDate` DESC by default, `limit` 100 by
default, and orders with status INITIALIZED are never returned. Filters take the operators of `query`
(`{"updatedDate": {"$gte": "2024-05-01T00:00:00.000Z"}}`). UNCONFIRMED choices:
- the cursor is keyset-like: it carries the filter, the sort and the sort key of the last order given, so
  an order updated while a caller pages does not shift the others (no gaps, no repeats); with a cursor,
  the request's own filter and sort are ignored;
- only `cursors.next` is given (no `prev`); the limit is at most 100;
- every field may be filtered and sorted on (Wix allows a closed list, which includes `createdDate`,
  `updatedDate`, `status`, `paymentStatus`, `fulfillmentStatus`, `number`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.query import (
    compare_keys,
    decode_search_cursor,
    encode_search_cursor,
    limit_of,
    matches,
    parse_filter,
    parse_sort,
    sort_key,
)

router = APIRouter(tags=["orders"])

DEFAULT_SORT = [{"fieldName": "createdDate", "order": "DESC"}]


@router.post("/ecom/v1/orders/search")
async def search_orders(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"search": {filter, sort, cursorPaging}}` → `{"orders", "metadata"}` (see the module's notes)."""
    body = await json_object(request)
    search = body.get("search") or {}
    if not isinstance(search, dict):
        raise invalid("search", "search must be an object")
    paging = search.get("cursorPaging") or {}
    if not isinstance(paging, dict):
        raise invalid("search.cursorPaging", "cursorPaging must be an object")
    limit = limit_of(paging.get("limit"), "search.cursorPaging.limit") or 100  # 0 is proto3's "unset"
    cursor = paging.get("cursor")
    after: list[Any] | None = None
    if cursor:
        if not isinstance(cursor, str):
            raise invalid("search.cursorPaging.cursor", "a cursor is a string")
        query_filter, sort, after = decode_search_cursor(cursor, "search.cursorPaging.cursor")
        sort = parse_sort(sort, DEFAULT_SORT, "search.cursorPaging.cursor")
    else:
        query_filter = parse_filter(search.get("filter"), "search.filter")
        sort = parse_sort(search.get("sort"), DEFAULT_SORT, "search.sort")
    found = [
        order
        for order in caller.instance.orders.values()
        if order.get("status") != "INITIALIZED" and matches(order, query_filter)
    ]
    keyed: list[tuple[list[Any], dict[str, Any]]] = [(sort_key(order, sort), order) for order in found]

    def order_of(left: tuple[list[Any], Any], right: tuple[list[Any], Any]) -> int:
        return compare_keys(left[0], right[0], sort)

    keyed.sort(key=functools.cmp_to_key(order_of))
    if after is not None:
        last = after
        keyed = [(key, order) for key, order in keyed if compare_keys(key, last, sort) > 0]
    page = keyed[:limit]
    has_next = len(keyed) > len(page)
    cursors: dict[str, Any] = {}
    if has_next and page:
        cursors["next"] = encode_search_cursor(query_filter, sort, page[-1][0])
    return {
        "orders": [copy.deepcopy(order) for _, order in page],
        "metadata": {"count": len(page), "cursors": cursors, "hasNext": has_next},
    }


@router.get("/ecom/v1/orders/{order_id}")
async def get_order(order_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded order, or 404."""
    order = caller.instance.orders.get(order_id)
    if order is None:
        raise not_found("Order", order_id)
    return {"order": copy.deepcopy(order)}
