"""The Loyalty Program API (seed 003; `@wix/auto_sdk_loyalty_programs` 1.0.52, its `meta.d.ts`).

Every route answers the whole program, `{"loyaltyProgram": {name, pointDefinition {customName, icon {id,
url, height, width, altText}}, status (DRAFT|ACTIVE|PAUSED), pointsExpiration {status
(DISABLED|ENABLED), monthsOfInactivity, expiringPointsPercentage}, premiumFeatures {loyaltyProgram,
tiers, pointsExpiration}, createdDate, updatedDate}}`, except premium features, which answer the three
booleans at the top level:

- `GET /loyalty-programs/v1/program`;
- `PATCH /loyalty-programs/v1/program` `{"loyaltyProgram": {...}}` (required; no field mask and no
  revision in the package): the fields given are changed, the others kept (Wix's own example changes the
  points' name and keeps the icon). `name` 2-50 characters, `pointDefinition.customName` at most 20,
  `pointsExpiration.monthsOfInactivity` 1-12 and `.expiringPointsPercentage` 1-100; `status`, the dates,
  `premiumFeatures` and `pointsExpiration.status` are read-only and ignored, so an update never
  activates, pauses or deactivates a program: an ACTIVE program stays ACTIVE ("You cannot activate the
  loyalty program using this endpoint");
- `POST .../program/activate` (DRAFT or PAUSED → ACTIVE), `POST .../program/pause` (ACTIVE → PAUSED);
- `POST .../program/points-expiration/enable|disable`: no body (`EnablePointsExpirationRequest {}`),
  `pointsExpiration.status` → ENABLED or DISABLED; the months and percentage are set with PATCH;
- `GET .../program/premium-features`.

A change (and only a change) is followed by a `wix.loyalty.v1.program_updated` webhook (wix-facts.md
§3.5: `updatedEvent.currentEntity` is the program), see worker.wix.fake.webhooks.

UNCONFIRMED choices (the package declares no errors for these methods):
- a site without the Wix Loyalty Program app (`PUT /_fake/instances/{id}/loyalty-app {"installed":
  false}`) answers every program route 404 `NOT_FOUND`: the program is a singleton with no id in its
  path, so "not found" can only mean the site has none (the service already reads a 404 so). Installing
  the app again starts a new DRAFT program, as Wix's docs say an installed program starts;
- activating an ACTIVE program or pausing a PAUSED one answers the program unchanged, and sends no
  webhook; pausing a DRAFT program is a 428 `FAILED_PRECONDITION`;
- enabling points expiration where `premiumFeatures.pointsExpiration` is false is a 428
  `FAILED_PRECONDITION` (a premium feature the site's plan lacks);
- unknown fields in an update are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request

from worker.wix.fake.errors import FAILED_PRECONDITION, NOT_FOUND, Violations, WixError, invalid, json_object
from worker.wix.fake.oauth import Caller, CallerDep
from worker.wix.fake.state import FakeWix, InstanceState, default_program, iso, new_id
from worker.wix.fake.webhooks import deliver, emit

router = APIRouter(tags=["loyalty program"])

PROGRAM_UPDATED = "wix.loyalty.v1.program_updated"
NAME_LENGTH = (2, 50)
CUSTOM_NAME_MAX = 20
MONTHS_OF_INACTIVITY = (1, 12)
EXPIRING_PERCENTAGE = (1, 100)


def _program(caller: Caller) -> dict[str, Any]:
    """The site's program, or the 404 of a site without the Loyalty app."""
    if not caller.instance.loyalty_app_installed:
        raise WixError(
            404,
            "Loyalty program not found",
            NOT_FOUND,
            "the site has no loyalty program: the Wix Loyalty Program app is not installed",
        )
    return caller.instance.program


def set_loyalty_app(fake: FakeWix, instance: InstanceState, installed: bool) -> None:
    """Install or remove the Wix Loyalty Program app on the site (a `/_fake/` switch): a new install
    starts a DRAFT program."""
    if installed and not instance.loyalty_app_installed:
        instance.program = default_program(fake.clock(), status="DRAFT")
    instance.loyalty_app_installed = installed


def _changed(caller: Caller, before: dict[str, Any], background: BackgroundTasks) -> dict[str, Any]:
    """The answer; when the program changed, its `updatedDate` moves on and Wix's webhook follows."""
    program = caller.instance.program
    if program != before:
        now = iso(caller.fake.clock())
        program["updatedDate"] = now
        payload = {
            "id": new_id(),
            "entityFqdn": "wix.loyalty.v1.program",
            "slug": "updated",
            "entityId": "settings",  # Wix's own example (wix-facts.md §3.5)
            "updatedEvent": {"currentEntity": copy.deepcopy(program)},
            "eventTime": now,
            "triggeredByAnonymizeRequest": False,
        }
        record = emit(caller.fake, caller.instance, PROGRAM_UPDATED, payload)
        background.add_task(deliver, record)
    return {"loyaltyProgram": copy.deepcopy(program)}


def _text(value: Any, field: str, violations: Violations, low: int, high: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        violations.add(field, f"{low} to {high} characters", "MIN_MAX_LENGTH")
        return None
    return value


def _whole(value: Any, field: str, violations: Violations, bounds: tuple[int, int]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        violations.add(field, f"a whole number from {bounds[0]} to {bounds[1]}", "MIN_MAX")
        return None
    return int(value)


def _object(value: Any, field: str, violations: Violations) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        violations.add(field, "must be an object", "FORMAT")
        return {}
    return value


def _icon(value: Any, violations: Violations) -> dict[str, Any] | None:
    """An `Image` (`id` WixMedia image id, `url`, `altText`); height, width and filename are read-only."""
    field = "loyaltyProgram.pointDefinition.icon"
    if value is None:
        return None
    icon = _object(value, field, violations)
    kept: dict[str, Any] = {"id": "", "url": "", "height": 0, "width": 0}
    for name in ("id", "url", "altText"):
        item = icon.get(name)
        if item is not None and not isinstance(item, str):
            violations.add(f"{field}.{name}", "must be a string", "FORMAT")
        elif item is not None:
            kept[name] = item
    return kept


def _apply_update(program: dict[str, Any], body: dict[str, Any]) -> None:
    """Check the whole update, then change the fields it gives (nothing at all when a field is wrong)."""
    given = body.get("loyaltyProgram")
    if not isinstance(given, dict):
        raise invalid("loyaltyProgram", "loyaltyProgram is required", "REQUIRED_FIELD")
    violations = Violations()
    name = _text(given.get("name"), "loyaltyProgram.name", violations, *NAME_LENGTH)
    definition = _object(given.get("pointDefinition"), "loyaltyProgram.pointDefinition", violations)
    custom_name = _text(
        definition.get("customName"),
        "loyaltyProgram.pointDefinition.customName",
        violations,
        0,
        CUSTOM_NAME_MAX,
    )
    icon = _icon(definition.get("icon"), violations)
    expiration = _object(given.get("pointsExpiration"), "loyaltyProgram.pointsExpiration", violations)
    months = _whole(
        expiration.get("monthsOfInactivity"),
        "loyaltyProgram.pointsExpiration.monthsOfInactivity",
        violations,
        MONTHS_OF_INACTIVITY,
    )
    percentage = _whole(
        expiration.get("expiringPointsPercentage"),
        "loyaltyProgram.pointsExpiration.expiringPointsPercentage",
        violations,
        EXPIRING_PERCENTAGE,
    )
    violations.check()
    if name is not None:
        program["name"] = name
    points = program.setdefault("pointDefinition", {})
    if custom_name is not None:
        points["customName"] = custom_name
    if icon is not None:
        points["icon"] = icon
    policy = program.setdefault("pointsExpiration", {"status": "DISABLED"})
    if months is not None:
        policy["monthsOfInactivity"] = months
    if percentage is not None:
        policy["expiringPointsPercentage"] = percentage


@router.get("/loyalty-programs/v1/program")
async def get_loyalty_program(caller: CallerDep) -> dict[str, Any]:
    """`{"loyaltyProgram": {...}}`."""
    return {"loyaltyProgram": copy.deepcopy(_program(caller))}


@router.patch("/loyalty-programs/v1/program")
async def update_loyalty_program(
    request: Request, caller: CallerDep, background: BackgroundTasks
) -> dict[str, Any]:
    """`{"loyaltyProgram": {name, pointDefinition, pointsExpiration}}`: the given fields change."""
    body = await json_object(request)
    program = _program(caller)
    before = copy.deepcopy(program)
    _apply_update(program, body)
    return _changed(caller, before, background)


def _set_status(caller: Caller, status: str, background: BackgroundTasks) -> dict[str, Any]:
    program = _program(caller)
    before = copy.deepcopy(program)
    program["status"] = status
    return _changed(caller, before, background)


@router.post("/loyalty-programs/v1/program/activate")
async def activate_loyalty_program(caller: CallerDep, background: BackgroundTasks) -> dict[str, Any]:
    """DRAFT or PAUSED → ACTIVE; an ACTIVE program comes back as it is."""
    return _set_status(caller, "ACTIVE", background)


@router.post("/loyalty-programs/v1/program/pause")
async def pause_loyalty_program(caller: CallerDep, background: BackgroundTasks) -> dict[str, Any]:
    """ACTIVE → PAUSED; a PAUSED program comes back as it is; a DRAFT one cannot be paused (428)."""
    status = _program(caller).get("status")
    if status not in ("ACTIVE", "PAUSED"):
        raise WixError(
            428,
            "Loyalty program is not active",
            FAILED_PRECONDITION,
            f"a {status} loyalty program cannot be paused",
        )
    return _set_status(caller, "PAUSED", background)


def _set_expiration(caller: Caller, status: str, background: BackgroundTasks) -> dict[str, Any]:
    program = _program(caller)
    before = copy.deepcopy(program)
    program.setdefault("pointsExpiration", {})["status"] = status
    return _changed(caller, before, background)


@router.post("/loyalty-programs/v1/program/points-expiration/enable")
async def enable_points_expiration(caller: CallerDep, background: BackgroundTasks) -> dict[str, Any]:
    """`pointsExpiration.status` → ENABLED, where the site has the premium feature (else 428)."""
    if (_program(caller).get("premiumFeatures") or {}).get("pointsExpiration") is False:
        raise WixError(
            428,
            "Points expiration is not available",
            FAILED_PRECONDITION,
            "points expiration is a premium feature this site does not have",
        )
    return _set_expiration(caller, "ENABLED", background)


@router.post("/loyalty-programs/v1/program/points-expiration/disable")
async def disable_points_expiration(caller: CallerDep, background: BackgroundTasks) -> dict[str, Any]:
    """`pointsExpiration.status` → DISABLED."""
    return _set_expiration(caller, "DISABLED", background)


@router.get("/loyalty-programs/v1/program/premium-features")
async def get_premium_features(caller: CallerDep) -> dict[str, Any]:
    """`{"loyaltyProgram", "tiers", "pointsExpiration"}`: booleans, at the top level."""
    features = _program(caller).get("premiumFeatures") or {}
    return {name: features.get(name) is True for name in ("loyaltyProgram", "tiers", "pointsExpiration")}
