"""App management: the embedded script (wix-facts.md §6.1, §8) and the app's install and removal.

Wix's API (`@wix/app-management` embedded scripts, as its package puts it on the wire):
- `POST /apps/v1/scripts` `{"properties": {"parameters": {NAME: "string", ...}, "disabled": false},
  "componentId"?}` embeds the app's script in the site (again: the parameters are replaced) and answers
  `{}`. The parameters' keys must be exactly the `{{placeholders}}` of the script, else 400 "Parameters
  map sent to embedded script is not the same as discovered in the script code"; every value is a string.
- `GET /apps/v1/scripts` answers `{"properties": {"parameters", "disabled"}}`, 404 while nothing is
  embedded.

The script's placeholders are read from the repository's `wix-app/embedded-script.html`, unless a test
tells the fake another set (`PUT /_fake/script` `{"placeholders": [...]}`).

Install and removal, as Wix's side of them (under `/_fake/`): `POST /_fake/instances/{id}/install` and
`POST /_fake/instances/{id}/remove` with `{"webhookUrl"}` sign and post the `AppInstalled` or `AppRemoved`
webhook (flat payload `{appId, originInstanceId}`, §3.7) and answer the receiver's status and body. A
removal takes the embedded script off the site, as Wix does.

UNCONFIRMED: the 400's applicationError code (Wix documents the message only); the 404 of GET before any
embedding; `componentId` is accepted and ignored (the fake knows one script).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request

from worker.wix.fake.errors import NOT_FOUND, WixError, invalid, json_object
from worker.wix.fake.oauth import CallerDep, fake_of
from worker.wix.fake.payloads import EventOptions, app_installed
from worker.wix.fake.state import FakeWix
from worker.wix.webhook_signing import sign_webhook

router = APIRouter(tags=["app management"])
control_router = APIRouter(prefix="/_fake", tags=["fake controls"])

SCRIPT_PATH = Path(__file__).resolve().parents[3] / "wix-app" / "embedded-script.html"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
PARAMETERS_MISMATCH = (
    "Parameters map sent to embedded script is not the same as discovered in the script code"
)
INVALID_ARGUMENT = "INVALID_ARGUMENT"  # UNCONFIRMED: the code of the mismatch's 400


def script_placeholders(fake: FakeWix) -> set[str]:
    """What the fake expects as parameter keys: the set it was told, or the repository's script's."""
    if fake.script_placeholders is not None:
        return fake.script_placeholders
    return set(PLACEHOLDER.findall(SCRIPT_PATH.read_text(encoding="utf-8")))


@router.post("/apps/v1/scripts")
async def embed_script(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Embed (or embed again) the app's script in the caller's site."""
    body = await json_object(request)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise invalid("properties", "must be an object", "REQUIRED_FIELD")
    parameters = properties.get("parameters", {})
    if not isinstance(parameters, dict):
        raise invalid("properties.parameters", "must be a map of strings")
    for name, value in parameters.items():
        if not isinstance(value, str):
            raise invalid(f"properties.parameters.{name}", "must be a string")
    disabled = properties.get("disabled", False)
    if not isinstance(disabled, bool):
        raise invalid("properties.disabled", "must be a boolean")
    if set(parameters) != script_placeholders(caller.fake):
        raise WixError(400, PARAMETERS_MISMATCH, INVALID_ARGUMENT, PARAMETERS_MISMATCH)
    caller.instance.embedded_script = {"parameters": dict(parameters), "disabled": disabled}
    return {}


@router.get("/apps/v1/scripts")
async def get_embedded_script(caller: CallerDep) -> dict[str, Any]:
    script = caller.instance.embedded_script
    if script is None:
        raise WixError(
            404, "Embedded script not found", NOT_FOUND, "the app's script is not embedded in this site"
        )
    return {"properties": copy.deepcopy(script)}


@control_router.put("/script")
async def set_script_placeholders(request: Request) -> dict[str, Any]:
    """`{"placeholders": ["host", ...]}`: the parameter keys Embed Script takes from now on; `null`: the
    repository's script's again."""
    fake, body = fake_of(request), await json_object(request)
    names = body.get("placeholders")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise invalid("placeholders", "a list of names, or null")
    fake.script_placeholders = set(names) if names is not None else None
    return {"placeholders": sorted(script_placeholders(fake))}


async def _send_lifecycle(request: Request, instance_id: str, event_type: str) -> dict[str, Any]:
    fake, body = fake_of(request), await json_object(request)
    url = body.get("webhookUrl")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid("webhookUrl", "the receiver's URL")
    instance = fake.instance(instance_id)
    instance.installed = event_type == "AppInstalled"
    if not instance.installed:
        instance.embedded_script = None  # Wix takes the app's script off the site with the app
    payload = app_installed(EventOptions(app_id=fake.settings.app_id))
    token = sign_webhook(fake.private_key, event_type, instance_id, payload)
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(url, content=token, headers={"content-type": "text/plain"})
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return {"eventType": event_type, "status": response.status_code, "body": answer}


@control_router.post("/instances/{instance_id}/install")
async def install(instance_id: str, request: Request) -> dict[str, Any]:
    """The merchant installs the app: `AppInstalled` is posted to `webhookUrl`."""
    return await _send_lifecycle(request, instance_id, "AppInstalled")


@control_router.post("/instances/{instance_id}/remove")
async def remove(instance_id: str, request: Request) -> dict[str, Any]:
    """The merchant removes the app: its script leaves the site and `AppRemoved` is posted to `webhookUrl`."""
    return await _send_lifecycle(request, instance_id, "AppRemoved")
