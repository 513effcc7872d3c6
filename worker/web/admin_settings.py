"""`GET|PATCH /admin/v1/instances/{id}/settings` (`Bearer ADMIN_TOKEN`): an instance's own settings.

The points sync's URL, secret and matching, auto-bootstrap and the reward-expiring notice days, each the
instance's own or the environment's default (worker/store/site_settings.py). GET shows every value with
its source (`site` or `default`), the secret masked; PATCH sets the fields given a value and clears those
given null, all or nothing: a bad value is a 422 naming its field, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from worker.store.site_settings import SiteSettingsPatch, describe, site_settings_for, update_site_settings
from worker.web.admin import Admin, InstanceIdPath

router = APIRouter(prefix="/admin/v1", tags=["admin"])

_EXAMPLE: dict[str, Any] = {
    "instanceId": "6b1e6a2c-0000-4000-8000-00000000a001",
    "pointsSync": {"outbound": True, "inbound": True},
    "settings": {
        "syncUrl": {"value": "https://loyalty.example.com/hooks/wix", "source": "site"},
        "syncSecret": {"value": "whsec_****LaSw", "source": "site"},
        "syncMatchBy": {"value": "email", "source": "default"},
        "autoBootstrap": {"value": False, "source": "default"},
        "rewardExpiringNoticeDays": {"value": 7, "source": "site"},
    },
}
_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {"example": _EXAMPLE}}}}


@router.get(
    "/instances/{instance_id}/settings",
    summary="The instance's settings: each value and whether it is the site's or the default",
    responses=_ANSWER,
)
def get_settings(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    state = request.app.state
    return describe(site_settings_for(state.store, instance_id, state.settings))


@router.patch(
    "/instances/{instance_id}/settings",
    summary="Set (a value) or clear (null) the instance's own settings; the rest are left as they are",
    responses={**_ANSWER, 422: {"description": "`error.details` lists each problem as {path, message}"}},
)
def patch_settings(
    instance_id: InstanceIdPath, body: SiteSettingsPatch, request: Request, _: Admin
) -> dict[str, Any]:
    state = request.app.state
    update_site_settings(state.store, instance_id, body)
    return describe(site_settings_for(state.store, instance_id, state.settings))
