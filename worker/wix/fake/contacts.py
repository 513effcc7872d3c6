"""Contacts v4 (wix-facts.md §4.4): `GET /contacts/v4/contacts/{id}` → `{"contact": {...}}`.

Contacts are seeded through `/_fake/instances/{id}/contacts` (built with `payloads.contact_object`).
`fields`/`fieldsets` are accepted and ignored: the whole contact comes back. An unknown id is a 404
`NOT_FOUND` (UNCONFIRMED code).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter

from worker.wix.fake.errors import not_found
from worker.wix.fake.oauth import CallerDep

router = APIRouter(tags=["contacts"])


@router.get("/contacts/v4/contacts/{contact_id}")
async def get_contact(contact_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded contact, or 404."""
    contact = caller.instance.contacts.get(contact_id)
    if contact is None:
        raise not_found("Contact", contact_id)
    return {"contact": copy.deepcopy(contact)}
