"""The receiver's journal on a Redis Cluster store (`STORE_CLUSTER=true`), on a real three-node cluster: a
batch's records go one script call per hash slot, every queued event is in the index the lost-events
sweep reads, and nothing crosses slots (the cluster itself would refuse it). Each queue gets 10 s rather
than the receiver's 0.5 s: these tests are about what is written, and the machine may be loaded."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from tests import wix_samples
from tests.unit.runtime.test_amqp_broker import RecordingPublisher
from worker import keys
from worker.infra.redis_client import async_cluster_client, check_store_cluster
from worker.runtime.amqp_messages import amqp_form
from worker.runtime.lost_events import requeue_lost_events
from worker.settings import Settings, SettingsError
from worker.store.journal import EventJournal
from worker.web.event_queue import EventQueue
from worker.wix.envelope import WebhookEnvelope

T = TypeVar("T")
INSTANCES = [f"6b1e6a2c-0000-4000-8000-{n:012d}" for n in range(12)]


class ListBroker:
    """The sweep's view of a broker whose queues are empty; what it sends is kept."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def backlog(self, queue: str) -> int:
        return 0

    def held(self) -> str:
        return ""

    def send(self, queue: str, message: str) -> None:
        self.sent.append(message)


def envelope(
    instance_id: str, event_id: str, event_type: str = "wix.ecom.v1.order_approved"
) -> WebhookEnvelope:
    payload = wix_samples.order_approved(event_id=event_id)
    return WebhookEnvelope(event_type, instance_id, event_id, json.dumps(payload), None)


def on_cluster(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(client)` with the receiver's async cluster client, closed afterwards."""

    async def run() -> T:
        client = async_cluster_client(url)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _event_id(published: str) -> str:
    return str(json.loads(amqp_form(published).body)[1]["event_id"])


class TestJournalOnTheCluster:
    def test_a_batch_across_slots_is_journaled_indexed_and_published_once(
        self, redis_cluster, cluster_store
    ) -> None:
        """Sixty webhooks of twelve sites at once, one of them twice: each journaled `queued` before it is
        published, published once, in the queued-events index; the repeat of a still-queued event is a
        duplicate whose kept message goes again; fewer script calls than events would be one per slot."""
        publisher = RecordingPublisher(cluster_store)
        events = [(INSTANCES[n % 12], str(uuid.uuid4())) for n in range(60)]

        async def deliver(client: Any) -> list[str]:
            queue = EventQueue(client, 3600, timeout=10.0, publisher=publisher)
            first = await asyncio.gather(*(queue.enqueue(envelope(i, e)) for i, e in events))
            again = await queue.enqueue(envelope(*events[7]))
            return [*first, again]

        outcomes = on_cluster(redis_cluster.url, deliver)
        assert outcomes == ["queued"] * 60 + ["duplicate"]
        assert all(publisher.journaled_first)
        published = [_event_id(text) for text in publisher.published]
        assert sorted(published) == sorted([e for _, e in events] + [events[7][1]])
        slots = {cluster_store.keyslot(keys.event_record(i, e)) for i, e in events}
        assert len(slots) > 30  # the records really lie in many slots (and so on every node)
        for instance_id, event_id in events:
            key = keys.event_record(instance_id, event_id)
            assert cluster_store.hget(key, "status") == "queued"
            assert cluster_store.zscore(keys.QUEUED_EVENTS, key) is not None
            assert 0 < cluster_store.ttl(key) <= 3600

    def test_a_removed_sites_events_are_not_queued_but_its_lifecycle_events_are(
        self, redis_cluster, cluster_store
    ) -> None:
        """A site that removed the app: its order event is answered `removed` and leaves no record; its
        AppInstalled goes through (as on one Redis)."""
        removed, other = INSTANCES[0], INSTANCES[1]
        cluster_store.hset(keys.instance(removed), "status", "removed")
        publisher = RecordingPublisher(cluster_store)

        async def deliver(client: Any) -> list[str]:
            queue = EventQueue(client, 3600, timeout=10.0, publisher=publisher)
            return list(
                await asyncio.gather(
                    queue.enqueue(envelope(removed, "order-1")),
                    queue.enqueue(envelope(removed, "install-1", "AppInstalled")),
                    queue.enqueue(envelope(other, "order-2")),
                )
            )

        assert on_cluster(redis_cluster.url, deliver) == ["removed", "queued", "queued"]
        assert not cluster_store.exists(keys.event_record(removed, "order-1"))
        assert cluster_store.zscore(keys.QUEUED_EVENTS, keys.event_record(removed, "order-1")) is None
        assert sorted(_event_id(text) for text in publisher.published) == ["install-1", "order-2"]

    def test_nodes_that_forgot_the_script_are_given_it_again(self, redis_cluster, cluster_store) -> None:
        """After SCRIPT FLUSH on every node (a restart, a failover to a fresh replica) the next batch still
        journals each event once."""
        publisher = RecordingPublisher(cluster_store)
        events = [(INSTANCES[n % 12], str(uuid.uuid4())) for n in range(12)]

        async def deliver(client: Any) -> list[str]:
            queue = EventQueue(client, 3600, timeout=10.0, publisher=publisher)
            first = await queue.enqueue(envelope(*events[0]))
            await client.execute_command("SCRIPT FLUSH", target_nodes=client.PRIMARIES)
            rest = await asyncio.gather(*(queue.enqueue(envelope(i, e)) for i, e in events[1:]))
            return [first, *rest]

        assert on_cluster(redis_cluster.url, deliver) == ["queued"] * 12
        assert len(publisher.published) == 12

    def test_a_redelivery_of_a_settled_event_is_a_duplicate_that_leaves_no_index_entry(
        self, redis_cluster, cluster_store
    ) -> None:
        """Settled, then delivered again: `duplicate`, nothing published, and the queued-events index holds
        nothing for it (the sweep would otherwise look at it again and again)."""
        publisher = RecordingPublisher(cluster_store)
        instance_id, event_id = INSTANCES[3], str(uuid.uuid4())

        async def deliver(client: Any) -> str:
            queue = EventQueue(client, 3600, timeout=10.0, publisher=publisher)
            return await queue.enqueue(envelope(instance_id, event_id))

        assert on_cluster(redis_cluster.url, deliver) == "queued"
        EventJournal(cluster_store, 3600).settle(
            instance_id, event_id, "processed", event_type="wix.ecom.v1.order_approved"
        )
        assert on_cluster(redis_cluster.url, deliver) == "duplicate"
        assert len(publisher.published) == 1
        assert cluster_store.zcard(keys.QUEUED_EVENTS) == 0


class TestSweepOnTheCluster:
    def test_every_journaled_event_that_never_reached_the_broker_is_sent_once(
        self, redis_cluster, cluster_store
    ) -> None:
        """The broker refuses every publish (each webhook answered 503): the events stay `queued` in many
        slots; the lost-events sweep, reading the store on the cluster, sends each once; a settled one is
        dropped from the index, not sent."""
        publisher = RecordingPublisher(cluster_store, fail=True)
        events = [(INSTANCES[n % 12], str(uuid.uuid4())) for n in range(24)]

        async def deliver(client: Any) -> list[object]:
            queue = EventQueue(client, 3600, timeout=10.0, publisher=publisher)
            return list(
                await asyncio.gather(
                    *(queue.enqueue(envelope(i, e)) for i, e in events), return_exceptions=True
                )
            )

        outcomes = on_cluster(redis_cluster.url, deliver)
        assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
        settled_instance, settled_event = events[0]
        EventJournal(cluster_store, 3600).settle(
            settled_instance, settled_event, "processed", event_type="wix.ecom.v1.order_approved"
        )
        broker = ListBroker()
        now = time.time() + 120
        assert requeue_lost_events(cluster_store, stale_after=60, now=now, broker=broker) == 23
        assert sorted(_event_id(text) for text in broker.sent) == sorted(e for _, e in events[1:])
        assert cluster_store.zscore(keys.QUEUED_EVENTS, keys.event_record(*events[0])) is None
        assert requeue_lost_events(cluster_store, stale_after=60, now=now + 30, broker=broker) == 0


class TestStartUp:
    def test_a_cluster_store_with_the_broker_on_it_is_refused(self) -> None:
        """STORE_CLUSTER=true with no BROKER_URL of its own: refused, naming what to set."""
        settings = Settings(redis_url="redis://127.0.0.1:7000/0", store_cluster=True, _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(SettingsError, match="BROKER_URL"):
            check_store_cluster(settings)

    def test_a_cluster_store_with_a_broker_of_its_own_is_accepted(self) -> None:
        settings = Settings(  # type: ignore[call-arg]
            redis_url="redis://127.0.0.1:6379/0",
            store_url="redis://127.0.0.1:7000/0",
            store_cluster=True,
            _env_file=None,
        )
        check_store_cluster(settings)

    def test_an_event_queue_on_a_cluster_without_a_broker_is_refused(self, redis_cluster) -> None:
        async def build(client: Any) -> None:
            with pytest.raises(ValueError, match="broker of its own"):
                EventQueue(client, 3600)

        on_cluster(redis_cluster.url, build)
