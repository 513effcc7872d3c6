"""Trigger events for Wix automations: milestone achieved on creation, reward issued after fulfilment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.logs import accept_log
from worker.rewards.automation_triggers import MILESTONE_ACHIEVED, report_trigger
from worker.rewards.follow_ups import fulfil_new_rewards
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)


class RecordingWix:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def report_trigger_event(
        self, instance_id: str, trigger_key: str, payload: dict[str, Any], **kw: Any
    ) -> list[str]:
        self.reports.append({"instance": instance_id, "trigger": trigger_key, "payload": payload, **kw})
        return ["activation-1"]


def halfway_reward(fake_store) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    store = ProgressStore(fake_store)
    store.save_program("i", BASE_PROGRAM)
    program = store.program("i")
    challenge = program.challenge("spend-500")
    now = datetime.now(UTC)
    log = accept_log(
        challenge, contact_id="c1", activity_id="order_paid", activity_value=300,
        activity_at=now, unique_identifier="o1", now=now,
    )  # fmt: skip
    [reward_log] = store.record("i", program, challenge, log, now).reward_logs
    return reward_log


class TestTriggers:
    def test_every_new_reward_log_reports_its_milestone(self, fake_store) -> None:
        """Manual rewards too: the owner may want an email for any milestone."""
        follow_ups = RecordedDispatcher()
        reward_log = halfway_reward(fake_store)
        fulfil_new_rewards(follow_ups, "i", [reward_log])
        assert follow_ups.reports == [("i", MILESTONE_ACHIEVED, reward_log["id"])]
        assert follow_ups.sent == []  # manual: nothing to fulfil

    def test_the_report_carries_the_contact_names_and_an_idempotency_key(self, fake_store) -> None:
        """Wix gets the contact id, the milestone's name and a key that makes a retry a no-op."""
        wix = RecordingWix()
        reward_log = halfway_reward(fake_store)
        assert report_trigger(wix, fake_store, "i", MILESTONE_ACHIEVED, reward_log["id"])  # type: ignore[arg-type]
        [report] = wix.reports
        assert report["payload"]["contactId"] == "c1"
        assert report["payload"]["milestoneName"] == "Halfway"
        assert report["idempotency_key"] == f"milestone_achieved:{reward_log['id']}"
        assert len(report["external_entity_id"]) == 36
