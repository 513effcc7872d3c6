"""The operators' API to a site's Wix loyalty program (`Bearer ADMIN_TOKEN`; seed 003, through
worker.loyalty.program_admin): `GET|PATCH /admin/v1/instances/{id}/loyalty-program`, `POST
.../activate|pause`, `POST .../points-expiration/enable|disable`, `GET .../premium-features`.

Each answers `{"instanceId", "loyaltyProgram": {...}}` (Wix's program object), premium features
`{"instanceId", "premiumFeatures": {"loyaltyProgram", "tiers", "pointsExpiration"}}`. What Wix's
answers mean here:

- the site has not installed the Wix Loyalty Program app: 409 `loyalty_app_not_installed`. The request
  is well formed and would work on a site that has the app: it conflicts with the site's state, which
  the merchant can change (install the app) before asking again; 409 is the contract's status for that,
  where a 424 would say that an earlier request of ours failed;
- Wix refuses a change the program's state does not allow (409, 412 or 428 from Wix, e.g. pausing a
  DRAFT program): 409 `wix_refused`; Wix rejects a value (400): 422 `wix_rejected`; any other refusal
  (our app's permissions, its credentials): 502 `wix_refused`. Wix's status, code and request id are in
  `details`;
- Wix cannot answer now (5xx, 429, a timeout, no connection) after the client's tries in place: 503
  `wix_unavailable`, `details.retryAfter` seconds; Wix credentials not configured: 503 `wix_not_configured`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from worker.loyalty.program_admin import ExpirationSettings, ProgramAdmin, ProgramChanges
from worker.web.admin import Admin, InstanceIdPath
from worker.web.errors import ApiError
from worker.web.wix_dependency import Wix
from worker.wix.client import WixClient

PREFIX = "/admin/v1/instances/{instance_id}/loyalty-program"
router = APIRouter(
    prefix=PREFIX,
    tags=["admin: loyalty program"],
    responses={
        409: {"description": "`loyalty_app_not_installed`, or `wix_refused` (the program's state)"},
        502: {"description": "`wix_refused`: Wix refused our app (permissions, credentials)"},
        503: {"description": "`wix_unavailable` (again after `details.retryAfter`), `wix_not_configured`"},
    },
)


def _admin(request: Request, wix: WixClient | None) -> ProgramAdmin:
    if wix is None:
        message = "WIX_APP_ID and WIX_APP_SECRET are not set: Wix cannot be called"
        raise ApiError(503, "wix_not_configured", message)
    return ProgramAdmin(wix, request.app.state.store, request.app.state.follow_ups)


@router.get("", summary="The site's Wix loyalty program")
def get_loyalty_program(instance_id: InstanceIdPath, request: Request, _: Admin, wix: Wix) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.show(instance_id)


@router.patch(
    "",
    summary="Change the program's name, its points' name and icon, its points expiration settings",
    description="The fields given change, the others stay. The status does not change here (an ACTIVE "
    "program stays ACTIVE): use `.../activate` and `.../pause`.",
)
def patch_loyalty_program(
    instance_id: InstanceIdPath, body: ProgramChanges, request: Request, _: Admin, wix: Wix
) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.update(instance_id, body)


@router.post("/activate", summary="Activate a DRAFT or PAUSED program (points that waited are sent)")
def activate(instance_id: InstanceIdPath, request: Request, _: Admin, wix: Wix) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.activate(instance_id)


@router.post("/pause", summary="Pause an ACTIVE program (points wait until it is activated)")
def pause(instance_id: InstanceIdPath, request: Request, _: Admin, wix: Wix) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.pause(instance_id)


@router.post(
    "/points-expiration/enable",
    summary="Turn points expiration on, with its months of inactivity and percentage where given",
)
def enable_points_expiration(
    instance_id: InstanceIdPath,
    request: Request,
    _: Admin,
    wix: Wix,
    body: ExpirationSettings | None = None,
) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.enable_expiration(instance_id, body)


@router.post("/points-expiration/disable", summary="Turn points expiration off")
def disable_points_expiration(
    instance_id: InstanceIdPath, request: Request, _: Admin, wix: Wix
) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.disable_expiration(instance_id)


@router.get("/premium-features", summary="Which premium features the site's program has")
def premium_features(instance_id: InstanceIdPath, request: Request, _: Admin, wix: Wix) -> dict[str, Any]:
    admin = _admin(request, wix)
    return admin.premium_features(instance_id)
