"""A queued event whose task message vanished between Redis and a worker is sent again, once, and only
when its task is nowhere else."""

from __future__ import annotations

import asyncio
import json
import time

from tests import wix_samples
from worker import keys
from worker.runtime.lost_events import requeue_lost_events
from worker.store.journal import EventJournal
from worker.web.event_queue import EventQueue
from worker.wix.envelope import WebhookEnvelope

INSTANCE = "inst-1"


def _queue(fake_async, event_id: str) -> str:  # type: ignore[no-untyped-def]
    """The receiver queues the event; answers its journal record key."""
    payload = wix_samples.order_approved(event_id=event_id)
    envelope = WebhookEnvelope("wix.ecom.v1.order_approved", INSTANCE, event_id, json.dumps(payload), None)
    assert asyncio.run(EventQueue(fake_async, 3600).enqueue(envelope)) == "queued"
    return keys.event_record(INSTANCE, event_id)


def _lose(fake_store) -> str:  # type: ignore[no-untyped-def]
    """A worker took the message off the queue and died before recording it as unacknowledged."""
    message: str = fake_store.rpop("events")
    return message


class TestReceiverKeepsTheMessage:
    def test_the_record_keeps_the_message_until_the_event_settles(self, fake_async, fake_store) -> None:
        """Queued: the record holds the task message and the index the record; settled: neither, and the
        journal's answer never shows the message."""
        key = _queue(fake_async, "e-1")
        assert fake_store.hget(key, "message") == fake_store.lindex("events", 0)
        assert fake_store.zscore(keys.QUEUED_EVENTS, key) is not None
        journal = EventJournal(fake_store, 3600)
        assert "message" not in (journal.get(INSTANCE, "e-1") or {})
        journal.settle(INSTANCE, "e-1", "processed", event_type="wix.ecom.v1.order_approved")
        assert fake_store.hget(key, "message") is None
        assert fake_store.zscore(keys.QUEUED_EVENTS, key) is None


class TestRequeue:
    def test_a_lost_message_is_sent_again_once(self, fake_async, fake_store) -> None:
        """Lost and stale: pushed back on the queue as it was; a second look within stale_after sends
        nothing more."""
        _queue(fake_async, "e-1")
        message = _lose(fake_store)
        now = time.time() + 61
        assert requeue_lost_events(fake_store, stale_after=60, now=now) == 1
        assert fake_store.lrange("events", 0, -1) == [message]
        fake_store.delete("events")
        assert requeue_lost_events(fake_store, stale_after=60, now=now + 30) == 0

    def test_a_recent_event_is_left_alone(self, fake_async, fake_store) -> None:
        """Queued less than stale_after ago: not looked at."""
        _queue(fake_async, "e-1")
        _lose(fake_store)
        assert requeue_lost_events(fake_store, stale_after=60, now=time.time() + 30) == 0

    def test_nothing_is_sent_while_the_queue_has_a_backlog(self, fake_async, fake_store) -> None:
        """The lost event's message may be waiting in a backlog: nothing is sent until it drains."""
        _queue(fake_async, "e-1")
        _queue(fake_async, "e-2")
        assert requeue_lost_events(fake_store, stale_after=60, now=time.time() + 61) == 0
        assert fake_store.llen("events") == 2

    def test_a_task_a_worker_holds_is_not_sent_again(self, fake_async, fake_store) -> None:
        """In kombu's unacked hash (a worker holds it, e.g. for a retry's countdown): left to the worker."""
        key = _queue(fake_async, "e-1")
        message = _lose(fake_store)
        fake_store.hset("unacked", "delivery-tag-1", json.dumps([message, "", "events"]))
        assert fake_store.hget(key, "taskId") in message
        assert requeue_lost_events(fake_store, stale_after=60, now=time.time() + 61) == 0
        assert fake_store.llen("events") == 0

    def test_a_settled_event_leaves_the_index(self, fake_async, fake_store) -> None:
        """An event settled by other means (its record no longer queued) is dropped, not sent."""
        key = _queue(fake_async, "e-1")
        _lose(fake_store)
        fake_store.hset(key, "status", "processed")
        assert requeue_lost_events(fake_store, stale_after=60, now=time.time() + 61) == 0
        assert fake_store.zscore(keys.QUEUED_EVENTS, key) is None
