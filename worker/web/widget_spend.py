"""The widget's *Spend points* (docs/widget-api.md): `GET /widget/v1/loyalty-rewards` (the site's Wix
loyalty rewards with their cost, the member's balance and earlier loyalty coupons) and `POST
/widget/v1/redeem` (points for a coupon, once per `requestId`). The work is worker.loyalty.spending's;
`WidgetCors` (worker.web.widget) covers these paths as every `/widget/v1/` one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from worker.loyalty.spending import redeem, spending
from worker.web.widget_auth import require_wix, widget_member
from worker.web.wix_dependency import Wix

router = APIRouter(prefix="/widget/v1", tags=["storefront widget"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "A bad, expired or foreign widget token (`invalid_token`)"}
}


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rewardId: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")]
    # The widget's id for one click: its retries and a double click send the same one.
    requestId: Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")] | None = None


@router.get(
    "/loyalty-rewards",
    summary="The site's Wix loyalty rewards with their cost, the member's balance and loyalty coupons",
    responses=UNAUTHORIZED,
)
def get_loyalty_rewards(
    request: Request,
    response: Response,
    wix: Wix,
    instance: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    response.headers["cache-control"] = "no-store"
    claims = widget_member(request, instance)
    return spending(require_wix(wix), request.app.state.store, claims.instance_id, claims.contact_id)


@router.post(
    "/redeem",
    summary="Redeem the member's points for a reward's coupon, once per `requestId`",
    responses={
        **UNAUTHORIZED,
        404: {"description": "No such reward on offer (`unknown_reward`)"},
        409: {"description": "Too few points (`insufficient_points`), or no loyalty account"},
    },
)
def post_redeem(request: Request, response: Response, wix: Wix, body: RedeemIn) -> dict[str, Any]:
    response.headers["cache-control"] = "no-store"
    claims = widget_member(request, None)
    store, now = request.app.state.store, datetime.now(UTC)
    return redeem(
        require_wix(wix), store, claims.instance_id, claims.contact_id, body.rewardId, body.requestId, now
    )
