"""The operators' view of one referral (`Bearer ADMIN_TOKEN`): a friend's referral with every decision
(claimed, held, refused with its reason, dropped, rewarded), as worker/loyalty/referral_records.py keeps
it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from worker.loyalty.referral_records import referral_of
from worker.web.admin import Admin, IdPath, InstanceIdPath

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.get(
    "/instances/{instance_id}/referrals/{contact_id}",
    summary="A referred friend's referral and its decisions",
    responses={404: {"description": "The contact was referred by nobody"}},
)
def get_referral(
    instance_id: InstanceIdPath, contact_id: IdPath, request: Request, _: Admin
) -> dict[str, Any]:
    return referral_of(request.app.state.store, instance_id, contact_id)
