"""The programme's lifecycle for operators and the console (`Bearer ADMIN_TOKEN`): the draft, publishing,
versions, the diff between any two, rollback, and the instance's audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from worker.store import audit_log, program_versions
from worker.web.admin import _PROGRAM_BODY, Admin, InstanceIdPath
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1/instances/{instance_id}", tags=["admin"])

Who = Annotated[str, Field(min_length=1, max_length=audit_log.MAX_WHO_CHARS)]
Note = Annotated[str, Field(max_length=program_versions.MAX_NOTE_CHARS)]

MAX_BODY = 1024 * 1024


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"note": "lower targets"}})

    note: Note = ""
    who: Who = "admin"


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"version": 3}})

    version: Annotated[int, Field(ge=1)]
    note: Note = ""
    who: Who = "admin"


async def _program_text(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "too_large", "the program exceeds 1 MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_request", "the program must be UTF-8 text") from None


@router.get("/program/draft", summary="The unpublished draft of the instance's program")
def get_draft(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    return {"instanceId": instance_id, **program_versions.draft(request.app.state.store, instance_id)}


@router.put(
    "/program/draft",
    summary="Validate a program (YAML or JSON) and keep it as the draft; the live program is untouched",
    openapi_extra={"requestBody": _PROGRAM_BODY},
    responses={422: {"description": "`error.details` lists each problem as {path, message}"}},
)
async def put_draft(
    instance_id: InstanceIdPath,
    request: Request,
    _: Admin,
    who: Annotated[str, Query(max_length=200)] = "admin",
) -> dict[str, Any]:
    text = await _program_text(request)
    saved = await run_in_threadpool(
        program_versions.save_draft, request.app.state.store, instance_id, text, who
    )
    return {"instanceId": instance_id, **saved}


@router.post("/program/publish", summary="Make the draft live, recorded as the next version")
def post_publish(
    instance_id: InstanceIdPath, body: PublishRequest, request: Request, _: Admin
) -> dict[str, Any]:
    published = program_versions.publish(request.app.state.store, instance_id, body.who, body.note)
    return {"instanceId": instance_id, **published}


@router.get("/program/versions", summary="The published versions, newest first (without documents)")
def get_versions(
    instance_id: InstanceIdPath, request: Request, _: Admin, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    versions = program_versions.list_versions(request.app.state.store, instance_id, limit)
    return {"instanceId": instance_id, "versions": versions}


@router.get("/program/versions/{version}", summary="One published version with its document")
def get_version(
    instance_id: InstanceIdPath, version: Annotated[int, Path(ge=1)], request: Request, _: Admin
) -> dict[str, Any]:
    return {
        "instanceId": instance_id,
        **program_versions.get_version(request.app.state.store, instance_id, version),
    }


@router.get(
    "/program/diff",
    summary="What changes from one document to another (`draft`, `live` or a version number)",
)
def get_diff(
    instance_id: InstanceIdPath,
    request: Request,
    _: Admin,
    old: Annotated[str, Query(alias="from", pattern=r"^(draft|live|[0-9]{1,9})$")],
    new: Annotated[str, Query(alias="to", pattern=r"^(draft|live|[0-9]{1,9})$")],
) -> dict[str, Any]:
    return program_versions.diff(request.app.state.store, instance_id, old, new)


@router.post("/program/rollback", summary="Publish an earlier version's document again as a new version")
def post_rollback(
    instance_id: InstanceIdPath, body: RollbackRequest, request: Request, _: Admin
) -> dict[str, Any]:
    store = request.app.state.store
    rolled = program_versions.rollback(store, instance_id, body.version, body.who, body.note)
    return {"instanceId": instance_id, **rolled}


@router.get("/audit-log", summary="The instance's audit log, newest first")
def get_audit_log(
    instance_id: InstanceIdPath,
    request: Request,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_ENTRIES)] = 50,
) -> dict[str, Any]:
    return {
        "instanceId": instance_id,
        "entries": audit_log.recent(request.app.state.store, instance_id, limit),
    }
