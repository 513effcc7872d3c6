"""The widget's referral routes (docs/widget-api.md "Referrals"), both with the member's widget token:

- `GET /widget/v1/referrals/me`: the member's referral code and what each side earns;
- `POST /widget/v1/referrals/claim {"code"}`: the signed-in visitor claims the code of the link they came
  through (the widget keeps `?wrw_ref=CODE` until the visitor signs in).

The logic is worker/loyalty/referral_claims.py; a site whose program has no `referrals` section answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from worker.loyalty.referral_claims import CODE_PATTERN, claim_for_widget, member_referral
from worker.store.progress import ProgressStore
from worker.web.widget_auth import widget_member

router = APIRouter(prefix="/widget/v1/referrals", tags=["storefront widget"])

Instance = Annotated[str | None, Query(max_length=200)]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=CODE_PATTERN)]


@router.get("/me", summary="The member's referral code and what a referral earns each side")
def get_referral(request: Request, response: Response, instance: Instance = None) -> dict[str, Any]:
    response.headers["cache-control"] = "no-store"
    claims = widget_member(request, instance)
    store = request.app.state.store
    program = ProgressStore(store).program(claims.instance_id)
    return member_referral(store, program, claims.instance_id, claims.contact_id)


@router.post(
    "/claim",
    summary="The signed-in member claims the referral code of the link they came through",
    responses={
        404: {"description": "Unknown code, or no referral programme"},
        422: {"description": "Refused: the member's own code, or a member who has ordered"},
    },
)
def post_claim(request: Request, body: ClaimIn, instance: Instance = None) -> dict[str, Any]:
    claims = widget_member(request, instance)
    store = request.app.state.store
    program = ProgressStore(store).program(claims.instance_id)
    now = datetime.now(UTC)
    return claim_for_widget(store, program, claims.instance_id, claims.contact_id, body.code, now)
