"""`/admin/v1/instances/{id}/api-keys` (`Bearer ADMIN_TOKEN`): create (the key is answered once), list by
id (the key's first characters, never the key) and revoke an instance's API keys. A revoked key is
refused at once (401, "the API key was revoked"); revocations go to the instance's audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from worker.store.api_keys import (
    ID_LENGTH,
    KEY_ID_PATTERN,
    create_api_key,
    describe,
    list_api_keys,
    revoke_api_key,
)
from worker.web.admin import Admin, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])

OPERATOR = "operator (admin API)"
KeyIdPath = Annotated[
    str, Path(max_length=ID_LENGTH, pattern=KEY_ID_PATTERN, description="e.g. wrw_AbCd1234")
]


@router.post(
    "/instances/{instance_id}/api-keys",
    status_code=201,
    summary="Create an API key for the instance (shown once; only its hash is stored)",
)
def post_api_key(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, str]:
    key = create_api_key(request.app.state.store, instance_id, who=OPERATOR)
    return {"instanceId": instance_id, "apiKey": key, "id": key[:ID_LENGTH]}


@router.get("/instances/{instance_id}/api-keys", summary="The instance's API keys by id, newest first")
def get_api_keys(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    listed = list_api_keys(request.app.state.store, instance_id)
    return {"instanceId": instance_id, "apiKeys": [describe(info) for info in listed]}


@router.delete(
    "/instances/{instance_id}/api-keys/{key_id}",
    summary="Revoke an API key at once (its record stays, marked revoked)",
    responses={404: {"description": "the instance has no key with this id"}},
)
def delete_api_key(
    instance_id: InstanceIdPath, key_id: KeyIdPath, request: Request, _: Admin
) -> dict[str, Any]:
    revoked = revoke_api_key(request.app.state.store, instance_id, key_id, who=OPERATOR)
    if revoked is None:
        raise ApiError(404, "not_found", f"instance {instance_id} has no API key {key_id}")
    return {"instanceId": instance_id, **describe(revoked)}
