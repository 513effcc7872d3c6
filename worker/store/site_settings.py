"""Per-site settings: what one instance (one merchant's site) sets for itself over the environment's values.

An installed app serves many merchants, each with their own external loyalty system, so the points sync's
URL, secret and matching are per instance, as are auto-bootstrap and the reward-expiring notice days. The
environment (`EXTERNAL_SYNC_URL`, `EXTERNAL_SYNC_SECRET`, `EXTERNAL_SYNC_MATCH_BY`, `AUTO_BOOTSTRAP`,
`REWARD_EXPIRING_NOTICE_DAYS`) stays the default for all: a field the instance has not set takes it.

One hash per instance (`keys.site_settings`), one JSON value per field the instance has set. A change is
validated whole first (a bad value writes nothing), then applied to the hash in one MULTI. The secret is
kept as given (it signs and verifies, so it cannot be hashed), never logged, and shown masked:
`whsec_****` and its last four characters. `keys.SITE_SYNC_SECRETS` lists the instances with a secret
of their own, so the inbound route can tell "the sync is configured nowhere" (503) from "not for this
instance" (401).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import redis
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from worker import keys
from worker.settings import Settings

logger = logging.getLogger(__name__)

MatchBy = Literal["email", "contactId"]
Source = Literal["site", "default"]

SECRET_PREFIX = "whsec_"  # noqa: S105  # Standard Webhooks' prefix (worker/sync/standard_webhooks.py), not a secret
# Standard Webhooks: a secret "between 24 bytes (192 bits) and 64 bytes (512 bits)".
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
MAX_URL_LENGTH = 2000
MAX_SECRET_LENGTH = 200
MAX_NOTICE_DAYS = 365
FIELDS = ("syncUrl", "syncSecret", "syncMatchBy", "autoBootstrap", "rewardExpiringNoticeDays")


def _http_url(value: str) -> str:
    text = value.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise PydanticCustomError("url", "must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError("url", "must not hold credentials: the secret signs the messages")
    return text


def _whsec(value: SecretStr) -> SecretStr:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 to 64 random bytes. The message never quotes it."""
    text = value.get_secret_value().strip()
    if len(text) > MAX_SECRET_LENGTH:
        raise PydanticCustomError("whsec", f"must be at most {MAX_SECRET_LENGTH} characters")
    encoded = text.removeprefix(SECRET_PREFIX)
    try:
        # Unpadded base64 is accepted, as worker/sync/standard_webhooks.py (and the reference libraries) do.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not text.startswith(SECRET_PREFIX) or not key:
        raise PydanticCustomError("whsec", "must be a Standard Webhooks secret: whsec_ followed by base64")
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise PydanticCustomError(
            "whsec",
            f"must hold {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes after whsec_ (Standard Webhooks)",
        )
    return SecretStr(text)


SyncUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_http_url)]
SyncSecret = Annotated[SecretStr, AfterValidator(_whsec)]
NoticeDays = Annotated[int, Field(strict=True, ge=0, le=MAX_NOTICE_DAYS)]


class SiteSettingsPatch(BaseModel):
    """A change: a field given a value is set, a field given null is cleared (the default applies again),
    a field left out is left as it is."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,  # a refused secret is not quoted back, in an answer or a log
        json_schema_extra={
            "example": {
                "syncUrl": "https://loyalty.example.com/hooks/wix",
                "syncSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "syncMatchBy": "email",
                "autoBootstrap": None,
                "rewardExpiringNoticeDays": 7,
            }
        },
    )

    syncUrl: SyncUrl | None = None
    syncSecret: SyncSecret | None = None
    syncMatchBy: MatchBy | None = None
    autoBootstrap: StrictBool | None = None
    rewardExpiringNoticeDays: NoticeDays | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, each with its JSON value (None: clear)."""
        values = self.model_dump(include=self.model_fields_set)
        secret = values.get("syncSecret")
        if isinstance(secret, SecretStr):
            values["syncSecret"] = secret.get_secret_value()
        return values


@dataclass(frozen=True)
class SiteSettings:
    """One instance's settings, each field its own value or the environment's (`sources` says which)."""

    instance_id: str | None
    sync_url: str | None
    sync_secret: SecretStr | None
    sync_match_by: MatchBy
    auto_bootstrap: bool
    reward_expiring_notice_days: int
    sources: dict[str, Source] = field(default_factory=dict)

    @property
    def outbound_sync_url(self) -> str | None:
        """Where this instance's points changes go; None while its URL or its secret is not set."""
        return self.sync_url if self.sync_secret is not None else None


def default_site_settings(settings: Settings) -> SiteSettings:
    """The environment's values alone (what an instance that has set nothing gets)."""
    return resolve(None, {}, settings)


def resolve(instance_id: str | None, own: dict[str, Any], settings: Settings) -> SiteSettings:
    """`own` (the instance's stored fields) over the environment's values."""
    env_secret = settings.external_sync_secret
    defaults: dict[str, Any] = {
        "syncUrl": settings.external_sync_url or None,
        "syncSecret": env_secret.get_secret_value() if env_secret is not None else None,
        "syncMatchBy": settings.external_sync_match_by,
        "autoBootstrap": settings.auto_bootstrap,
        "rewardExpiringNoticeDays": settings.reward_expiring_notice_days,
    }
    sources: dict[str, Source] = {name: "site" if name in own else "default" for name in FIELDS}
    values = {**defaults, **own}
    return SiteSettings(
        instance_id=instance_id,
        sync_url=values["syncUrl"],
        sync_secret=SecretStr(values["syncSecret"]) if values["syncSecret"] else None,
        sync_match_by=values["syncMatchBy"],
        auto_bootstrap=values["autoBootstrap"],
        reward_expiring_notice_days=values["rewardExpiringNoticeDays"],
        sources=sources,
    )


def stored_site_settings(client: redis.Redis, instance_id: str) -> dict[str, Any]:
    """The fields the instance has set. A stored value that no longer validates is left out (the default
    applies), with a warning that names the field only."""
    raw: dict[str, str] = client.hgetall(keys.site_settings(instance_id))  # type: ignore[assignment]
    own: dict[str, Any] = {}
    for name, text in raw.items():
        try:
            value = json.loads(text)
            checked = SiteSettingsPatch.model_validate({name: value})
        except (ValueError, ValidationError):
            logger.warning("a stored site setting is not valid; the default applies", extra={"setting": name})
            continue
        own.update(checked.changes())
    return own


def site_settings_for(client: redis.Redis, instance_id: str, settings: Settings) -> SiteSettings:
    """The instance's settings: every field it has not set takes the environment's value."""
    return resolve(instance_id, stored_site_settings(client, instance_id), settings)


def update_site_settings(client: redis.Redis, instance_id: str, patch: SiteSettingsPatch) -> None:
    """Set the fields given a value and clear those given null, in one step."""
    changes = patch.changes()
    key = keys.site_settings(instance_id)
    secret_given = "syncSecret" in changes and changes["syncSecret"] is not None
    # The index is another key (another slot under Redis Cluster), so it is written apart: listed before
    # a secret is stored, unlisted after it is cleared. A crash in between leaves an instance listed
    # without a secret, whose only effect is a 401 where a 503 would say the sync is configured nowhere.
    if secret_given:
        client.sadd(keys.SITE_SYNC_SECRETS, instance_id)
    with client.pipeline(transaction=True) as pipe:
        for name, value in changes.items():
            if value is None:
                pipe.hdel(key, name)
            else:
                pipe.hset(key, name, json.dumps(value))
        pipe.execute()
    if "syncSecret" in changes and not secret_given:
        client.srem(keys.SITE_SYNC_SECRETS, instance_id)
    logger.info("site settings changed", extra={"settings": sorted(changes)})


def any_site_sync_secret(client: redis.Redis) -> bool:
    """Whether some instance has a points-sync secret of its own."""
    return bool(client.scard(keys.SITE_SYNC_SECRETS))


def mask(secret: SecretStr | None) -> str | None:
    """`whsec_****` and the last four characters (none of a short secret): enough to tell two apart."""
    if secret is None:
        return None
    text = secret.get_secret_value()
    tail = text[-4:] if len(text.removeprefix(SECRET_PREFIX)) >= 24 else ""
    return f"{SECRET_PREFIX}****{tail}"


def describe(site: SiteSettings) -> dict[str, Any]:
    """The settings as the admin route and the CLI show them: each value (the secret masked), its source."""
    values: dict[str, Any] = {
        "syncUrl": site.sync_url,
        "syncSecret": mask(site.sync_secret),
        "syncMatchBy": site.sync_match_by,
        "autoBootstrap": site.auto_bootstrap,
        "rewardExpiringNoticeDays": site.reward_expiring_notice_days,
    }
    return {
        "instanceId": site.instance_id,
        "pointsSync": {
            "outbound": site.outbound_sync_url is not None,
            "inbound": site.sync_secret is not None,
        },
        "settings": {name: {"value": values[name], "source": site.sources[name]} for name in FIELDS},
    }
