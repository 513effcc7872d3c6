"""Triggered events (wix-facts.md §5.2; triggered-events.service.json).

`POST /automations/v1/events/report` `{triggerKey, payload, externalEntityId, idempotency: {key,
ttlInMilliseconds}}` → `{"activationIds": [...]}`. "If you send the same idempotency key in multiple
report event requests, for the same trigger key and app id, consecutive requests will be ignored after
the first one" for the key's TTL (default one week). `POST /automations/v1/events/cancel`
`{triggerKey, externalEntityId}` → `{}`. Checked as @wix/automations declares them: `triggerKey` 1 to 100
characters, payload keys `[A-Za-z0-9_]` not starting with `_`, `externalEntityId` a GUID, `idempotency.key`
1 to 80 characters, `ttlInMilliseconds` an int64 (a string on the wire).

UNCONFIRMED choice: an ignored repeat answers 200 `{"activationIds": []}`.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import Violations, json_object
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.state import iso, new_id

router = APIRouter(tags=["automations"])

# @wix/automations `ReportEventRequest` (wix-facts.md §8): payload keys, a GUID entity id.
_PAYLOAD_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


DEFAULT_IDEMPOTENCY_TTL_MS = 7 * 24 * 3600 * 1000


def _ttl_ms(idempotency: dict[str, Any], violations: Violations) -> int:
    raw = idempotency.get("ttlInMilliseconds")
    if raw is None:
        return DEFAULT_IDEMPOTENCY_TTL_MS
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    violations.add("idempotency.ttlInMilliseconds", "must be a whole number of milliseconds", "FORMAT")
    return 0


@router.post("/automations/v1/events/report")
async def report_event(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Records the event once per idempotency key (per trigger key and app) and its TTL."""
    body = await json_object(request)
    violations = Violations()
    trigger_key = body.get("triggerKey")
    if not isinstance(trigger_key, str) or not trigger_key:
        violations.add("triggerKey", "triggerKey is required", "REQUIRED_FIELD")
    elif len(trigger_key) > 100:
        violations.add("triggerKey", "triggerKey must be at most 100 characters", "MAX_LENGTH")
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        violations.add("payload", "payload must be an object", "FORMAT")
    elif isinstance(payload, dict):
        for name in payload:
            if not _PAYLOAD_KEY.fullmatch(name):
                violations.add(f"payload.{name}", "keys are [A-Za-z0-9_], not starting with _", "FORMAT")
    entity = body.get("externalEntityId")
    if entity is not None and not _is_guid(entity):
        violations.add("externalEntityId", "externalEntityId must be a GUID", "FORMAT")
    idempotency = body.get("idempotency")
    key, ttl_ms = None, 0
    if idempotency is not None:
        if not isinstance(idempotency, dict) or not isinstance(idempotency.get("key"), str):
            violations.add("idempotency.key", "idempotency needs a key", "REQUIRED_FIELD")
        elif not 1 <= len(idempotency["key"]) <= 80:
            violations.add("idempotency.key", "idempotency.key must be 1 to 80 characters", "MAX_LENGTH")
        else:
            key = idempotency["key"]
            ttl_ms = _ttl_ms(idempotency, violations)
    violations.check()

    instance, now = caller.instance, caller.fake.clock()
    report = {**copy.deepcopy(body), "receivedDate": iso(now)}
    if key is not None:
        seen = (caller.grant.app_id, str(trigger_key), key)
        if instance.trigger_keys_seen.get(seen, 0.0) > now:
            instance.ignored_trigger_reports.append(report)
            return {"activationIds": []}
        instance.trigger_keys_seen[seen] = now + ttl_ms / 1000
    report["activationIds"] = [new_id()]
    instance.trigger_reports.append(report)
    return {"activationIds": list(report["activationIds"])}


@router.post("/automations/v1/events/cancel")
async def cancel_event(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Records the cancellation of a trigger key and external entity id."""
    body = await json_object(request)
    violations = Violations()
    for name in ("triggerKey", "externalEntityId"):
        if not isinstance(body.get(name), str) or not body[name]:
            violations.add(name, f"{name} is required", "REQUIRED_FIELD")
    violations.check()
    caller.instance.canceled_events.append({**body, "receivedDate": iso(caller.fake.clock())})
    return {}
