"""What the worker does with one webhook event: normalize it and record the outcome in the journal."""

from __future__ import annotations

import json
import logging

from worker.journal import EventJournal
from worker.wix.events import EventIgnored, InvalidEvent, normalize

logger = logging.getLogger(__name__)


def process_event(
    journal: EventJournal,
    *,
    event_type: str,
    instance_id: str,
    event_id: str,
    data: str,
    our_app_id: str | None,
    received_at: str | None = None,
) -> str:
    """Normalize the event and settle its journal record; an event already settled is left alone."""
    if journal.is_settled(instance_id, event_id):
        logger.info("event already settled; nothing to do")
        return "already_settled"
    try:
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise InvalidEvent("the event payload is not a JSON object")
        event = normalize(
            event_type=event_type,
            instance_id=instance_id,
            event_id=event_id,
            payload=payload,
            our_app_id=our_app_id,
            received_at=received_at,
        )
    except EventIgnored as exc:
        journal.settle(instance_id, event_id, "ignored", event_type=event_type, reason=str(exc))
        logger.info("event ignored", extra={"reason": str(exc)})
        return "ignored"
    except (InvalidEvent, ValueError) as exc:
        journal.settle(instance_id, event_id, "failed", event_type=event_type, error=str(exc))
        logger.warning("event payload is not usable", extra={"error": str(exc)})
        return "failed"
    journal.settle(
        instance_id, event_id, "processed", event_type=event_type, normalized=event.model_dump(mode="json")
    )
    logger.info("event processed", extra={"event": event.name})
    return "processed"
