"""Contacts v4 (wix-facts.md §4.4): `GET /contacts/v4/contacts/{id}` → `{"contact": {...}}`, and
`POST /contacts/v4/contacts/query`.

Contacts are seeded through `/_fake/instances/{id}/contacts` (built with `payloads.contact_object`), or
many at once through `/_fake/instances/{id}/contacts/bulk`. `fields`/`fieldsets` are accepted and
ignored: the whole contact comes back. An unknown id is a 404 `NOT_FOUND` (UNCONFIRMED code).

Query: `{"query": {"filter", "sort", "paging": {"limit", "offset"}, "fieldsets"}, "search": "text"}` →
`{"contacts": [...], "pagingMetadata": {"count", "offset", "total", "tooManyToCount"}}`. The filter uses
`query`'s operators; `info.emails.email` and `info.phones.phone` match any of the contact's emails or
phones, as in wix-facts' example. UNCONFIRMED choices:
- offset paging only (a `cursorPaging` is a 400, so a client written for cursors fails loudly);
- `limit` 50 by default, at most 1000; sorted by `createdDate` DESC by default, ties by id;
- `search` is a case-insensitive substring of the name or an email.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.query import compare_keys, limit_of, matches, parse_filter, parse_sort, sort_key

router = APIRouter(tags=["contacts"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
DEFAULT_SORT = [{"fieldName": "createdDate", "order": "DESC"}]


def _searchable(contact: dict[str, Any]) -> dict[str, Any]:
    """The contact with `info.emails.email` and `info.phones.phone` as lists, for filtering."""
    document = copy.deepcopy(contact)
    info = document.setdefault("info", {})
    if isinstance(info, dict):
        for group, name in (("emails", "email"), ("phones", "phone")):
            holder = info.get(group)
            items = holder.get("items") if isinstance(holder, dict) else None
            values = [item.get(name) for item in items or [] if isinstance(item, dict)]
            info[group] = {**(holder if isinstance(holder, dict) else {}), name: values}
    return document


def _text_of(contact: dict[str, Any]) -> str:
    document = _searchable(contact)
    name = document["info"].get("name") or {}
    parts = [
        str(name.get("first", "")),
        str(name.get("last", "")),
        *map(str, document["info"]["emails"]["email"]),
    ]
    return " ".join(parts).lower()


@router.post("/contacts/v4/contacts/query")
async def query_contacts(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {filter, sort, paging}, "search"}` → `{"contacts", "pagingMetadata"}` (see above)."""
    body = await json_object(request)
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise invalid("query", "query must be an object")
    if query.get("cursorPaging") is not None:
        raise invalid("query.cursorPaging", "Query Contacts pages with paging {limit, offset}")
    paging = query.get("paging") or {}
    if not isinstance(paging, dict):
        raise invalid("query.paging", "paging must be an object")
    limit = limit_of(paging.get("limit"), "query.paging.limit", DEFAULT_LIMIT, MAX_LIMIT) or DEFAULT_LIMIT
    offset = paging.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid("query.paging.offset", "a whole number, at least 0", "MIN", {"threshold": 0})
    query_filter = parse_filter(query.get("filter"))
    sort = parse_sort(query.get("sort"), DEFAULT_SORT, "query.sort")
    text = body.get("search")
    if text is not None and not isinstance(text, str):
        raise invalid("search", "search is a string")
    found = [
        contact
        for contact in caller.instance.contacts.values()
        if matches(_searchable(contact), query_filter) and (not text or text.lower() in _text_of(contact))
    ]
    found.sort(
        key=functools.cmp_to_key(
            lambda left, right: compare_keys(sort_key(left, sort), sort_key(right, sort), sort)
        )
    )
    page = found[offset : offset + limit]
    return {
        "contacts": [copy.deepcopy(contact) for contact in page],
        "pagingMetadata": {
            "count": len(page),
            "offset": offset,
            "total": len(found),
            "tooManyToCount": False,
        },
    }


@router.get("/contacts/v4/contacts/{contact_id}")
async def get_contact(contact_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded contact, or 404."""
    contact = caller.instance.contacts.get(contact_id)
    if contact is None:
        raise not_found("Contact", contact_id)
    return {"contact": copy.deepcopy(contact)}
