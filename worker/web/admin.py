"""The operators' API (`Bearer ADMIN_TOKEN`): what became of a webhook."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from worker.engine.logs import LogRejected
from worker.engine.program import ProgramInvalid, load_document, parse_program
from worker.identifiers import (
    INSTANCE_MAX_LENGTH,
    INSTANCE_PATTERN,
    MAX_LENGTH,
    PATTERN,
    PATTERN_MEANINGS,
    is_instance_id,
)
from worker.jobs.registry import KINDS, job_queue
from worker.jobs.runner import Jobs
from worker.progress.record import parse_moment
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.web.errors import ApiError

router = APIRouter(prefix="/admin/v1", tags=["admin"])


def require_admin(request: Request) -> None:
    expected = request.app.state.settings.admin_token
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "a Bearer ADMIN_TOKEN is required")
    if expected is None or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "the admin token is not valid")


Admin = Annotated[None, Depends(require_admin)]
InstanceIdPath = Annotated[str, Path(max_length=INSTANCE_MAX_LENGTH, pattern=INSTANCE_PATTERN)]
IdPath = Annotated[str, Path(max_length=MAX_LENGTH, pattern=PATTERN)]


@router.get(
    "/instances/{instance_id}/events/{event_id}",
    summary="What became of a webhook event",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "processed",
                        "instanceId": "6b1e...",
                        "eventId": "03756f6a-62c6-4f85-8356-b171adb7e4f3",
                        "eventType": "wix.ecom.v1.order_payment_status_updated",
                        "receivedAt": "2026-11-24T10:00:00.000Z",
                        "normalized": {"name": "order_paid"},
                    }
                }
            }
        }
    },
)
async def show_event(
    instance_id: InstanceIdPath, event_id: IdPath, request: Request, _: Admin
) -> dict[str, Any]:
    journal = EventJournal(request.app.state.store, request.app.state.settings.event_journal_ttl_seconds)
    record = await run_in_threadpool(journal.get, instance_id, event_id)
    if record is None:
        raise ApiError(404, "not_found", f"no event {event_id} in instance {instance_id}")
    return record


_PROGRAM_BODY = {
    "required": True,
    "content": {
        "application/yaml": {
            "schema": {"type": "string"},
            "example": "timezone: Europe/Berlin\nstreaks: []\n",
        },
        "application/json": {
            "schema": {"type": "object"},
            "example": {"timezone": "Europe/Berlin", "streaks": []},
        },
    },
}


def apply_program(store: ProgressStore, instance_id: str, text: str) -> dict[str, Any]:
    """Validate a YAML or JSON program and replace the instance's program with it (shared with the CLI)."""
    if not is_instance_id(instance_id):
        message = PATTERN_MEANINGS[INSTANCE_PATTERN]
        raise ProgramInvalid(
            [{"path": "instanceId", "message": f"{message} (at most {INSTANCE_MAX_LENGTH})"}]
        )
    document = load_document(text)
    parse_program(document)
    safe = json.loads(json.dumps(document, default=str))  # YAML dates become ISO text
    version = store.save_program(instance_id, safe)
    return {"instanceId": instance_id, "version": version, "program": safe}


@router.put(
    "/instances/{instance_id}/program",
    summary="Replace the instance's program (YAML or JSON)",
    description="The whole document is validated; every problem is answered at once with its path.",
    openapi_extra={"requestBody": _PROGRAM_BODY},
    responses={422: {"description": "`error.details` lists each problem as {path, message}"}},
)
async def put_program(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    body = await request.body()
    if len(body) > 1024 * 1024:
        raise ApiError(413, "too_large", "the program exceeds 1 MiB")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_request", "the program must be UTF-8 text") from None
    store = ProgressStore(request.app.state.store)
    return await run_in_threadpool(apply_program, store, instance_id, text)


@router.get("/instances/{instance_id}/program", summary="The instance's program")
def get_program(instance_id: InstanceIdPath, request: Request, _: Admin) -> dict[str, Any]:
    stored = ProgressStore(request.app.state.store).program_document(instance_id)
    if stored is None:
        raise ApiError(404, "not_found", f"instance {instance_id} has no program")
    version, document = stored
    return {"instanceId": instance_id, "version": version, "program": document}


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"name": "expire-rewards"}})

    name: Annotated[str, Field(min_length=1, max_length=100)]
    since: str | None = None

    @field_validator("since")
    @classmethod
    def _an_instant(cls, value: str | None) -> str | None:
        """`since` is an ISO-8601 instant with its offset (catch-up reads orders updated after it)."""
        if value is not None:
            try:
                parse_moment(value, "since")
            except LogRejected as exc:
                raise ValueError(str(exc)) from None
        return value


@router.post(
    "/instances/{instance_id}/jobs",
    status_code=202,
    summary="Start a job (or answer the one of that name already running)",
    responses={404: {"description": "No job of that name"}},
)
def post_job(instance_id: InstanceIdPath, body: JobRequest, request: Request, _: Admin) -> dict[str, Any]:
    jobs = Jobs(request.app.state.store, KINDS)
    record, new = jobs.start(instance_id, body.name, body.since)
    if new:
        request.app.state.follow_ups.run_job(record["id"], job_queue(body.name))
    return record


@router.get("/instances/{instance_id}/jobs/{job_id}", summary="A job's progress")
def get_job(instance_id: InstanceIdPath, job_id: IdPath, request: Request, _: Admin) -> dict[str, Any]:
    record = Jobs(request.app.state.store, KINDS).get(job_id)
    if record is None or record["instanceId"] != instance_id:
        raise ApiError(404, "not_found", f"no job {job_id} in instance {instance_id}")
    return record
