"""Erasing a member: every kind of their data goes, the instance's counts stay right, a rerun (also after a
crash between steps) ends the same, and later events do not bring their data back."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from tests import wix_samples
from tests.redis_dump import dump
from worker import keys
from worker.dev.programs import challenge, coupon, milestone, program
from worker.dispatch import FULFIL_REWARD
from worker.events.processing import process_event
from worker.loyalty.points_gate import park_earns
from worker.loyalty.points_rules import PointsEarn
from worker.members.erasure import erase_member, erased_counts, was_deleted
from worker.rewards.fulfilment import coupon_code
from worker.runtime.task_messages import build_task_message
from worker.store import audit_log, coupon_codes
from worker.store.dead_letters import DeadLetters
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore, update_json
from worker.sync.member_directory import (
    contact_for_email,
    contact_for_external_id,
    link_external_id,
    link_of,
)
from worker.sync.points import accept_inbound
from worker.wix.fake.payloads import EventOptions, build_payload

pytestmark = [pytest.mark.calendar, pytest.mark.both_stores]  # the clock is NOW, handed in: any day holds

INSTANCE = "inst-erase"
CONTACT = wix_samples.CONTACT_ID
OTHER = "7f3a1c2e-0000-4000-8000-0000000000aa"
EMAIL = "jane.erased@example.com"
EXTERNAL_ID = "ext-cust-4711"
OTHER_CODE = "RW-OTHERMEMBER1"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
PROGRAM = program(
    challenges=[
        challenge(
            "spend-50",
            "Spend $50",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[milestone("fifty", "Fifty spent", 50, coupon("10% off", 10, valid_days=14))],
        )
    ],
    rules=[{"on": "order_paid", "challenge": "spend-50", "activityId": "order_paid", "value": "order.total"}],
)
STEPS = [
    "start",
    "member-ids",
    "journal",
    "dead-letters",
    "points-waiting",
    "sync-outbox",
    "sync-inbound",
    "sync-mapping",
    "loyalty-account-copy",
    "points-caps",
    "jobs",
    "audit-log",
    "uid-sources",
    "reward-index",
    "coupon-codes",
    "members-set",
    "outbox-index",
    "member-keys",
]


def process(client: redis.Redis, event_type: str, payload: dict[str, Any]) -> str:
    return process_event(
        EventJournal(client, 3600),
        client,
        event_type=event_type,
        instance_id=INSTANCE,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
        claim_ttl_seconds=3600,
        now=NOW,
    )


def paid(event_id: str, order_id: str, contact: str = CONTACT, total: str = "30.00") -> dict[str, Any]:
    payload = copy.deepcopy(wix_samples.payment_status_updated(event_id))
    payload["eventTime"] = "2026-11-20T11:59:00Z"
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = order_id
    order["buyerInfo"]["contactId"] = contact
    order["buyerInfo"]["email"] = EMAIL if contact == CONTACT else "other@example.com"
    order["priceSummary"]["total"]["amount"] = total
    return payload


def contact_event(kind: str, event_id: str, contact: str = CONTACT, email: str = EMAIL) -> dict[str, Any]:
    payload = build_payload(f"wix.contacts.v4.contact_{kind}", EventOptions(contact_id=contact))
    payload["id"] = event_id
    entity = (payload.get("createdEvent") or {}).get("entity") or (payload.get("updatedEvent") or {}).get(
        "currentEntity"
    )
    if entity is not None:
        entity["primaryInfo"]["email"] = email
        entity["info"]["emails"] = {"items": [{"email": email, "primary": True}]}
    return payload


@dataclass
class Member:
    client: redis.Redis
    reward_id: str
    code: str
    queued_event: str


def given_a_member_with_everything(client: redis.Redis) -> Member:
    """Logs, progress, an issued coupon reward, the sync mapping, a cached account, owed tasks of every
    kind, a dead letter, a contact event and a not yet processed event in the journal; and another member."""
    ProgressStore(client).save_program(INSTANCE, PROGRAM)
    assert process(client, "wix.contacts.v4.contact_created", contact_event("created", "evt-created")) == (
        "processed"
    )
    link_external_id(client, INSTANCE, CONTACT, EXTERNAL_ID)
    assert process(client, ORDER_PAID, paid("evt-paid-1", "order-1")) == "processed"
    assert process(client, ORDER_PAID, paid("evt-paid-2", "order-2")) == "processed"
    assert (
        process(client, ORDER_PAID, paid("evt-other", "order-9", contact=OTHER, total="60.00")) == "processed"
    )
    store = ProgressStore(client)
    [reward_log] = store.member_reward_logs(INSTANCE, CONTACT)
    code = coupon_code(reward_log["id"])
    update_json(
        client,
        keys.member_reward(INSTANCE, CONTACT, reward_log["id"]),
        lambda log: {**log, "status": "issued", "couponCode": code},
    )
    coupon_codes.claim(client, INSTANCE, code, CONTACT, reward_log["id"])  # as issue_reward's MULTI does
    points = wix_samples.account_points_updated("evt-points")
    points["actionEvent"]["body"]["account"].update(contactId=CONTACT, memberId="mem-2")
    assert process(client, "wix.loyalty.v1.account_points_updated", points) == "processed"
    account = {"contactId": CONTACT, "memberId": "mem-1", "points": {"balance": 7}}
    client.set(keys.loyalty_account_copy(INSTANCE, CONTACT), json.dumps(account))
    client.hset(keys.points_member_used(INSTANCE, "0", "monthly:2026-11-01"), mapping={CONTACT: 40, OTHER: 9})
    # Kept by their Wix member id: the monthly message's Inbox conversation and marks.
    client.hset(
        keys.inbox_conversations(INSTANCE), mapping={"mem-1": "conv-1", "mem-2": "conv-2", "mem-x": "c3"}
    )
    client.hset(keys.monthly_messages_marks(INSTANCE, "2026-10"), mapping={"mem-1": "{}", "mem-x": "{}"})
    client.hset(keys.monthly_messages_marks(INSTANCE, "2026-11"), mapping={"mem-2": "{}", "mem-x": "{}"})
    park_earns(client, INSTANCE, [PointsEarn(CONTACT, 5, "wrw:checkout_completed:chk-1:0", "Order chk-1")])
    accept_inbound(
        client,
        webhook_id="msg_1",
        instance_id=INSTANCE,
        transaction_id="ext-tx-1",
        contact_id=CONTACT,
        amount=40,
        ttl_seconds=3600,
    )
    DeadLetters(client).park(
        task_id="task-1",
        task_name=FULFIL_REWARD,
        args=[],
        kwargs={"instance_id": INSTANCE, "reward_log_id": reward_log["id"]},
        queue="rewards",
        error="Wix said no",
        retries=5,
    )
    # A bootstrap job that could not tell whether it opened their account, and failed once naming them.
    client.hset(
        keys.job_record("job-1"),
        mapping={"instanceId": INSTANCE, "failures": json.dumps([f"contact {CONTACT}: Wix answered 500"])},
    )
    client.sadd(keys.job_unsure("job-1"), CONTACT, OTHER)
    [other_reward] = store.member_reward_logs(INSTANCE, OTHER)
    coupon_codes.claim(client, INSTANCE, OTHER_CODE, OTHER, other_reward["id"])
    DeadLetters(client).park(
        task_id="task-2",
        task_name=FULFIL_REWARD,
        args=[],
        kwargs={"instance_id": INSTANCE, "reward_log_id": other_reward["id"]},
        queue="rewards",
        error="Wix said no",
        retries=5,
    )
    # An event of theirs still queued: its journal record holds the task message (the raw payload).
    queued = paid("evt-queued", "order-3")
    _, message = build_task_message(
        "events.process_wix_event",
        {
            "event_type": ORDER_PAID,
            "instance_id": INSTANCE,
            "event_id": "evt-queued",
            "data": json.dumps(queued),
        },
        queue="events",
    )
    record = keys.event_record(INSTANCE, "evt-queued")
    client.hset(record, mapping={"status": "queued", "eventId": "evt-queued", "message": message})
    client.zadd(keys.QUEUED_EVENTS, {record: 1.0})
    audit_log.record(client, INSTANCE, "admin", "points_adjusted", {"contactId": CONTACT, "points": 5})
    audit_log.record(client, INSTANCE, "admin", "published", {"version": 1})
    for needle in (CONTACT, EMAIL, EXTERNAL_ID, code, "mem-1", "mem-2"):
        assert needle in dump(client)
    return Member(client, reward_log["id"], code, "evt-queued")


@pytest.fixture
def member(fake_store) -> Member:  # type: ignore[no-untyped-def]
    return given_a_member_with_everything(fake_store)


def assert_nothing_of_them_left(member: Member) -> None:
    client = member.client
    text = dump(client)
    for needle in (CONTACT, EMAIL, EXTERNAL_ID, member.code, "mem-1", "mem-2"):
        assert needle not in text
    assert client.hkeys(keys.inbox_conversations(INSTANCE)) == ["mem-x"]
    for month in ("2026-10", "2026-11"):
        assert client.hkeys(keys.monthly_messages_marks(INSTANCE, month)) == ["mem-x"]
    assert list(client.scan_iter(match=keys.member_pattern(INSTANCE, CONTACT))) == []
    assert client.hget(keys.reward_index(INSTANCE), member.reward_id) is None
    assert link_of(client, INSTANCE, CONTACT) is None
    assert contact_for_email(client, INSTANCE, EMAIL) is None
    assert contact_for_external_id(client, INSTANCE, EXTERNAL_ID) is None
    assert client.hlen(keys.points_waiting(INSTANCE)) == 0
    assert client.hlen(keys.sync_outbox(INSTANCE)) == 0
    assert client.hkeys(keys.DEAD_LETTERS) == ["task-2"]  # the other member's
    assert client.smembers(keys.job_unsure("job-1")) == {OTHER}
    assert json.loads(client.hget(keys.job_record("job-1"), "failures")) == ["[erased]"]  # type: ignore[arg-type]
    assert json.loads(client.get(keys.sync_inbound(INSTANCE, "ext-tx-1")))["status"] == "queued"  # type: ignore[arg-type]
    journal = EventJournal(client, 3600)
    for event_id in ("evt-created", "evt-paid-1", "evt-paid-2"):
        record = journal.get(INSTANCE, event_id)
        assert record is not None
        assert record["status"] == "processed" and record["erased"] == "true"
        assert "normalized" not in record
    assert journal.get(INSTANCE, "evt-paid-2")["logs"][0]["rewardLogIds"] == [member.reward_id]  # type: ignore[index]
    queued = journal.get(INSTANCE, member.queued_event)
    assert queued is not None and queued["status"] == "ignored" and "message" not in queued
    assert client.zscore(keys.QUEUED_EVENTS, keys.event_record(INSTANCE, member.queued_event)) is None
    entries = audit_log.recent(client, INSTANCE, 2)
    assert [(e["action"], e["details"]) for e in entries] == [
        ("published", {"version": 1}),
        ("points_adjusted", {"contactId": "[erased]", "points": 5}),
    ]


def assert_other_member_untouched(client: redis.Redis) -> None:
    store = ProgressStore(client)
    [reward_log] = store.member_reward_logs(INSTANCE, OTHER)
    assert store.reward_log(INSTANCE, reward_log["id"]) == reward_log
    assert client.sismember(keys.members(INSTANCE), OTHER)
    assert coupon_codes.owner(client, INSTANCE, OTHER_CODE) == coupon_codes.CodeOwner(OTHER, reward_log["id"])
    assert EventJournal(client, 3600).get(INSTANCE, "evt-other")["normalized"]["contactId"] == OTHER  # type: ignore[index]


EXPECTED_TALLY = {
    "members": 1,
    "logs": 2,
    "progressRecords": 1,
    "rewardLogs": 1,
    "rewardLogs.issued": 1,
    "coupons": 1,
}


class TestErasure:
    def test_every_kind_of_their_data_is_gone(self, member) -> None:
        """Logs, progress, reward logs and codes, index entries, mapping, cache, owed tasks: none left."""
        erase_member(member.client, INSTANCE, CONTACT)
        assert_nothing_of_them_left(member)

    def test_another_member_is_untouched(self, member) -> None:
        """Only the erased contact's data goes."""
        erase_member(member.client, INSTANCE, CONTACT)
        assert_other_member_untouched(member.client)

    def test_what_was_erased_is_answered_and_kept_as_counts(self, member) -> None:
        """The instance's counts (coupons issued among them) keep what the member had."""
        counts = erase_member(member.client, INSTANCE, CONTACT)
        assert {name: counts[name] for name in EXPECTED_TALLY} == EXPECTED_TALLY
        assert counts["journalRecords"] == 5  # created, two payments, points, the queued one
        assert counts["outboxIntents"] == 4  # fulfil + report, the parked earn, the inbound apply
        assert counts["syncMappings"] == 1 and counts["cachedAccounts"] == 1 and counts["deadLetters"] == 1
        assert counts["memberIdEntries"] == 4
        assert erased_counts(member.client, INSTANCE) == EXPECTED_TALLY

    def test_erasing_again_changes_nothing(self, member) -> None:
        """A second run finds nothing, answers zeros and adds nothing to the counts."""
        erase_member(member.client, INSTANCE, CONTACT)
        before = dump(member.client)
        again = erase_member(member.client, INSTANCE, CONTACT)
        assert not any(again.values())
        assert erased_counts(member.client, INSTANCE) == EXPECTED_TALLY
        assert re.sub(r'"erasedAt": "[^"]+"', "", dump(member.client)) == re.sub(
            r'"erasedAt": "[^"]+"', "", before
        )

    @pytest.mark.parametrize("step", STEPS)
    def test_a_crash_between_steps_then_a_rerun_ends_the_same(self, member, step) -> None:
        """Stopped after any step (as a killed worker would be), a rerun erases the rest; counted once."""

        class Killed(Exception):
            pass

        def crash(name: str) -> None:
            if name == step:
                raise Killed(name)

        with pytest.raises(Killed):
            erase_member(member.client, INSTANCE, CONTACT, after_step=crash)
        counts = erase_member(member.client, INSTANCE, CONTACT)
        assert {name: counts[name] for name in EXPECTED_TALLY} == EXPECTED_TALLY
        assert erased_counts(member.client, INSTANCE) == EXPECTED_TALLY
        assert_nothing_of_them_left(member)
        assert_other_member_untouched(member.client)
        assert list(member.client.scan_iter(match="wrw:erased:*:pending:*")) == []


class TestEvents:
    def test_contact_deleted_erases_and_its_record_names_no_one(self, member) -> None:
        """The webhook erases the member; its journal record has counts, not the contact."""
        assert process(
            member.client, "wix.contacts.v4.contact_deleted", contact_event("deleted", "evt-del")
        ) == ("processed")
        assert_nothing_of_them_left(member)
        record = EventJournal(member.client, 3600).get(INSTANCE, "evt-del")
        assert record is not None and record["status"] == "processed"
        assert "erased (contact deleted in Wix)" in record["reason"] and "coupons 1" in record["reason"]
        assert was_deleted(member.client, INSTANCE, CONTACT)

    def test_late_events_about_a_deleted_contact_bring_nothing_back(self, member) -> None:
        """A late update, a new payment event and a redelivery: ignored or skipped, nothing recorded."""
        client = member.client
        process(client, "wix.contacts.v4.contact_deleted", contact_event("deleted", "evt-del"))
        assert process(client, "wix.contacts.v4.contact_updated", contact_event("updated", "evt-late")) == (
            "ignored"
        )
        assert process(client, ORDER_PAID, paid("evt-late-pay", "order-4")) == "ignored"
        assert process(client, ORDER_PAID, paid("evt-paid-1", "order-1")) == "already_settled"
        assert process(client, "wix.contacts.v4.contact_deleted", contact_event("deleted", "evt-del")) == (
            "already_settled"
        )
        assert_nothing_of_them_left(member)
        assert erased_counts(client, INSTANCE) == EXPECTED_TALLY

    def test_an_anonymize_request_erases_and_records_nothing_from_itself(self, member) -> None:
        """An order event flagged `triggeredByAnonymizeRequest` erases the buyer; no log comes of it."""
        client = member.client
        flagged = paid("evt-anon", "order-5")
        flagged["triggeredByAnonymizeRequest"] = True
        assert process(client, ORDER_PAID, flagged) == "processed"
        assert_nothing_of_them_left(member)
        record = EventJournal(client, 3600).get(INSTANCE, "evt-anon")
        assert record is not None and "(anonymize request)" in record["reason"]
        assert not was_deleted(client, INSTANCE, CONTACT)

    def test_after_an_anonymize_request_old_events_stay_skipped_and_new_ones_count(self, member) -> None:
        """Redelivered old events are settled (skipped); a new payment is new data, recorded as usual."""
        client = member.client
        flagged = contact_event("updated", "evt-anon")
        flagged["triggeredByAnonymizeRequest"] = True
        assert process(client, "wix.contacts.v4.contact_updated", flagged) == "processed"
        assert process(client, ORDER_PAID, paid("evt-paid-1", "order-1")) == "already_settled"
        assert list(client.scan_iter(match=keys.member_pattern(INSTANCE, CONTACT))) == []
        assert process(client, ORDER_PAID, paid("evt-new", "order-6")) == "processed"
        state = ProgressStore(client).member_state(INSTANCE, CONTACT, "challenge", "spend-50")
        assert [log.uniqueIdentifier for log in state.logs] == [
            "wix:order:order-6:order_paid:challenge:spend-50"
        ]

    def test_an_anonymize_request_of_a_type_we_do_not_handle_reaches_the_worker_and_erases(
        self, member
    ) -> None:
        """`order_updated` is not handled, but flagged it is queued and erases the order's buyer."""
        from worker.wix.envelope import parse_envelope

        flagged = build_payload(
            "wix.ecom.v1.order_updated", EventOptions(order_id="order-1", contact_id=CONTACT)
        )
        flagged["triggeredByAnonymizeRequest"] = True
        claims = {
            "data": json.dumps(
                {"eventType": "wix.ecom.v1.order_updated", "instanceId": INSTANCE, "data": flagged}
            )
        }
        assert parse_envelope(claims, b"t").handled
        plain = {**flagged, "triggeredByAnonymizeRequest": False}
        claims["data"] = json.dumps(
            {"eventType": "wix.ecom.v1.order_updated", "instanceId": INSTANCE, "data": plain}
        )
        assert not parse_envelope(claims, b"t").handled
        assert process(member.client, "wix.ecom.v1.order_updated", flagged) == "processed"
        assert_nothing_of_them_left(member)

    def test_an_anonymize_request_naming_no_contact_is_ignored(self, fake_store) -> None:
        """Nothing to key an erasure on: the event is settled `ignored`, nothing recorded from it."""
        ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
        flagged = build_payload("wix.ecom.v1.fulfillments_updated", EventOptions(order_id="order-7"))
        flagged["triggeredByAnonymizeRequest"] = True
        assert process(fake_store, "wix.ecom.v1.fulfillments_updated", flagged) == "ignored"
        assert fake_store.hget(keys.event_record(INSTANCE, flagged["id"]), "reason").startswith(
            "anonymize request naming no contact"
        )


class TestByHand:
    def test_the_cli_erases_and_prints_the_counts(self, member, monkeypatch, capsys) -> None:
        """`python -m worker members erase --instance --contact`: the member is gone, counts printed."""
        from worker import cli
        from worker.infra import redis_client

        monkeypatch.setenv("REDIS_URL", "redis://unused")
        monkeypatch.setattr(redis_client, "store_client", lambda settings, **options: member.client)
        assert cli.main(["members", "erase", "--instance", INSTANCE, "--contact", CONTACT]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["erased"]["coupons"] == 1 and CONTACT not in json.dumps(printed)
        assert_nothing_of_them_left(member)

    def test_the_cli_refuses_an_id_that_could_break_out_of_its_key(self, member, capsys) -> None:
        """A brace in the contact id: exit 2 with the reason, nothing erased."""
        from worker import cli

        assert cli.main(["members", "erase", "--instance", INSTANCE, "--contact", "x}:uid:y"]) == 2
        assert "must not contain" in capsys.readouterr().err
        assert ProgressStore(member.client).member_reward_logs(INSTANCE, CONTACT)

    def test_the_admin_route_erases_and_answers_counts(self, member, fake_async, public_key_pem) -> None:
        """DELETE .../members/{contactId}: 200 with counts; again: 200 with nothing left to erase."""
        client = admin_client(member.client, fake_async, public_key_pem)
        url = f"/admin/v1/instances/{INSTANCE}/members/{CONTACT}"
        assert client.delete(url).status_code == 401
        answer = client.delete(url, headers=ADMIN)
        assert answer.status_code == 200
        assert answer.json()["erased"]["rewardLogs"] == 1 and CONTACT not in answer.text
        assert_nothing_of_them_left(member)
        again = client.delete(url, headers=ADMIN)
        assert again.status_code == 200 and not any(again.json()["erased"].values())

    @pytest.mark.parametrize("path", ["bad%20instance!/members/c1", "inst-1/members/x%7Dy"])
    def test_the_admin_route_answers_422_for_a_bad_id(
        self, path, fake_store, fake_async, public_key_pem
    ) -> None:
        """An instance id outside its pattern, a contact id with a brace: 422 JSON, nothing written."""
        client = admin_client(fake_store, fake_async, public_key_pem)
        answer = client.delete(f"/admin/v1/instances/{path}", headers=ADMIN)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"]
        assert list(fake_store.scan_iter()) == []


ADMIN = {"authorization": "Bearer admin-secret"}


def admin_client(store: Any, async_redis: Any, public_key_pem: str) -> Any:
    from fastapi.testclient import TestClient

    from worker.dispatch import RecordedDispatcher
    from worker.settings import Settings
    from worker.web.app import create_app

    settings = Settings(
        redis_url="redis://unused", wix_public_key=public_key_pem, admin_token="admin-secret", _env_file=None
    )  # type: ignore[call-arg]
    app = create_app(settings, async_redis=async_redis, store=store, follow_ups=RecordedDispatcher())
    return TestClient(app)
