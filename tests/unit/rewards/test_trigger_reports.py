"""The automation triggers: each reported once, with Wix's idempotency key, a GUID entity id and a payload
that follows its definition in wix-app/triggers/ (what a self-hoster registers in Wix)."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from tests import wix_samples
from worker import keys
from worker.dev.programs import challenge, coupon, milestone, program, streak
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.loyalty.points_rules import PointsEarn
from worker.rewards.automation_triggers import (
    MILESTONE_ACHIEVED,
    REWARD_EXPIRING,
    REWARD_ISSUED,
    TRIGGER_KEYS,
    external_entity_id,
    idempotency_key,
    report_event,
    report_points_earned,
    trigger_payload,
)
from worker.rewards.follow_ups import issue_and_follow_up, record_and_follow_up
from worker.rewards.trigger_schemas import trigger_definition, trigger_keys, trigger_payload_schema
from worker.store import instances, outbox
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-triggers"
CONTACT = wix_samples.CONTACT_ID
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PROGRAM = program(
    streaks=[
        streak(
            "weekly-shopper",
            "Weekly shopper",
            period="weekly",
            milestones=[milestone("two", "Two weeks", 2, coupon("5% off", 5, valid_days=30))],
        )
    ],
    challenges=[
        challenge(
            "spend-50",
            "Spend $50",
            method="sum",
            period="monthly",
            completion=50,
            milestones=[milestone("fifty", "Fifty", 50, coupon("10% off", 10))],
        )
    ],
    rules=[{"on": "order_paid", "challenge": "spend-50", "activityId": "order_paid", "value": "order.total"}],
)


def valid(trigger_key: str, payload: dict[str, Any]) -> None:
    """The payload follows its trigger's schema, formats (uuid, date-time) included."""
    jsonschema.Draft7Validator(
        trigger_payload_schema(trigger_key), format_checker=jsonschema.FormatChecker()
    ).validate(payload)


def reports(dispatcher: RecordedDispatcher) -> list[dict[str, Any]]:
    """The `rewards.report_event` tasks sent, by their kwargs."""
    return [kwargs for task, kwargs, _ in dispatcher.resent if task == "rewards.report_event"]


def process(fake_store: Any, event_type: str, payload: dict[str, Any], follow_ups: RecordedDispatcher) -> str:
    return process_event(
        EventJournal(fake_store, 3600), fake_store, event_type=event_type, instance_id=INSTANCE,
        event_id=payload["id"], data=json.dumps(payload), our_app_id="ours", claim_ttl_seconds=3600,
        now=NOW, follow_ups=follow_ups,
        order_lookup=lambda _instance, order_id: {**wix_samples._ORDER, "id": order_id,
                                                  "fulfillmentStatus": "FULFILLED"},
    )  # fmt: skip


class TestDefinitions:
    """wix-app/triggers/{key}.json follow Wix's rules for a payload schema (wix-facts.md §5.2)."""

    def test_every_trigger_the_service_reports_has_a_definition_and_no_other(self) -> None:
        assert trigger_keys() == sorted(TRIGGER_KEYS)
        for key in TRIGGER_KEYS:
            definition = trigger_definition(key)
            assert definition["triggerKey"] == key
            assert definition["name"] and definition["description"]

    @pytest.mark.parametrize("key", TRIGGER_KEYS)
    def test_the_payload_schema_follows_wixs_rules(self, key: str) -> None:
        """Draft-07, an object root, keys [A-Za-z0-9_] not starting with _, title/type/examples on each
        first-level property, one contactId (uuid, connected to the contact), times as date-time."""
        schema = trigger_payload_schema(key)
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert schema["type"] == "object"
        properties = schema["properties"]
        for name, spec in properties.items():
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]*", name), name
            assert {"title", "type", "examples"} <= set(spec), name
            assert spec["type"] != "array" or spec["items"]["type"] == "object", name
            if name.endswith("At"):
                assert spec["format"] == "date-time", name
            for example in spec["examples"]:
                valid_example = {**{n: s["examples"][0] for n, s in properties.items()}, name: example}
                valid(key, valid_example)
        uuids = [name for name, spec in properties.items() if spec.get("format") == "uuid"]
        assert uuids == ["contactId"]
        assert properties["contactId"]["identityType"] == "contact"
        assert "contactId" in schema["required"]

    def test_an_unknown_trigger_has_no_definition(self) -> None:
        with pytest.raises(FileNotFoundError):
            trigger_payload_schema("../actions/x")


class TestWixKeys:
    def test_the_idempotency_key_is_deterministic_and_at_most_80_characters(self) -> None:
        """Short entities read as they are; a long one becomes a digest, the same each time."""
        assert idempotency_key("order_paid", "order:abc") == "order_paid:order:abc"
        long = idempotency_key("points_earned", "wrw:checkout_completed:" + "x" * 100 + ":0")
        assert len(long) <= 80
        assert long == idempotency_key("points_earned", "wrw:checkout_completed:" + "x" * 100 + ":0")
        assert long != idempotency_key("points_earned", "wrw:checkout_completed:" + "y" * 100 + ":0")

    def test_the_external_entity_id_is_a_guid_of_the_entity(self) -> None:
        assert uuid.UUID(external_entity_id("order:abc")) == uuid.UUID(external_entity_id("order:abc"))
        assert external_entity_id("order:abc") != external_entity_id("order:abd")


class TestOrderTriggers:
    def test_a_paid_order_reports_order_paid_with_the_buyer_and_the_order(self, fake_store) -> None:
        """Payload: contactId, orderId, orderNumber, total, currency and when it was paid."""
        follow_ups = RecordedDispatcher()
        payload = wix_samples.payment_status_updated()
        process(fake_store, "wix.ecom.v1.order_payment_status_updated", payload, follow_ups)
        [report] = reports(follow_ups)
        assert report["trigger_key"] == "order_paid"
        assert report["payload"] == {
            "contactId": CONTACT,
            "orderId": wix_samples.ORDER_ID,
            "orderNumber": "10002",
            "total": 10,
            "currency": "USD",
            "paidAt": "2022-12-21T13:37:43.471496Z",
        }
        valid("order_paid", report["payload"])

    def test_a_redelivered_or_second_webhook_about_the_order_reports_nothing_more(self, fake_store) -> None:
        """The same payment in another webhook (another event id) finds the order decided: no new report,
        and once the first was taken by its task, nothing is sent again."""
        follow_ups = RecordedDispatcher()
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(event_id=str(uuid.uuid4())), follow_ups)  # fmt: skip
        [first] = reports(follow_ups)
        outbox.take(fake_store, keys.member_outbox(INSTANCE, CONTACT), f"event:order_paid:{first['entity']}")
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(event_id=str(uuid.uuid4())), follow_ups)  # fmt: skip
        assert reports(follow_ups) == [first]

    def test_a_redelivery_before_the_report_was_taken_sends_the_same_report_again(self, fake_store) -> None:
        """Its message may be lost: the redelivery sends the intent again, identical (Wix's key dedupes)."""
        follow_ups = RecordedDispatcher()
        payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        process(fake_store, "wix.ecom.v1.order_payment_status_updated", payload, follow_ups)
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(event_id=str(uuid.uuid4())), follow_ups)  # fmt: skip
        first, again = reports(follow_ups)
        assert first == again

    def test_a_fulfilled_order_reports_order_fulfilled_once_whichever_webhook_says_it(
        self, fake_store
    ) -> None:
        """Two fulfilment webhooks for one order: one order_fulfilled, the buyer from the order looked up."""
        follow_ups = RecordedDispatcher()
        for _ in range(2):
            process(fake_store, "wix.ecom.v1.fulfillments_updated",
                    wix_samples.fulfillments_updated(event_id=str(uuid.uuid4())), follow_ups)  # fmt: skip
            outbox_key = keys.member_outbox(INSTANCE, CONTACT)
            for field in list(fake_store.hkeys(outbox_key)):
                outbox.take(fake_store, outbox_key, field)
        [report] = reports(follow_ups)
        assert report["trigger_key"] == "order_fulfilled"
        assert report["payload"]["contactId"] == CONTACT
        assert report["payload"]["orderId"] == "1241d17c-82e1-4a6d-9fae-bd6d2a8073e5"
        valid("order_fulfilled", report["payload"])

    def test_an_order_without_a_program_is_still_reported(self, fake_store) -> None:
        """A merchant may use only Wix's automations: the trigger does not wait for a program."""
        follow_ups = RecordedDispatcher()
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(), follow_ups)  # fmt: skip
        assert [r["trigger_key"] for r in reports(follow_ups)] == ["order_paid"]


class RecordingWix:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def report_trigger_event(
        self, instance_id: str, trigger_key: str, payload: dict[str, Any], **kw: Any
    ) -> list[str]:
        self.calls.append({"trigger": trigger_key, "payload": dict(payload), **kw})
        return ["activation-1"]


class TestRewardTriggers:
    def _reward_log(self, fake_store: Any) -> dict[str, Any]:
        from worker.progress.record import ActivityRequest

        ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
        activity = ActivityRequest("challenge", "spend-50", CONTACT, "order_paid", 60, NOW, "o-1")
        outcome = record_and_follow_up(fake_store, RecordedDispatcher(), INSTANCE, activity, NOW)
        [reward_log] = outcome.reward_logs
        return reward_log

    def test_milestone_achieved_and_reward_issued_payloads_follow_their_schemas(self, fake_store) -> None:
        """Pending (no coupon, no times) and issued (a coupon and both times) both validate."""
        reward_log = self._reward_log(fake_store)
        valid(MILESTONE_ACHIEVED, trigger_payload(reward_log))
        assert trigger_payload(reward_log)["contactId"] == CONTACT
        issued, _ = issue_and_follow_up(
            fake_store, RecordedDispatcher(), INSTANCE, reward_log["id"], coupon_code="WIX-1",
            issued_at=NOW, expiry_at=NOW + timedelta(days=30), now=NOW,
        )  # fmt: skip
        for key in (REWARD_ISSUED, REWARD_EXPIRING):
            valid(key, trigger_payload(issued))
        assert trigger_payload(issued)["couponCode"] == "WIX-1"

    def test_update_reward_log_reports_reward_issued_once(self, fake_store) -> None:
        """Issued through the action or the API: reward_issued is sent, its intent committed with the
        issue; the same update again (a retried automation) sends nothing new once it was taken."""
        reward_log = self._reward_log(fake_store)
        follow_ups = RecordedDispatcher()
        update = {"coupon_code": "WIX-1", "issued_at": NOW, "expiry_at": NOW + timedelta(days=30), "now": NOW}
        _, changed = issue_and_follow_up(fake_store, follow_ups, INSTANCE, reward_log["id"], **update)
        assert changed
        assert follow_ups.reports == [(INSTANCE, REWARD_ISSUED, reward_log["id"])]
        pending = outbox.pending(
            fake_store, keys.member_outbox(INSTANCE, CONTACT), [f"report:reward_issued:{reward_log['id']}"]
        )
        assert len(pending) == 1  # committed with the issue: the relay sends it if this send was lost
        outbox.take(
            fake_store, keys.member_outbox(INSTANCE, CONTACT), f"report:reward_issued:{reward_log['id']}"
        )
        _, changed = issue_and_follow_up(fake_store, follow_ups, INSTANCE, reward_log["id"], **update)
        assert not changed
        assert follow_ups.reports == [(INSTANCE, REWARD_ISSUED, reward_log["id"])]
        assert follow_ups.resent == []

    def test_the_report_carries_wixs_keys(self, fake_store) -> None:
        """The idempotency key and entity id Wix gets are derived from the entity, the same every time."""
        wix = RecordingWix()
        report_event(wix, INSTANCE, "order_paid", "order:o-1", {"contactId": CONTACT})  # type: ignore[arg-type]
        report_event(wix, INSTANCE, "order_paid", "order:o-1", {"contactId": CONTACT})  # type: ignore[arg-type]
        first, second = wix.calls
        assert first == second
        assert first["idempotency_key"] == "order_paid:order:o-1"
        assert uuid.UUID(first["external_entity_id"])


class TestPointsEarned:
    def test_reported_once_per_earn_with_a_valid_payload(self, fake_store) -> None:
        """The earn task run twice (a redelivery after Wix earned) decides points_earned once."""
        follow_ups = RecordedDispatcher()
        earn = PointsEarn(CONTACT, 6, "wrw:checkout_completed:" + str(uuid.uuid4()) + ":0", "6 points for 60")
        assert report_points_earned(fake_store, follow_ups, INSTANCE, earn, NOW)
        outbox.take(
            fake_store, keys.member_outbox(INSTANCE, CONTACT), f"event:points_earned:{earn.idempotency_key}"
        )
        assert not report_points_earned(fake_store, follow_ups, INSTANCE, earn, NOW + timedelta(seconds=5))
        [report] = reports(follow_ups)
        assert report["payload"] == {
            "contactId": CONTACT,
            "points": 6,
            "description": "6 points for 60",
            "earnedAt": "2026-11-20T12:00:00Z",
        }
        valid("points_earned", report["payload"])


class TestCrashBetweenDecisionAndReport:
    def test_a_decision_whose_send_never_happened_is_relayed_exactly_once(self, fake_store) -> None:
        """The process dies after the decision (the send never happens): the relay sends the intent,
        a redelivered webhook does not decide again, and once the task took it nothing is left."""
        instances.record_installed(fake_store, INSTANCE, datetime.now(UTC))  # a site we know: no install
        lost = RecordedDispatcher()
        lost.resend = lambda *args: (_ for _ in ()).throw(ConnectionError("broker down"))  # type: ignore[method-assign]
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(event_id=str(uuid.uuid4())), lost)  # fmt: skip
        relayed = RecordedDispatcher()
        later = time.time() + outbox.RESEND_AFTER_SECONDS + 1
        assert outbox.relay(fake_store, relayed.resend, later) == 1
        [(task, kwargs, _)] = relayed.resent
        assert (task, kwargs["trigger_key"]) == ("rewards.report_event", "order_paid")
        outbox.take(fake_store, keys.member_outbox(INSTANCE, CONTACT), f"event:order_paid:{kwargs['entity']}")
        again = RecordedDispatcher()
        process(fake_store, "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(event_id=str(uuid.uuid4())), again)  # fmt: skip
        assert reports(again) == []
        assert outbox.relay(fake_store, relayed.resend, later + 10 * outbox.RESEND_MAX_SECONDS) == 0
