"""Members (wix-facts.md §6.2): `GET /members/v1/members/{id}` → `{"member": {...}}`, with an app token.

The rewards service asks it which contact a site member is, after `oauth2/token-info` named the member
behind a widget's Wix token. Members are seeded through `/_fake/instances/{id}/members` (`{"id",
"contactId", "loginEmail", "nickname"}`, all optional); seeding a member whose contact the instance does
not hold adds that contact too, since every Wix member is a contact.

The member object: `{"id", "contactId", "loginEmail", "status": "APPROVED", "privacyStatus",
"activityStatus", "profile": {"nickname", "slug"}, "createdDate", "updatedDate"}`. UNCONFIRMED choices:
- the path and the `{"member": ...}` wrapper follow Wix's Members v1 REST reference as mirrored in
  wix/skills (`/members/v1/members/my` for the current member); the by-id form is the same resource;
- `fieldSet`/`fieldsets` are accepted and ignored: the whole member comes back;
- an unknown id is a 404 `NOT_FOUND`; a member or visitor token (not an app token) is a 403.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter

from worker.wix.fake.errors import not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.state import iso

router = APIRouter(tags=["members"])


def member_object(
    member_id: str, contact_id: str, *, login_email: str, nickname: str, created: float
) -> dict[str, Any]:
    """A Members v1 member (see the module docstring)."""
    when = iso(created)
    return {
        "id": member_id,
        "contactId": contact_id,
        "loginEmail": login_email,
        "status": "APPROVED",
        "privacyStatus": "PRIVATE",
        "activityStatus": "ACTIVE",
        "profile": {"nickname": nickname, "slug": nickname.lower().replace(" ", "-")},
        "createdDate": when,
        "updatedDate": when,
    }


@router.get("/members/v1/members/{member_id}")
async def get_member(member_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded member, or 404."""
    member = caller.instance.members.get(member_id)
    if member is None:
        raise not_found("Member", member_id)
    return {"member": copy.deepcopy(member)}
