"""`tier_changed`: the member's Wix loyalty tier changed, reported to Wix automations once per change.

The change is seen in a loyalty account webhook (worker/loyalty/tiers.py keeps the last tier per member,
atomically, by account revision); the report is decided once per change (the member and the revision
at the change are its entity, worker/store/trigger_marks.py) and sent through the member's outbox. The
tier names are read from Wix's tiers program when the report is sent (`report_tier_changed`, the
`rewards.report_tier_changed` task), so processing the webhook makes no Wix call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis

from worker.dispatch import REPORT_TIER_CHANGED, Dispatcher, queue_of
from worker.engine.timestamps import utc_stamp
from worker.loyalty.tiers import TierChange, observe_tier
from worker.progress.tiers import cached_tiers_program, required_points, tier_name
from worker.rewards.automation_triggers import TIER_CHANGED, report_event, report_once
from worker.store import outbox, trigger_marks
from worker.wix.client import WixClient
from worker.wix.events import NormalizedEvent


def tier_changed_intent(
    instance_id: str, change: TierChange, points: int | None, at: datetime
) -> outbox.Intent:
    """The `rewards.report_tier_changed` task for one change (the ids now, the names when sent)."""
    return outbox.Intent(
        trigger_marks.event_intent_id(TIER_CHANGED, change.entity),
        REPORT_TIER_CHANGED,
        {
            "instance_id": instance_id,
            "contact_id": change.contact_id,
            "entity": change.entity,
            "previous_tier_id": change.previous,
            "tier_id": change.current,
            "tier_points": points or 0,
            "changed_at": utc_stamp(at),
        },
        queue_of(REPORT_TIER_CHANGED),
    )


def follow_tier(client: redis.Redis, follow_ups: Dispatcher, event: NormalizedEvent) -> bool:
    """Keep the member's tier from a loyalty account event and report `tier_changed` once when it moved;
    nothing for an event without a tier (the site has no ACTIVE tiers) or without a contact. True when
    a report was decided now."""
    account = event.account
    if account is None or account.tier is None or not account.contactId:
        return False
    change = observe_tier(client, event.instanceId, account.contactId, account.tier.id, account.revision)
    if change is None:
        return False
    intent = tier_changed_intent(event.instanceId, change, account.tier.points, event.occurredAt)
    return report_once(
        client, follow_ups, event.instanceId, change.contact_id, TIER_CHANGED, change.entity, intent
    )


def tier_changed_payload(
    program: dict[str, Any] | None,
    *,
    contact_id: str,
    previous_tier_id: str | None,
    tier_id: str | None,
    tier_points: int,
    changed_at: str,
) -> dict[str, Any]:
    """The payload (wix-app/triggers/tier_changed.json): ids ("" for the base tier), names, the direction."""
    up = required_points(program, tier_id) >= required_points(program, previous_tier_id)
    return {
        "contactId": contact_id,
        "previousTierId": previous_tier_id or "",
        "previousTierName": tier_name(program, previous_tier_id),
        "tierId": tier_id or "",
        "tierName": tier_name(program, tier_id),
        "direction": "up" if up else "down",
        "tierPoints": tier_points,
        "changedAt": changed_at,
    }


def report_tier_changed(
    wix: WixClient,
    cache: redis.Redis,
    *,
    instance_id: str,
    contact_id: str,
    entity: str,
    previous_tier_id: str | None,
    tier_id: str | None,
    tier_points: int,
    changed_at: str,
) -> list[str]:
    """Read the tier names (the site's tiers program, kept briefly) and report the change to Wix."""
    payload = tier_changed_payload(
        cached_tiers_program(wix, instance_id, cache),
        contact_id=contact_id,
        previous_tier_id=previous_tier_id,
        tier_id=tier_id,
        tier_points=tier_points,
        changed_at=changed_at,
    )
    return report_event(wix, instance_id, TIER_CHANGED, entity, payload)
