"""An inbound points change (`POST /sync/v1/points`): an external loyalty system's points change,
applied to the member's Wix account.

The external system signs each message in the Standard Webhooks format with the secret of the instance
its body names: the instance's own (its site settings, worker/store/site_settings.py), else
`EXTERNAL_SYNC_SECRET` (headers `webhook-id`, `webhook-timestamp`, `webhook-signature`: `v1,` + base64
HMAC-SHA256 of `{id}.{timestamp}.{body}`). The body, read up to `WEBHOOK_MAX_BYTES` (worker/web/guards.py
stops reading past it), is parsed once; only its `instanceId` is looked at before the signature is
checked with that instance's secret, and the rest is validated once the signature holds. It is JSON:

    {"instanceId": "6b1e...",            the Wix site
     "transactionId": "ext-tx-1",        the external transaction (1..128 characters): applied once
     "amount": 25,                       a whole number, not 0, within ±9,999,999
     "description": "Bonus",             optional, at most 100 characters
     "email": "jane@example.com",        the member, when the instance matches by email (the default)
     "contactId": "24de...",             the member, when it matches by contactId
     "externalId": "cust-9"}             optional: linked to the contact and sent back in our messages

Answers:
- 202 `{"status": "queued", "contactId", "transactionId"}`: verified, the member found, the transaction
  recorded and durably queued (Redis). A worker applies it (positive amounts with `earn-points`, the
  transaction id as Wix's `idempotencyKey`; others with `adjust-points` at the account's revision),
  retrying Wix's passing failures with backoff; what still fails is parked in the dead-letter queue.
  A 202 does not say Wix has the points yet: Wix may be slow or throttling, and the sender should not
  wait on it.
- 200 `{"status": "duplicate"}`: this transaction id was already accepted (under another webhook-id);
  200 `{"status": "echo"}`: the transaction id is a Wix transaction we sent to the external system, so
  sending it back changes nothing. Neither changes anything.
- 401 `unauthorized`: a missing or wrong signature, or a `webhook-timestamp` more than five minutes
  from now (`details.reason` says which). A body naming an instance that has no secret (its own or the
  environment's), or none we know, is answered exactly as a wrong signature is: which it was is not told.
  A body that names no usable instance is checked with `EXTERNAL_SYNC_SECRET`.
- 409 `replayed`: this `webhook-id` was already accepted for this instance (ids are kept a day);
  nothing is applied again, so a sender may treat it as delivered.
- 404 `not_found`: no Wix contact with that email (or contact id) in the instance; nothing changed.
- 422 `invalid_request` with `details` (each problem's path and message); 413 over the size limit;
  503 when the sync is configured nowhere (no `EXTERNAL_SYNC_SECRET` and no instance with its own secret)
  or Redis or the queue is unavailable.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.dispatch import APPLY_EXTERNAL_POINTS
from worker.identifiers import (
    PATTERN,
    Identifier,
    InstanceId,
    identifier_problem,
    is_instance_id,
    validation_message,
)
from worker.settings import Settings, SettingsError
from worker.store.site_settings import (
    SiteSettings,
    any_site_sync_secret,
    default_site_settings,
    site_settings_for,
)
from worker.sync.member_directory import contact_for_email, link_external_id, link_of
from worker.sync.points import accept_inbound, apply_intent, release_inbound, signer
from worker.sync.standard_webhooks import StandardWebhook, WebhookVerificationError

logger = logging.getLogger(__name__)

Send = Callable[[str, dict[str, Any]], None]

MAX_POINTS = 9_999_999
MAX_WEBHOOK_ID = 256  # it becomes a Redis key (replay protection)


class InboundRefused(Exception):
    """An inbound points change that is not applied; `status`, `code` and `details` say how to answer."""

    status = 422
    code = "invalid_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class SyncNotConfigured(InboundRefused):
    status, code = 503, "not_configured"


class InvalidInbound(InboundRefused):
    status, code = 422, "invalid_request"


class UnknownMember(InboundRefused):
    status, code = 404, "not_found"


class Replayed(InboundRefused):
    status, code = 409, "replayed"


class QueueUnavailable(InboundRefused):
    status, code = 503, "unavailable"


class SignatureRefused(InboundRefused):
    status, code = 401, "unauthorized"


class PointsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "instanceId": "6b1e6a2c-0000-4000-8000-00000000a001",
                "transactionId": "ext-tx-1",
                "amount": 25,
                "description": "Bonus from the store card",
                "email": "jane@example.com",
                "externalId": "cust-9",
            }
        },
    )

    instanceId: InstanceId
    transactionId: Annotated[str, Field(min_length=1, max_length=128, pattern=PATTERN)]
    amount: Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS)]
    description: Annotated[str, Field(max_length=100)] = ""
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    contactId: Identifier | None = None
    externalId: Identifier | None = None

    @model_validator(mode="after")
    def _not_zero(self) -> PointsIn:
        if self.amount == 0:
            raise ValueError("amount must not be 0")
        return self


# Checks the signature of a body whose instance has no secret: no signature matches its random key, so the
# answer (and the work done) is that of a wrong signature, and does not tell "no secret" from "wrong".
_NO_SECRET = StandardWebhook(secrets.token_bytes(32))
_NOT_JSON = object()


def _document(body: bytes) -> Any:
    """The body parsed once: the instance is read from it before verifying, the message after, so the
    two cannot differ (a body with `instanceId` twice names one instance to both)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return _NOT_JSON


def _named_instance(document: Any) -> str | None:
    named = document.get("instanceId") if isinstance(document, dict) else None
    return named if isinstance(named, str) and is_instance_id(named) else None


def site_of(client: redis.Redis, instance_id: str | None, settings: Settings) -> SiteSettings:
    """The settings of the instance the body names (the environment's when it names none we can use);
    503 when the sync is configured nowhere."""
    site = (
        default_site_settings(settings)
        if instance_id is None
        else site_settings_for(client, instance_id, settings)
    )
    # Asked whatever the instance when the environment has no secret: the same work for every instance.
    nowhere = default_site_settings(settings).sync_secret is None and not any_site_sync_secret(client)
    if site.sync_secret is None and nowhere:
        raise SyncNotConfigured(
            "the points sync is not configured: EXTERNAL_SYNC_SECRET is not set (a whsec_ secret the "
            "external system shares) and no instance has a sync secret of its own",
        )
    return site


def _verified(site: SiteSettings, body: bytes, headers: Mapping[str, str]) -> str:
    """The `webhook-id` of a body signed with the instance's secret; 401 otherwise."""
    try:
        verifier = signer(site) if site.sync_secret is not None else _NO_SECRET
    except SettingsError as exc:
        raise SyncNotConfigured(f"the points sync is not configured: {exc}") from None
    try:
        webhook_id = verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        logger.warning("inbound points change refused", extra={"reason": exc.reason})
        raise SignatureRefused(str(exc), {"reason": exc.reason}) from None
    problem = identifier_problem(webhook_id, MAX_WEBHOOK_ID)
    if problem is not None:
        details = [{"path": "webhook-id", "message": problem}]
        raise InvalidInbound(f"webhook-id {problem}", details)
    return webhook_id


def _validated(document: Any, match_by: str) -> PointsIn:
    if document is _NOT_JSON:
        raise InvalidInbound("the body is not JSON", [{"path": "", "message": "not JSON"}])
    try:
        message = PointsIn.model_validate(document)
    except ValidationError as exc:
        details = [
            {"path": ".".join(str(part) for part in error["loc"]), "message": validation_message(error)}
            for error in exc.errors()
        ]
        raise InvalidInbound("the request is not valid", details) from None
    if getattr(message, match_by) is None:
        raise InvalidInbound(
            f"{match_by} is required: the instance's members are matched by {match_by}",
            [{"path": match_by, "message": "Field required"}],
        )
    return message


def _contact(client: redis.Redis, message: PointsIn, match_by: str) -> str:
    if match_by == "email":
        assert message.email is not None
        contact_id = contact_for_email(client, message.instanceId, message.email)
        what = f"email {message.email}"
    else:
        assert message.contactId is not None
        known = link_of(client, message.instanceId, message.contactId) is not None
        contact_id = message.contactId if known else None
        what = f"contact id {message.contactId}"
    if contact_id is None:
        raise UnknownMember(
            f"no Wix contact with {what} in instance {message.instanceId}: nothing was changed",
        )
    return contact_id


def _accept(
    client: redis.Redis, send: Send, webhook_id: str, message: PointsIn, match_by: str, ttl: int
) -> tuple[int, dict[str, Any]]:
    contact_id = _contact(client, message, match_by)
    outcome = accept_inbound(
        client,
        webhook_id=webhook_id,
        instance_id=message.instanceId,
        transaction_id=message.transactionId,
        contact_id=contact_id,
        amount=message.amount,
        ttl_seconds=ttl,
        description=message.description,
    )
    if outcome == "replayed":
        raise Replayed(f"webhook-id {webhook_id} was already accepted: nothing was applied again")
    if message.externalId:
        link_external_id(client, message.instanceId, contact_id, message.externalId)
    if outcome in ("duplicate", "echo"):
        logger.info("inbound points change changes nothing", extra={"outcome": outcome})
        return 200, {"status": outcome, "transactionId": message.transactionId}
    intent = apply_intent(
        message.instanceId, contact_id, message.transactionId, message.amount, message.description
    )
    try:
        send(APPLY_EXTERNAL_POINTS, intent.kwargs)
    except Exception:
        release_inbound(
            client,
            webhook_id=webhook_id,
            instance_id=message.instanceId,
            transaction_id=message.transactionId,
        )
        logger.exception("could not queue an inbound points change")
        raise QueueUnavailable("the queue is unavailable: send the message again later") from None
    status = {"status": "queued", "contactId": contact_id, "transactionId": message.transactionId}
    return 202, status


def receive_inbound(
    client: redis.Redis, send: Send, body: bytes, headers: Mapping[str, str], settings: Settings
) -> tuple[int, dict[str, Any]]:
    """Verify, validate and accept one inbound points change: the HTTP status and answer of a change
    taken (202 queued, 200 duplicate or echo); `InboundRefused` says why one is not."""
    document = _document(body)
    site = site_of(client, _named_instance(document), settings)
    webhook_id = _verified(site, body, headers)
    message = _validated(document, site.sync_match_by)
    ttl = settings.event_journal_ttl_seconds
    return _accept(client, send, webhook_id, message, site.sync_match_by, ttl)
