"""The Members page's domain (worker/console/members.py): finding a member, and each action done once
for its form's action id (a double click or a resubmission changes nothing more), audited, and refused
with a clear 4xx when its input is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from worker import keys
from worker.console import members
from worker.console.sessions import Refused
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import APPLY_EXTERNAL_POINTS, RecordedDispatcher
from worker.store import audit_log
from worker.store.member_status import status_of
from worker.store.progress import ProgressStore
from worker.sync.member_directory import record_contact

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

SITE = "site-a"
CONTACT = "c-1"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def client(fake_store: Any) -> Any:
    ProgressStore(fake_store).save_program(SITE, BASE_PROGRAM)
    record_contact(fake_store, SITE, CONTACT, "Jane@Example.com")
    return fake_store


def form(action_id: str = "A" * 24, **fields: str) -> dict[str, str]:
    return {"action_id": action_id, **fields}


def actions(client: Any) -> list[str]:
    """The member actions in the audit log, newest first (saving the programme wrote its own entry)."""
    return [e["action"] for e in audit_log.recent(client, SITE) if e["action"].startswith("member_")]


class TestFind:
    def test_by_email_whatever_its_case_or_by_contact_id(self, client) -> None:
        assert members.find(client, SITE, " jane@EXAMPLE.com ").contact_id == CONTACT
        assert members.find(client, SITE, CONTACT).contact_id == CONTACT

    def test_no_such_member_says_so(self, client) -> None:
        found = members.find(client, SITE, "nobody@example.com")
        assert found.contact_id is None and "No such member" in found.message
        assert "No such member" in members.find(client, "site-b", CONTACT).message  # another site's
        assert "No such member" in members.find(client, SITE, "c}:uid:x").message  # never reaches a key

    def test_an_id_that_cannot_stand_in_a_key_is_a_404(self, client) -> None:
        with pytest.raises(Refused) as refused:
            members.checked_member(client, SITE, "c-1}:rewards")
        assert refused.value.status == 404


class TestGrant:
    def test_the_same_form_twice_grants_once_and_is_audited_once(self, client) -> None:
        follow_ups = RecordedDispatcher()
        chosen = form(milestone="streak:weekly-shopper:two-weeks")
        first = members.grant(client, follow_ups, SITE, CONTACT, chosen, "jane", NOW)
        again = members.grant(client, follow_ups, SITE, CONTACT, chosen, "jane", NOW)
        assert "Granted" in first.notice and "already" in again.notice
        (reward_log,) = ProgressStore(client).member_reward_logs(SITE, CONTACT)
        assert reward_log["milestoneId"] == "two-weeks" and reward_log["grantedBy"] == "jane"
        assert reward_log["reward"]["type"] == "coupon" and reward_log["status"] == "pending"
        assert follow_ups.sent == [(SITE, reward_log["id"])]  # fulfilment sent once
        assert actions(client) == ["member_reward_granted"]
        # the outbox holds the fulfilment, should the send be lost
        assert f"fulfil:{reward_log['id']}" in client.hgetall(keys.member_outbox(SITE, CONTACT))

    def test_another_form_grants_another_reward(self, client) -> None:
        follow_ups = RecordedDispatcher()
        for action_id in ("A" * 24, "B" * 24):
            members.grant(
                client,
                follow_ups,
                SITE,
                CONTACT,
                form(action_id, milestone="challenge:spend-500:half"),
                "j",
                NOW,
            )
        assert len(ProgressStore(client).member_reward_logs(SITE, CONTACT)) == 2

    def test_an_unknown_milestone_or_a_missing_action_id_is_a_400(self, client) -> None:
        follow_ups = RecordedDispatcher()
        for bad in (
            form(milestone="streak:weekly-shopper:nope"),
            {"milestone": "streak:weekly-shopper:two-weeks"},
        ):
            with pytest.raises(Refused) as refused:
                members.grant(client, follow_ups, SITE, CONTACT, bad, "j", NOW)
            assert refused.value.status == 400
        assert ProgressStore(client).member_reward_logs(SITE, CONTACT) == [] and actions(client) == []


class TestSendAgain:
    def test_a_failed_reward_is_sent_again_once(self, client) -> None:
        """Through worker/rewards/resend.py: flipped to pending and sent once, audited once."""
        follow_ups = RecordedDispatcher()
        chosen = form(milestone="streak:weekly-shopper:two-weeks")
        members.grant(client, follow_ups, SITE, CONTACT, chosen, "j", NOW)
        (reward_log,) = ProgressStore(client).member_reward_logs(SITE, CONTACT)
        key = keys.member_reward(SITE, CONTACT, reward_log["id"])
        client.set(key, json.dumps({**reward_log, "status": "failed", "error": "Wix refused"}))
        resend = form("R" * 24, reward_log_id=reward_log["id"])
        again = RecordedDispatcher()
        assert "Sent again" in members.send_again(client, again, SITE, CONTACT, resend, "j").notice
        assert "Nothing sent" in members.send_again(client, again, SITE, CONTACT, resend, "j").notice
        assert again.sent == [(SITE, reward_log["id"])]
        assert ProgressStore(client).member_reward_logs(SITE, CONTACT)[0]["status"] == "pending"
        audit = [entry["action"] for entry in audit_log.recent(client, SITE)]
        assert audit.count("reward_sent_again") == 1

    def test_another_members_reward_log_is_not_found(self, client) -> None:
        follow_ups = RecordedDispatcher()
        chosen = form(milestone="streak:weekly-shopper:two-weeks")
        members.grant(client, follow_ups, SITE, CONTACT, chosen, "j", NOW)
        (reward_log,) = ProgressStore(client).member_reward_logs(SITE, CONTACT)
        record_contact(client, SITE, "c-2", None)
        for contact_id, reward_log_id in (("c-2", reward_log["id"]), (CONTACT, "rl_{x}")):
            with pytest.raises(Refused) as refused:
                members.send_again(
                    client, follow_ups, SITE, contact_id, form(reward_log_id=reward_log_id), "j"
                )
            assert refused.value.status == 404


class TestAdjustPoints:
    def test_the_same_form_twice_queues_one_wix_change(self, client) -> None:
        follow_ups = RecordedDispatcher()
        posted = form(amount="-20", reason="Goodwill correction")
        first = members.adjust_points(client, follow_ups, SITE, CONTACT, posted, "jane", 3600)
        again = members.adjust_points(client, follow_ups, SITE, CONTACT, posted, "jane", 3600)
        assert "-20 points" in first.notice and "already" in again.notice
        [(task, kwargs, _)] = follow_ups.resent
        assert task == APPLY_EXTERNAL_POINTS
        assert kwargs == {
            "instance_id": SITE, "contact_id": CONTACT, "transaction_id": f"console-{'A' * 24}",
            "amount": -20, "description": "Goodwill correction",
        }  # fmt: skip
        assert client.exists(keys.sync_inbound(SITE, f"console-{'A' * 24}"))  # known as ours: no echo
        (entry,) = [e for e in audit_log.recent(client, SITE) if e["action"].startswith("member_")]
        assert entry["action"] == "member_points_adjusted" and entry["details"]["amount"] == -20

    @pytest.mark.parametrize(
        ("amount", "reason", "says"),
        [("ten", "x", "whole number"), ("0", "x", "not 0"), ("5", "", "Reason"), ("5", "r" * 101, "Reason")],
    )
    def test_bad_input_is_a_422_that_changes_nothing(self, client, amount, reason, says) -> None:
        follow_ups = RecordedDispatcher()
        outcome = members.adjust_points(
            client, follow_ups, SITE, CONTACT, form(amount=amount, reason=reason), "j", 60
        )
        assert outcome.status == 422 and says in outcome.problem
        assert follow_ups.resent == [] and actions(client) == []


class TestPauseResume:
    def test_pause_then_resume_each_once(self, client) -> None:
        paused = form("P" * 24, status="paused")
        members.set_member_status(client, SITE, CONTACT, paused, "jane")
        assert "already" in members.set_member_status(client, SITE, CONTACT, paused, "jane").notice
        assert status_of(client, SITE, CONTACT) == "paused"
        members.set_member_status(client, SITE, CONTACT, form("L" * 24, status="live"), "jane")
        assert status_of(client, SITE, CONTACT) == "live"
        assert actions(client) == ["member_resumed", "member_paused"]

    def test_an_unknown_status_is_a_422(self, client) -> None:
        assert members.set_member_status(client, SITE, CONTACT, form(status="gone"), "j").status == 422
