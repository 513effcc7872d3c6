"""Loyalty tiers (`@wix/auto_sdk_loyalty_tiers` 1.0.47, wix-facts.md §8): a premium feature of Wix Loyalty.

`GET /loyalty-tiers/v1/tiers` → `{"tiers": [Tier]}`; `GET /loyalty-tiers/v1/tiers/program` → `{"tiers",
"programSettings"}`; `GET /loyalty-tiers/v1/tiers/program-settings` → `{"programSettings"}`;
`GET /loyalty-tiers/v1/tiers/{tierId}` → `{"tier"}`. A `Tier` is `{id, tierDefinition {name, icon,
description}, requiredPoints, revision, createdDate, updatedDate}`; the settings are `{status
(DISABLED|DRAFT|ACTIVE|PAUSED), rollingWindow {durationInMonths}, baseTierDefinition {name, icon,
description}, revision, createdDate, updatedDate}`.

A site that never set tiers up answers what the package documents: no tiers, and default settings
(Get Tiers Program "creates and returns the default program settings"; "by default, the `status` of a
tiers program is set to `DISABLED`"), a 12-month rolling window.

Accounts (worker.wix.fake.loyalty) carry `tier {id, points, updatedDate}` while the tiers program is
ACTIVE: `points` the points earned and adjusted over the rolling window, `id` the tier with the highest
`requiredPoints` those reach, absent for the base tier ("not returned if the account belongs to the
base tier"). Each points change recalculates it.

UNCONFIRMED choices:
- the fake posts `wix.loyalty.v1.account_points_updated` (`actionEvent.body.account`, the account as
  served) after each points change only on sites set up with tiers (`PUT /_fake/instances/{id}/tiers`),
  so the webhooks other tests count stay as they were; Wix sends it on every site. Only earn and adjust
  through the API post it (a dashboard adjustment, `POST /_fake/.../adjust`, posts nothing, as before);
- a site without the Wix Loyalty app: 404, as the program answers; an unknown tier id: 404 `NOT_FOUND`
  (Wix declares no code for either);
- the tiers switch does not look at the program's `premiumFeatures.tiers` (Wix refuses creating tiers
  without the premium plan; the switch stands for a merchant who has it).
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import NOT_FOUND, Violations, WixError, json_object, not_found
from worker.wix.fake.oauth import CallerDep, fake_of
from worker.wix.fake.state import FakeWix, InstanceState, iso, new_id
from worker.wix.fake.webhooks import deliver, emit

router = APIRouter(tags=["loyalty tiers"])
control_router = APIRouter(prefix="/_fake", tags=["fake controls"])

ACCOUNT_POINTS_UPDATED = "wix.loyalty.v1.account_points_updated"
STATUSES = ("DISABLED", "DRAFT", "ACTIVE", "PAUSED")
DEFAULT_WINDOW_MONTHS = 12
_deliveries: set[asyncio.Task[None]] = set()  # kept until done (a bare task may be collected early)


def default_settings(now: str) -> dict[str, Any]:
    return {
        "status": "DISABLED",
        "rollingWindow": {"durationInMonths": DEFAULT_WINDOW_MONTHS},
        "baseTierDefinition": {},
        "revision": "1",
        "createdDate": now,
        "updatedDate": now,
    }


def _settings(fake: FakeWix, instance: InstanceState) -> dict[str, Any]:
    return copy.deepcopy(instance.tiers_settings or default_settings(iso(fake.clock())))


def _tiers(instance: InstanceState) -> list[dict[str, Any]]:
    return sorted(copy.deepcopy(instance.tiers), key=lambda tier: tier["requiredPoints"])


def _loyalty_app(instance: InstanceState) -> None:
    if not instance.loyalty_app_installed:
        raise WixError(
            404, "Loyalty program not found", NOT_FOUND, "the Wix Loyalty Program app is not installed"
        )


@router.get("/loyalty-tiers/v1/tiers")
async def list_tiers(caller: CallerDep) -> dict[str, Any]:
    """`{"tiers": [...]}`, lowest `requiredPoints` first; none on a site without tiers."""
    _loyalty_app(caller.instance)
    return {"tiers": _tiers(caller.instance)}


@router.get("/loyalty-tiers/v1/tiers/program")
async def get_tiers_program(caller: CallerDep) -> dict[str, Any]:
    """`{"tiers", "programSettings"}` (default DISABLED settings on a site that never set tiers up)."""
    _loyalty_app(caller.instance)
    return {"tiers": _tiers(caller.instance), "programSettings": _settings(caller.fake, caller.instance)}


@router.get("/loyalty-tiers/v1/tiers/program-settings")
async def get_tiers_program_settings(caller: CallerDep) -> dict[str, Any]:
    """`{"programSettings"}`."""
    _loyalty_app(caller.instance)
    return {"programSettings": _settings(caller.fake, caller.instance)}


@router.get("/loyalty-tiers/v1/tiers/{tier_id}")
async def get_tier(tier_id: str, caller: CallerDep) -> dict[str, Any]:
    """`{"tier"}` by id, or 404."""
    _loyalty_app(caller.instance)
    for tier in caller.instance.tiers:
        if tier["id"] == tier_id:
            return {"tier": copy.deepcopy(tier)}
    raise not_found("Tier", tier_id)


# --- the account's tier --------------------------------------------------------------------------------


def _months_before(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, 28)  # the window's first day; a day or three early at a month's end is fine here
    return moment.replace(year=year, month=month + 1, day=day)


def window_points(instance: InstanceState, account_id: str, now: str) -> int:
    """Points earned and adjusted on the account over the rolling window ending `now` (Wix's spelling)."""
    settings = instance.tiers_settings or {}
    months = (settings.get("rollingWindow") or {}).get("durationInMonths") or DEFAULT_WINDOW_MONTHS
    since = _months_before(datetime.fromisoformat(now), int(months))
    return sum(
        int(transaction["amount"])
        for transaction in instance.transactions
        if transaction["accountId"] == account_id
        and transaction.get("transactionType") in ("EARN", "ADJUST")
        and datetime.fromisoformat(transaction["createdDate"]) >= since
    )


def recalculate(instance: InstanceState, account: dict[str, Any], now: str) -> None:
    """Set the account's `tier` (ACTIVE tiers only; none otherwise), as Wix recalculates it."""
    settings = instance.tiers_settings
    if settings is None or settings.get("status") != "ACTIVE":
        account.pop("tier", None)
        return
    points = window_points(instance, account["id"], now)
    reached = [tier for tier in _tiers(instance) if tier["requiredPoints"] <= points]
    tier: dict[str, Any] = {"points": points, "updatedDate": now}
    if reached:
        tier = {"id": reached[-1]["id"], **tier}
    account["tier"] = tier


def announce(fake: FakeWix, instance: InstanceState, account_id: str) -> None:
    """After a points change (the tier already recalculated by `loyalty.record_transaction`): on a site
    set up with tiers, post `account_points_updated` with the account, as Wix would."""
    account = instance.accounts.get(account_id)
    if instance.tiers_settings is None or account is None:
        return
    now = iso(fake.clock())
    payload = {
        "id": new_id(),
        "entityFqdn": "wix.loyalty.v1.account",
        "slug": "points_updated",
        "entityId": account["id"],
        "eventTime": now,
        "triggeredByAnonymizeRequest": False,
        "actionEvent": {"body": {"account": copy.deepcopy(account)}},
    }
    record = emit(fake, instance, ACCOUNT_POINTS_UPDATED, payload)
    try:
        task = asyncio.get_running_loop().create_task(deliver(record))
    except RuntimeError:  # called outside the server (a unit test): kept for read-back only
        return
    _deliveries.add(task)
    task.add_done_callback(_deliveries.discard)


# --- controls ------------------------------------------------------------------------------------------


def _tier_definition(value: Any, field: str, violations: Violations) -> dict[str, Any]:
    if not isinstance(value, dict):
        violations.add(field, "must be an object", "FORMAT")
        return {}
    name = value.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 50:
        violations.add(f"{field}.name", "1 to 50 characters", "MIN_MAX_LENGTH")
    description = value.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 70):
        violations.add(f"{field}.description", "at most 70 characters", "MAX_LENGTH")
    return {k: copy.deepcopy(v) for k, v in value.items() if k in ("name", "description", "icon")}


@control_router.put("/instances/{instance_id}/tiers")
async def set_up_tiers(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"status": "ACTIVE", "rollingWindowMonths": 12, "baseTierDefinition": {"name"}, "tiers":
    [{"tierDefinition": {"name", "description"?}, "requiredPoints"}]}`: the merchant sets tiers up (on
    a premium plan); every account's tier is recalculated. `{"tiers": null}` takes them away again."""
    fake, body = fake_of(request), await json_object(request)
    instance = fake.instance(instance_id)
    if body.get("tiers", []) is None:
        instance.tiers_settings, instance.tiers = None, []
    else:
        violations = Violations()
        status = body.get("status", "ACTIVE")
        if status not in STATUSES:
            violations.add("status", f"one of {', '.join(STATUSES)}", "FORMAT")
        months = body.get("rollingWindowMonths", DEFAULT_WINDOW_MONTHS)
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 36:
            violations.add("rollingWindowMonths", "a whole number from 1 to 36", "MIN_MAX")
        base = _tier_definition(
            body.get("baseTierDefinition", {"name": "Base"}), "baseTierDefinition", violations
        )
        tiers = []
        for index, item in enumerate(body.get("tiers") or []):
            field = f"tiers[{index}]"
            definition = _tier_definition(
                (item or {}).get("tierDefinition"), f"{field}.tierDefinition", violations
            )
            required = (item or {}).get("requiredPoints")
            if isinstance(required, bool) or not isinstance(required, int) or not 1 <= required <= 9_999_999:
                violations.add(f"{field}.requiredPoints", "a whole number from 1 to 9999999", "MIN_MAX")
            tiers.append({"tierDefinition": definition, "requiredPoints": required})
        if len({t["requiredPoints"] for t in tiers}) != len(tiers):
            violations.add("tiers", "each tier's requiredPoints must differ", "UNIQUE")
        violations.check()
        now = iso(fake.clock())
        instance.tiers = [
            {"id": new_id(), **tier, "revision": "1", "createdDate": now, "updatedDate": now}
            for tier in tiers
        ]
        instance.tiers_settings = {
            **default_settings(now),
            "status": status,
            "rollingWindow": {"durationInMonths": months},
            "baseTierDefinition": base,
        }
    for account in instance.accounts.values():
        recalculate(instance, account, iso(fake.clock()))
    return {"tiers": _tiers(instance), "programSettings": _settings(fake, instance)}
