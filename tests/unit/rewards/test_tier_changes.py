"""`tier_changed`: seen in the loyalty account webhooks the worker handles, decided once per change, its
payload (with the tier names read when it is sent) following wix-app/triggers/tier_changed.json."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from tests import wix_samples
from worker import keys
from worker.dispatch import REPORT_TIER_CHANGED, RecordedDispatcher
from worker.events.processing import process_event
from worker.rewards.automation_triggers import TIER_CHANGED, external_entity_id, idempotency_key
from worker.rewards.tier_changes import report_tier_changed
from worker.rewards.trigger_schemas import trigger_payload_schema
from worker.store import instances, outbox
from worker.store.journal import EventJournal

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-tier-changes"
CONTACT = "87bbd811-0000-4000-8000-000000000000"
SILVER, GOLD = "9b0e2f4c-0000-4000-8000-000000000001", "9b0e2f4c-0000-4000-8000-000000000002"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PROGRAM = {
    "tiers": [
        {"id": SILVER, "tierDefinition": {"name": "Silver"}, "requiredPoints": 100},
        {"id": GOLD, "tierDefinition": {"name": "Gold"}, "requiredPoints": 300},
    ],
    "programSettings": {"status": "ACTIVE", "baseTierDefinition": {"name": "Bronze"}},
}


def account_event(revision: int, tier: dict[str, Any] | None) -> dict[str, Any]:
    """Wix's account_points_updated example with the account at `revision` in `tier` (None: no tiers)."""
    payload = wix_samples.account_points_updated(event_id=str(uuid.uuid4()))
    account = payload["actionEvent"]["body"]["account"]
    account.pop("latestTransaction")  # no published build has it (wix-facts.md §8)
    account["revision"] = str(revision)
    payload["eventTime"] = "2026-11-20T12:00:00.000Z"  # when Wix says the tier changed
    if tier is not None:
        account["tier"] = tier
    return payload


def process(store: Any, payload: dict[str, Any], follow_ups: RecordedDispatcher) -> str:
    return process_event(
        EventJournal(store, 3600), store, event_type="wix.loyalty.v1.account_points_updated",
        instance_id=INSTANCE, event_id=payload["id"], data=json.dumps(payload), our_app_id="ours",
        claim_ttl_seconds=3600, now=NOW, follow_ups=follow_ups,
    )  # fmt: skip


def tier_reports(follow_ups: RecordedDispatcher) -> list[dict[str, Any]]:
    return [kwargs for task, kwargs, _ in follow_ups.resent if task == REPORT_TIER_CHANGED]


class RecordingWix:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_tiers_program(self, instance_id: str) -> dict[str, Any]:
        return PROGRAM

    def report_trigger_event(self, instance_id: str, trigger_key: str, payload: Any, **kw: Any) -> list[str]:
        self.calls.append({"trigger": trigger_key, "payload": dict(payload), **kw})
        return ["activation-1"]


class TestTierChanged:
    def test_points_that_move_a_member_up_report_one_change_however_often_told(self, fake_store) -> None:
        """Silver at revision 4, delivered twice and by a second webhook after the report task took it: one
        report, base → Silver."""
        instances.record_installed(fake_store, INSTANCE, NOW)
        follow_ups = RecordedDispatcher()
        event = account_event(4, {"id": SILVER, "points": 150})
        assert process(fake_store, event, follow_ups) == "processed"
        outbox.take(fake_store, keys.member_outbox(INSTANCE, CONTACT), f"event:tier_changed:tier:{CONTACT}:4")
        assert process(fake_store, event, follow_ups) == "already_settled"
        process(fake_store, {**event, "id": str(uuid.uuid4())}, follow_ups)  # the change, another webhook
        [report] = tier_reports(follow_ups)
        assert report == {
            "instance_id": INSTANCE,
            "contact_id": CONTACT,
            "entity": f"tier:{CONTACT}:4",
            "previous_tier_id": None,
            "tier_id": SILVER,
            "tier_points": 150,
            "changed_at": "2026-11-20T12:00:00Z",
        }

    def test_a_late_older_event_and_points_within_the_tier_report_nothing(self, fake_store) -> None:
        instances.record_installed(fake_store, INSTANCE, NOW)
        follow_ups = RecordedDispatcher()
        process(fake_store, account_event(6, {"id": GOLD, "points": 320}), follow_ups)
        process(fake_store, account_event(4, {"id": SILVER, "points": 150}), follow_ups)  # late
        process(fake_store, account_event(7, {"id": GOLD, "points": 340}), follow_ups)
        assert [(r["previous_tier_id"], r["tier_id"]) for r in tier_reports(follow_ups)] == [(None, GOLD)]

    def test_a_site_without_tiers_reports_nothing(self, fake_store) -> None:
        instances.record_installed(fake_store, INSTANCE, NOW)
        follow_ups = RecordedDispatcher()
        assert process(fake_store, account_event(4, None), follow_ups) == "processed"
        assert tier_reports(follow_ups) == []

    def test_the_report_names_the_tiers_and_follows_its_schema(self, fake_store) -> None:
        """Sent: Wix's keys for the change, the names from the tiers program, direction up."""
        wix = RecordingWix()
        entity = f"tier:{CONTACT}:4"
        report_tier_changed(
            wix, fake_store, instance_id=INSTANCE, contact_id=CONTACT, entity=entity,  # type: ignore[arg-type]
            previous_tier_id=SILVER, tier_id=GOLD, tier_points=320, changed_at="2026-11-20T12:00:00Z",
        )  # fmt: skip
        [call] = wix.calls
        assert call["payload"] == {
            "contactId": CONTACT,
            "previousTierId": SILVER,
            "previousTierName": "Silver",
            "tierId": GOLD,
            "tierName": "Gold",
            "direction": "up",
            "tierPoints": 320,
            "changedAt": "2026-11-20T12:00:00Z",
        }
        assert call["idempotency_key"] == idempotency_key(TIER_CHANGED, entity)
        assert call["external_entity_id"] == external_entity_id(entity)
        jsonschema.Draft7Validator(
            trigger_payload_schema(TIER_CHANGED), format_checker=jsonschema.FormatChecker()
        ).validate(call["payload"])
