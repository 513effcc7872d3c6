"""BROKER_URL and STORE_URL, Celery's RabbitMQ configuration, the AMQP form of the receiver's task message,
and the receiver's journal-then-publish path when the broker is not the store's Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import fakeredis
import pytest
import redis

from tests import wix_samples
from worker import keys
from worker.runtime.amqp_messages import amqp_form
from worker.runtime.amqp_publisher import AmqpPublisher
from worker.runtime.event_publishers import RedisListPublisher, event_publisher
from worker.runtime.lost_events import requeue_lost_events
from worker.runtime.task_messages import build_task_message
from worker.settings import Settings
from worker.store.journal import EventJournal
from worker.web.event_queue import EventQueue
from worker.wix.envelope import WebhookEnvelope

ROOT = Path(__file__).resolve().parents[3]
INSTANCE = "inst-1"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


class TestSettings:
    def test_broker_and_store_default_to_redis_url(self) -> None:
        settings = Settings(redis_url="redis://r:6379/0", _env_file=None)  # type: ignore[call-arg]
        assert settings.broker_address == settings.store_address == "redis://r:6379/0"
        assert not settings.broker_is_amqp

    def test_each_can_name_its_own_server(self) -> None:
        settings = Settings(  # type: ignore[call-arg]
            redis_url="redis://r/0", broker_url=AMQP, store_url="redis://s/1", _env_file=None
        )
        assert (settings.broker_address, settings.store_address) == (AMQP, "redis://s/1")
        assert settings.broker_is_amqp


class TestCeleryOnRabbitMQ:
    def test_quorum_queues_and_confirmed_publishes(self) -> None:
        """With an amqp:// BROKER_URL, every queue is a quorum queue, publishes wait for confirms and
        countdowns wait in RabbitMQ; RedBeat's lock stays in the store."""
        code = (
            "import celeryconfig as c, json; print(json.dumps([c.broker_url, c.broker_transport_options,"
            " [q.queue_arguments for q in c.task_queues], c.redbeat_redis_url,"
            " c.task_default_exchange_type]))"
        )
        env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/9", "BROKER_URL": AMQP}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        broker, options, arguments, beat, exchange_type = json.loads(out.stdout)
        assert broker == AMQP
        assert options == {"confirm_publish": True}
        assert arguments and all(a == {"x-queue-type": "quorum"} for a in arguments)
        assert beat == "redis://127.0.0.1:6379/9"
        assert exchange_type == "topic"  # what Celery's native delayed delivery (countdowns) binds through


class TestAmqpForm:
    def test_the_redis_form_becomes_body_headers_and_properties(self) -> None:
        kwargs = {"event_type": "t", "instance_id": "i", "event_id": "e"}
        task_id, text = build_task_message("events.process_wix_event", kwargs, queue="events")
        message = amqp_form(text)
        assert json.loads(message.body)[1] == kwargs
        assert message.headers["task"] == "events.process_wix_event"
        assert message.headers["id"] == message.correlation_id == task_id
        assert (message.routing_key, message.content_type) == ("events", "application/json")
        assert message.body == base64.b64decode(json.loads(text)["body"])


class RecordingPublisher:
    """Records what it was asked to publish, and whether the journal held each event as queued by then."""

    def __init__(self, store: redis.Redis, fail: bool = False) -> None:
        self.store = store
        self.fail = fail
        self.published: list[str] = []
        self.journaled_first: list[bool] = []

    async def publish(self, messages: Iterable[str], written: Callable[[], None] | None = None) -> None:
        for text in messages:
            kwargs = json.loads(amqp_form(text).body)[1]
            key = keys.event_record(kwargs["instance_id"], kwargs["event_id"])
            self.journaled_first.append(self.store.hget(key, "status") == "queued")
            if self.fail:
                raise ConnectionError("the broker went away")
            self.published.append(text)


def _envelope(event_id: str) -> WebhookEnvelope:
    payload = wix_samples.order_approved(event_id=event_id)
    return WebhookEnvelope("wix.ecom.v1.order_approved", INSTANCE, event_id, json.dumps(payload), None)


class TestJournalThenPublish:
    def test_journaled_before_it_is_published_and_not_pushed_to_redis(self, fake_async, fake_store) -> None:
        publisher = RecordingPublisher(fake_store)
        queue = EventQueue(fake_async, 3600, publisher=publisher)
        assert asyncio.run(queue.enqueue(_envelope("e-1"))) == "queued"
        assert publisher.journaled_first == [True]
        [published] = publisher.published
        assert fake_store.hget(keys.event_record(INSTANCE, "e-1"), "message") == published
        assert fake_store.llen("events") == 0  # the store's Redis is not the broker here

    def test_a_redelivery_of_a_still_queued_event_is_published_again(self, fake_async, fake_store) -> None:
        """Its first publish may never have been confirmed (a receiver died, or answered 503): the kept
        message, the same task id, goes again; a settled event's redelivery publishes nothing."""
        publisher = RecordingPublisher(fake_store)
        queue = EventQueue(fake_async, 3600, publisher=publisher)
        asyncio.run(queue.enqueue(_envelope("e-1")))
        assert asyncio.run(queue.enqueue(_envelope("e-1"))) == "duplicate"
        assert publisher.published[0] == publisher.published[1]
        EventJournal(fake_store, 3600).settle(INSTANCE, "e-1", "processed", event_type="order_approved")
        assert asyncio.run(queue.enqueue(_envelope("e-1"))) == "duplicate"
        assert len(publisher.published) == 2

    def test_the_next_batch_is_published_while_the_last_waits_for_its_confirms(
        self, fake_async, fake_store
    ) -> None:
        """RabbitMQ's confirms wait for the quorum's disk writes: a batch whose messages are written hands
        the next batch its turn at once, so webhooks arriving meanwhile are journaled and published without
        waiting for those confirms; each is answered once its own batch is confirmed."""

        class HeldConfirms:
            def __init__(self) -> None:
                self.batches: list[list[str]] = []
                self.confirm = asyncio.Event()

            async def publish(
                self, messages: Iterable[str], written: Callable[[], None] | None = None
            ) -> None:
                self.batches.append(list(messages))
                if written is not None:
                    written()
                await self.confirm.wait()

        async def deliver() -> tuple[list[object], int]:
            publisher = HeldConfirms()
            queue = EventQueue(fake_async, 3600, publisher=publisher)
            first = asyncio.create_task(queue.enqueue(_envelope("e-1")))
            await asyncio.sleep(0.01)
            later = [asyncio.create_task(queue.enqueue(_envelope(f"e-{n}"))) for n in (2, 3)]
            await asyncio.sleep(0.01)
            published_before_any_confirm = sum(len(batch) for batch in publisher.batches)
            assert not any(task.done() for task in (first, *later))  # none answered before its confirm
            publisher.confirm.set()
            return await asyncio.wait_for(asyncio.gather(first, *later), 5), published_before_any_confirm

        outcomes, published = asyncio.run(deliver())
        assert outcomes == ["queued"] * 3
        assert published == 3

    def test_a_failed_publish_raises_and_leaves_the_event_for_the_sweep(self, fake_async, fake_store) -> None:
        """The receiver answers 503; the record is `queued` and indexed, so the sweep sends it later."""
        queue = EventQueue(fake_async, 3600, publisher=RecordingPublisher(fake_store, fail=True))
        with pytest.raises(ConnectionError):
            asyncio.run(queue.enqueue(_envelope("e-1")))
        key = keys.event_record(INSTANCE, "e-1")
        assert fake_store.hget(key, "status") == "queued"

        class Broker:
            def __init__(self) -> None:
                self.sent: list[tuple[str, str]] = []

            def backlog(self, queue: str) -> int:
                return 0

            def held(self) -> str:
                return ""

            def send(self, queue: str, message: str) -> None:
                self.sent.append((queue, message))

        broker = Broker()
        assert requeue_lost_events(fake_store, stale_after=60, now=time.time() + 61, broker=broker) == 1
        assert broker.sent == [("events", fake_store.hget(key, "message"))]


class TestPublisherChoice:
    def test_one_redis_needs_no_publisher_rabbitmq_and_another_redis_get_theirs(self) -> None:
        same = Settings(redis_url="redis://r/0", _env_file=None)  # type: ignore[call-arg]
        rabbit = Settings(redis_url="redis://r/0", broker_url=AMQP, _env_file=None)  # type: ignore[call-arg]
        other = Settings(redis_url="redis://r/0", broker_url="redis://b/0", _env_file=None)  # type: ignore[call-arg]
        assert event_publisher(same) is None
        assert isinstance(event_publisher(rabbit), AmqpPublisher)
        assert isinstance(event_publisher(other), RedisListPublisher)

    def test_a_redis_broker_elsewhere_gets_the_message_on_its_queue(self, fake_async, fake_store) -> None:
        """The store journals (no push there); the broker's Redis gets the message on `events`."""
        broker_server = fakeredis.FakeServer()
        broker_async = fakeredis.FakeAsyncRedis(server=broker_server, decode_responses=True)
        queue = EventQueue(fake_async, 3600, publisher=RedisListPublisher(broker_async))
        assert asyncio.run(queue.enqueue(_envelope("e-1"))) == "queued"
        broker = fakeredis.FakeRedis(server=broker_server, decode_responses=True)
        assert broker.lrange("events", 0, -1) == [
            fake_store.hget(keys.event_record(INSTANCE, "e-1"), "message")
        ]
        assert fake_store.llen("events") == 0
