"""The site's Wix loyalty program, managed by an operator (seed 003): read it, change its name, its points'
name and icon and its points expiration settings, activate or pause it, turn points expiration on or
off, read its premium features. Shared by the admin routes (worker/web/admin_loyalty_program.py) and
the CLI (`python -m worker loyalty-program`).

Every program Wix answers is noted at once, as its `program_updated` webhook would be later: its status
goes to the points gate (worker.loyalty.points_gate; an ACTIVE program sends the points that waited
while it was paused), and the short-lived copy the members' progress reads is replaced. So the gate is
right as soon as the call returns, whether the webhook comes or not.

A site without the Wix Loyalty Program app raises `LoyaltyAppNotInstalled` (worker.wix.client); every
other Wix failure is raised as the client raised it, for the caller to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import redis
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from worker import keys
from worker.dispatch import Dispatcher
from worker.loyalty.points_gate import record_program_status, release_waiting
from worker.progress.member_progress import PROGRAM_TTL_SECONDS
from worker.wix.client import WixClient

# Wix's limits (`@wix/auto_sdk_loyalty_programs` meta.d.ts: LoyaltyProgram, PointDefinition,
# PointsExpiration), checked here so a bad value is our 422, not a call Wix refuses.
NAME_LENGTH = (2, 50)
POINTS_NAME_MAX = 20
MONTHS = (1, 12)  # pointsExpiration.monthsOfInactivity
PERCENTAGE = (1, 100)  # pointsExpiration.expiringPointsPercentage
STATUS_NOT_HERE = "the status is not changed by an update: use .../loyalty-program/activate or .../pause"


class Icon(BaseModel):
    """The points' icon, a Wix `Image`: its `url` or its Wix Media `id` (or both), and `altText`."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    altText: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _an_image(self) -> Icon:
        if self.id is None and self.url is None:
            raise ValueError("an icon needs its url or its Wix Media id")
        return self


class PointDefinition(BaseModel):
    """What the points are called (`customName`, plural, e.g. "Stars") and their icon."""

    model_config = ConfigDict(extra="forbid")

    customName: Annotated[str, Field(min_length=1, max_length=POINTS_NAME_MAX)] | None = None
    icon: Icon | None = None


class ExpirationSettings(BaseModel):
    """How points expire once expiration is ENABLED: after `monthsOfInactivity` months without activity
    (1-12) a member loses `expiringPointsPercentage` percent of them (1-100)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"monthsOfInactivity": 6, "expiringPointsPercentage": 50}},
    )

    monthsOfInactivity: Annotated[StrictInt, Field(ge=MONTHS[0], le=MONTHS[1])] | None = None
    expiringPointsPercentage: Annotated[StrictInt, Field(ge=PERCENTAGE[0], le=PERCENTAGE[1])] | None = None

    def given(self) -> bool:
        return self.monthsOfInactivity is not None or self.expiringPointsPercentage is not None


class ProgramChanges(BaseModel):
    """An update: the fields given change, the others stay (Wix's `LoyaltyProgram`, writable fields)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Star Loyalty Program",
                "pointDefinition": {"customName": "Stars", "icon": {"url": "shapes/star.svg"}},
            }
        },
    )

    name: Annotated[str, Field(min_length=NAME_LENGTH[0], max_length=NAME_LENGTH[1])] | None = None
    pointDefinition: PointDefinition | None = None
    pointsExpiration: ExpirationSettings | None = None
    status: SkipJsonSchema[Any] = Field(default=None, exclude=True)  # read-only: refused, not documented

    @field_validator("status")
    @classmethod
    def _not_here(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(STATUS_NOT_HERE)

    @model_validator(mode="after")
    def _something(self) -> ProgramChanges:
        definition, expiration = self.pointDefinition, self.pointsExpiration
        if (
            self.name is None
            and (definition is None or (definition.customName is None and definition.icon is None))
            and (expiration is None or not expiration.given())
        ):
            raise ValueError("nothing to change: give name, pointDefinition or pointsExpiration")
        return self


@dataclass
class ProgramAdmin:
    """One operator's calls, through our Wix client; `store` and `follow_ups` note what Wix answers."""

    wix: WixClient
    store: redis.Redis
    follow_ups: Dispatcher

    def show(self, instance_id: str) -> dict[str, Any]:
        return self._noted(instance_id, self.wix.get_loyalty_program(instance_id))

    def update(self, instance_id: str, changes: ProgramChanges) -> dict[str, Any]:
        definition = changes.pointDefinition or PointDefinition()
        expiration = changes.pointsExpiration or ExpirationSettings()
        program = self.wix.update_loyalty_program(
            instance_id,
            name=changes.name,
            points_name=definition.customName,
            icon=definition.icon.model_dump(exclude_none=True) if definition.icon else None,
            months_of_inactivity=expiration.monthsOfInactivity,
            expiring_points_percentage=expiration.expiringPointsPercentage,
        )
        return self._noted(instance_id, program)

    def activate(self, instance_id: str) -> dict[str, Any]:
        return self._noted(instance_id, self.wix.activate_loyalty_program(instance_id))

    def pause(self, instance_id: str) -> dict[str, Any]:
        return self._noted(instance_id, self.wix.pause_loyalty_program(instance_id))

    def enable_expiration(
        self, instance_id: str, settings: ExpirationSettings | None = None
    ) -> dict[str, Any]:
        """Points expiration ENABLED, with `settings` first where given: Wix's enable takes no body, its
        months and percentage are the program's (an update, repeatable, so a retry is safe)."""
        if settings is not None and settings.given():
            self.update(instance_id, ProgramChanges(pointsExpiration=settings))
        return self._noted(instance_id, self.wix.enable_points_expiration(instance_id))

    def disable_expiration(self, instance_id: str) -> dict[str, Any]:
        return self._noted(instance_id, self.wix.disable_points_expiration(instance_id))

    def premium_features(self, instance_id: str) -> dict[str, Any]:
        features = self.wix.get_loyalty_program_premium_features(instance_id)
        return {"instanceId": instance_id, "premiumFeatures": features}

    def _noted(self, instance_id: str, program: dict[str, Any]) -> dict[str, Any]:
        """Our copy of the program, and its status at the points gate, as Wix answered them."""
        status = program.get("status")
        if isinstance(status, str) and status:
            record_program_status(self.store, instance_id, status)
            if status == "ACTIVE":  # as the webhook does: what still waits goes (same idempotency keys)
                release_waiting(self.store, instance_id, self.follow_ups)
        self.store.set(keys.loyalty_program_copy(instance_id), json.dumps(program), ex=PROGRAM_TTL_SECONDS)
        return {"instanceId": instance_id, "loyaltyProgram": program}
