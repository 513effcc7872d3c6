"""Unwrapping a verified Wix webhook: claim `data` (a JSON string) → envelope → inner `data` + `identity`.

See wix-facts.md §1. The receiver parses only as far as it needs to answer (event type, instance id,
event id); the worker parses the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from worker.identifiers import INSTANCE_PATTERN, PATTERN_MEANINGS, identifier_problem, is_instance_id

# Envelope event types the worker turns into normalized events (DESIGN.md "Normalized events").
HANDLED_EVENT_TYPES = frozenset(
    {
        "wix.ecom.v1.order_approved",
        "wix.ecom.v1.order_payment_status_updated",
        "wix.ecom.v1.fulfillments_updated",
        "wix.ecom.v1.order_canceled",
        "wix.ecom.v1.checkout_completed",
        "wix.loyalty.v1.account_points_updated",
        "wix.loyalty.v1.program_updated",
        "AppInstalled",
        "AppRemoved",
        # The points sync keeps its contact mapping current from these (worker/sync/member_directory.py).
        "wix.contacts.v4.contact_created",
        "wix.contacts.v4.contact_updated",
        "wix.contacts.v4.contact_deleted",
        # A member signing up earns a points rule's `on: member_created` (worker/loyalty/points_rules.py).
        "wix.members.v1.member_created",
    }
)
# Legacy events have a flat payload without an event id (wix-facts.md §3.6, §3.7).
LEGACY_EVENT_TYPES = frozenset({"AppInstalled", "AppRemoved"})


class EnvelopeError(ValueError):
    """An authentic token whose payload is not the shape Wix sends."""


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    event_type: str
    instance_id: str
    event_id: str
    data: str  # the inner payload, still a JSON string: the worker parses it
    identity: str | None
    # Wix's GDPR flag (`triggeredByAnonymizeRequest`): whatever its type, the event erases its member
    # (worker/members/erasure.py), so it is queued too.
    anonymize: bool = False

    @property
    def handled(self) -> bool:
        return self.event_type in HANDLED_EVENT_TYPES or self.anonymize

    def task_kwargs(self) -> dict[str, Any]:
        """The JSON-primitive arguments of `events.process_wix_event`."""
        return {
            "event_type": self.event_type,
            "instance_id": self.instance_id,
            "event_id": self.event_id,
            "data": self.data,
            "identity": self.identity,
        }


def _as_json_text(value: Any, name: str) -> str:
    """Wix sends nested levels as JSON strings; tolerate an object there and re-serialize it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    raise EnvelopeError(f"{name} must be a JSON string")


def _object(text: str, name: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)  # a third of json.loads's time, on the request path
    except orjson.JSONDecodeError:
        raise EnvelopeError(f"{name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{name} must be a JSON object")
    return value


def _required_text(mapping: dict[str, Any], field: str, name: str) -> str:
    value = mapping.get(field)
    if not isinstance(value, str) or not value:
        raise EnvelopeError(f"{name}.{field} is missing or not a string")
    return value


def parse_envelope(claims: dict[str, Any], raw_token: bytes) -> WebhookEnvelope:
    """The envelope of a verified webhook, or `EnvelopeError` naming what is not Wix's shape."""
    if "data" not in claims:
        raise EnvelopeError("the token has no data claim")
    envelope = _object(_as_json_text(claims["data"], "data"), "data")
    event_type = _required_text(envelope, "eventType", "data")
    instance_id = _required_text(envelope, "instanceId", "data")
    if "data" not in envelope:
        raise EnvelopeError("data.data is missing")
    inner_text = _as_json_text(envelope["data"], "data.data")
    inner = _object(inner_text, "data.data")
    identity = envelope.get("identity")
    identity_text = _as_json_text(identity, "data.identity") if identity not in (None, "") else None

    inner_id = inner.get("id")
    if event_type not in LEGACY_EVENT_TYPES and isinstance(inner_id, str) and inner_id:
        event_id = inner_id
    elif event_type in HANDLED_EVENT_TYPES and event_type not in LEGACY_EVENT_TYPES:
        raise EnvelopeError("data.data.id is missing or not a string")
    else:
        # No event id (legacy events): a redelivery of the same token is still recognised.
        event_id = "token-" + hashlib.sha256(raw_token).hexdigest()[:32]
    anonymize = inner.get("triggeredByAnonymizeRequest") is True
    webhook = WebhookEnvelope(event_type, instance_id, event_id, inner_text, identity_text, anonymize)
    if webhook.handled:  # its ids name the event's journal record and its site's keys
        if not is_instance_id(instance_id):
            raise EnvelopeError(f"data.instanceId {PATTERN_MEANINGS[INSTANCE_PATTERN]}")
        if (problem := identifier_problem(event_id)) is not None:
            raise EnvelopeError(f"data.data.id {problem}")
    return webhook
