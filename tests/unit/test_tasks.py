"""The events task, called directly (no eager mode): thin, idempotent, and parked when it fails."""

from __future__ import annotations

import json

import pytest

from tests import wix_samples
from worker.runtime import celery_app
from worker.store.dead_letters import DeadLetters
from worker.store.journal import EventJournal


@pytest.fixture
def store(fake_store, monkeypatch):  # type: ignore[no-untyped-def]
    import tasks.events

    for module in (celery_app, tasks.events):
        monkeypatch.setattr(module, "redis_store", lambda: fake_store)
    return fake_store


def event_kwargs(payload: dict) -> dict:  # type: ignore[type-arg]
    return {
        "event_type": "wix.ecom.v1.order_payment_status_updated",
        "instance_id": "inst-1",
        "event_id": payload["id"],
        "data": json.dumps(payload),
    }


class TestProcessWixEvent:
    def test_processes_and_records(self, store) -> None:
        """Called with the receiver's arguments, the task records the normalized event."""
        from tasks.events import process_wix_event_task

        payload = wix_samples.payment_status_updated()
        assert process_wix_event_task(**event_kwargs(payload)) == "processed"
        assert EventJournal(store, 60).get("inst-1", payload["id"])["status"] == "processed"

    def test_a_failure_is_parked_and_journaled(self, store) -> None:
        """After the last retry: the task is in the dead-letter queue and the journal says failed."""
        from tasks.events import process_wix_event_task

        payload = wix_samples.payment_status_updated()
        kwargs = event_kwargs(payload)
        process_wix_event_task.push_request(id="task-9", retries=8, delivery_info={"routing_key": "events"})
        try:
            process_wix_event_task.on_failure(ConnectionError("redis went away"), "task-9", (), kwargs, None)
        finally:
            process_wix_event_task.pop_request()
        entry = DeadLetters(store).get("task-9")
        assert entry["task"] == "events.process_wix_event"
        assert entry["kwargs"] == kwargs
        assert entry["queue"] == "events"
        assert entry["retries"] == 8
        assert "redis went away" in entry["error"]
        record = EventJournal(store, 60).get("inst-1", payload["id"])
        assert record["status"] == "failed"
        assert "dead-letter" in record["error"]

    def test_a_replayed_failed_event_is_processed(self, store) -> None:
        """A failed record does not block a replay: the event is processed then."""
        from tasks.events import process_wix_event_task

        payload = wix_samples.payment_status_updated()
        kwargs = event_kwargs(payload)
        EventJournal(store, 60).settle("inst-1", payload["id"], "failed", event_type="x", error="boom")
        assert process_wix_event_task(**kwargs) == "processed"
        record = EventJournal(store, 60).get("inst-1", payload["id"])
        assert record["status"] == "processed"
        assert "error" not in record


class TestDeadLetterQueue:
    def test_list_is_oldest_first_and_purge_empties_it(self, fake_store) -> None:
        """Operators see entries in the order they failed; purge says how many went."""
        dead_letters = DeadLetters(fake_store)
        for task_id in ("a", "b"):
            dead_letters.park(
                task_id=task_id, task_name="t", args=[], kwargs={}, queue="events", error="e", retries=1
            )
        assert [entry["id"] for entry in dead_letters.list()] == ["a", "b"]
        assert dead_letters.purge() == 2
        assert dead_letters.list() == []


class TestReplayAll:
    def test_replay_all_sends_every_entry_to_its_queue_then_removes_it(self, fake_store, monkeypatch) -> None:
        """`python -m worker dlq replay --all` re-sends each parked task as it was, and empties the queue."""
        from worker import cli
        from worker.runtime.celery_app import app

        dead_letters = DeadLetters(fake_store)
        for task_id, queue in (("a", "events"), ("b", "rewards")):
            dead_letters.park(
                task_id=task_id, task_name=f"t.{task_id}", args=[1], kwargs={"k": task_id},
                queue=queue, error="e", retries=8,
            )  # fmt: skip
        sent: list[tuple[str, object, object, object]] = []
        monkeypatch.setattr(cli, "_store", lambda: fake_store)
        monkeypatch.setattr(
            app, "send_task", lambda name, args, kwargs, queue: sent.append((name, args, kwargs, queue))
        )
        assert cli.main(["dlq", "replay", "--all"]) == 0
        assert sent == [("t.a", [1], {"k": "a"}, "events"), ("t.b", [1], {"k": "b"}, "rewards")]
        assert dead_letters.list() == []
