"""The receiver's RabbitMQ publisher on a real RabbitMQ (a vhost of its own): a batch confirmed in one write,
in order; an unroutable message, a dropped connection and a broker that went quiet each an error (the
receiver's 503), the next publish on a fresh connection; readiness; and the queue-depth gauges."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import aiormq.exceptions
import httpx
import pytest
from kombu import Connection
from prometheus_client import CollectorRegistry

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import service_env, start_web, wait_for
from tests.integration.rabbitmq import TcpProxy, rabbitmq_vhost
from worker.dispatch import QUEUES
from worker.runtime.amqp_messages import amqp_form
from worker.runtime.amqp_publisher import AmqpPublisher, BrokerUnavailable
from worker.runtime.amqp_queue_depths import AmqpQueueDepths
from worker.runtime.queue_metrics import QueueCollector
from worker.runtime.task_messages import build_task_message
from worker.wix.webhook_signing import sign_webhook


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """A vhost of the module's own, its queues declared as a receiver declares them on start, so that each
    test finds them whichever runs first (the order is random)."""

    async def declare_the_queues(url: str) -> None:
        publisher = AmqpPublisher(url, QUEUES)
        await publisher.connect()
        await publisher.close()

    with rabbitmq_vhost() as url:
        asyncio.run(declare_the_queues(url))
        yield url


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy()
    yield proxy
    proxy.close()


def through(proxy: TcpProxy, broker_url: str) -> str:
    return broker_url.replace(":5672/", f":{proxy.port}/")


def messages(count: int, queue: str = "events") -> list[str]:
    return [build_task_message("t.n", {"n": n}, queue=queue)[1] for n in range(count)]


def drain(broker_url: str, queue: str) -> list[int]:
    """Take every message off `queue`: each one's `n`, in queue order."""
    taken = []
    with Connection(broker_url) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            taken.append(json.loads(message.body)[1]["n"])
    return taken


class TestBatches:
    def test_a_batch_is_confirmed_and_queued_in_order(self, broker_url) -> None:
        """300 messages in one publish: it returns once all are confirmed; the queue holds each once,
        in the order given, persistent, on a quorum queue."""

        async def publish() -> None:
            publisher = AmqpPublisher(broker_url, QUEUES)
            await publisher.publish(messages(300))
            await publisher.publish(messages(2))  # the same channel again
            await publisher.close()

        asyncio.run(publish())
        assert drain(broker_url, "events") == [*range(300), 0, 1]

    def test_an_unroutable_message_fails_its_batch_and_the_next_publish_works(self, broker_url) -> None:
        """`mandatory`: a message no queue takes comes back as an error, not silence."""

        async def publish() -> None:
            publisher = AmqpPublisher(broker_url, QUEUES)
            with pytest.raises(BrokerUnavailable) as refused:
                await publisher.publish(messages(3) + messages(1, queue="nowhere"))
            assert isinstance(refused.value.__cause__, aiormq.exceptions.PublishError)
            await publisher.publish(messages(1))
            await publisher.close()

        asyncio.run(publish())
        assert drain(broker_url, "events") == [0, 1, 2, 0]


class TestBrokenBroker:
    def test_a_connection_dropped_under_a_publish_fails_it_and_the_next_one_reconnects(
        self, broker_url, proxy
    ) -> None:
        """A publish awaiting its confirm when the connection drops fails at once (not at the bound);
        the next publish opens a fresh connection and is confirmed."""

        async def publish() -> None:
            publisher = AmqpPublisher(through(proxy, broker_url), QUEUES)
            await publisher.publish(messages(1))
            proxy.hold()
            waiting = asyncio.create_task(publisher.publish(messages(1)))
            await asyncio.sleep(0.2)
            proxy.cut()
            proxy.release()
            async with asyncio.timeout(2):
                with pytest.raises(BrokerUnavailable):
                    await waiting
            async with asyncio.timeout(5):
                await publisher.publish(messages(1))
            await publisher.close()

        asyncio.run(publish())
        assert drain(broker_url, "events") == [0, 0]  # the held one never reached RabbitMQ

    def test_a_quiet_broker_is_not_confirmed_within_the_bound_nor_ready(self, broker_url, proxy) -> None:
        """Nothing arrives at RabbitMQ: the publish is given up at the caller's bound (the receiver's
        503) and readiness fails within its own."""

        async def publish() -> None:
            publisher = AmqpPublisher(through(proxy, broker_url), QUEUES)
            await publisher.check()
            proxy.hold()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await publisher.publish(messages(1))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await publisher.check()
            await publisher.close()

        asyncio.run(publish())


class TestQueueDepthOnRabbitMQ:
    def test_depth_per_queue_and_no_age(self, broker_url, real_redis) -> None:
        """`wrw_queue_depth{queue}` counts each queue's ready messages on RabbitMQ; the oldest message's
        age is the Redis broker's only, so no such series."""

        async def publish() -> None:
            publisher = AmqpPublisher(broker_url, QUEUES)
            await publisher.publish(messages(3) + messages(1, queue="bulk"))
            await publisher.close()

        drain(broker_url, "events")
        asyncio.run(publish())
        depths = AmqpQueueDepths(broker_url)
        registry = CollectorRegistry()
        registry.register(QueueCollector(real_redis, broker=depths))
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "events"}) == 3
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "bulk"}) == 1
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "periodic"}) == 0
        assert registry.get_sample_value("wrw_queue_oldest_message_age_seconds", {"queue": "events"}) is None
        drain(broker_url, "events")
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "events"}) == 0
        depths.close()

    def test_a_quiet_broker_gives_no_depth_rather_than_a_wrong_one(
        self, broker_url, proxy, real_redis
    ) -> None:
        """RabbitMQ unreachable in time: no depth series (what to alert on); the store's gauges stay."""
        registry = CollectorRegistry()
        registry.register(QueueCollector(real_redis, broker=AmqpQueueDepths(through(proxy, broker_url))))
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "events"}) is not None
        proxy.hold()
        assert registry.get_sample_value("wrw_queue_depth", {"queue": "events"}) is None
        assert registry.get_sample_value("wrw_dead_letters") == 0


class TestReceiverOnAQuietBroker:
    def test_503_and_not_ready_while_rabbitmq_is_quiet_then_both_recover(
        self, broker_url, proxy, module_redis_url, public_key_pem, private_key
    ) -> None:
        """Over HTTP: a webhook is a 200 while RabbitMQ confirms; once nothing reaches it, a 503 within the
        receiver's bound and `/readyz` a 503 naming the broker; both recover when it is back."""

        def post() -> httpx.Response:
            payload = wix_samples.order_approved(event_id=str(uuid.uuid4()))
            token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
            return httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=5)

        web, base_url = start_web(
            service_env(module_redis_url, public_key_pem, BROKER_URL=through(proxy, broker_url))
        )
        try:
            assert post().json() == {"status": "queued"}
            assert httpx.get(f"{base_url}/readyz", timeout=5).json() == {"status": "ready"}
            proxy.hold()
            for _ in range(2):  # the second waits behind no hung close of the first's connection
                started = time.monotonic()
                refused = post()
                assert time.monotonic() - started < 2.0
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "unavailable"
            ready = httpx.get(f"{base_url}/readyz", timeout=5)
            assert ready.status_code == 503
            assert ready.json()["error"]["details"] == {"failed": ["broker"]}
            proxy.release()
            proxy.cut()  # what the quiet spell left half-open
            wait_for(lambda: post().status_code == 200, 10, "the receiver to accept again")
            assert httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200
        finally:
            web.stop()


def test_amqp_form_keeps_the_task_message() -> None:
    """The journal's Redis form read back: the queue is the routing key."""
    _, text = build_task_message("t.n", {"n": 1}, queue="bulk")
    assert amqp_form(text).routing_key == "bulk"
