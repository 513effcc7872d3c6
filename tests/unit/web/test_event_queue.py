"""The receiver's queue: atomic per event, and concurrent webhooks share one Redis call."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest

from tests import wix_samples
from worker import keys
from worker.web.event_queue import EventQueue
from worker.wix.envelope import WebhookEnvelope


def envelope(event_id: str) -> WebhookEnvelope:
    payload = wix_samples.order_approved(event_id=event_id)
    return WebhookEnvelope("wix.ecom.v1.order_approved", "inst-1", event_id, json.dumps(payload), None)


def answering_later(queue: EventQueue) -> list[int]:
    """Make each of the queue's Redis calls wait for its answer, as one to a real Redis does (fakeredis
    answers without yielding to the event loop); the list returned grows by one per call."""
    calls: list[int] = []
    original = queue._journal

    async def call(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        await asyncio.sleep(0)
        return await original(batch)

    queue._journal = call  # type: ignore[method-assign]
    return calls


class TestGroupCommit:
    def test_concurrent_webhooks_go_in_fewer_calls_and_each_is_queued_once(
        self, fake_async, fake_store
    ) -> None:
        """Fifty webhooks at once (one of them twice): every distinct event queued once, the repeat
        answered duplicate, in fewer Redis calls than webhooks."""
        queue = EventQueue(fake_async, 3600)
        calls = answering_later(queue)
        ids = [str(uuid.uuid4()) for _ in range(50)]

        async def deliver() -> list[str]:
            return await asyncio.gather(*(queue.enqueue(envelope(i)) for i in [*ids, ids[7]]))

        outcomes = asyncio.run(deliver())
        assert outcomes[:50] == ["queued"] * 50
        assert outcomes[50] == "duplicate"
        assert fake_store.llen("events") == 50
        assert all(fake_store.hget(keys.event_record("inst-1", i), "status") == "queued" for i in ids)
        assert len(calls) < 50

    def test_a_lone_webhook_goes_at_once(self, fake_async, fake_store) -> None:
        """With nothing else in flight, one webhook is one call and is queued before the answer."""
        queue = EventQueue(fake_async, 3600)
        assert asyncio.run(queue.enqueue(envelope("e-1"))) == "queued"
        assert fake_store.llen("events") == 1

    def test_a_redis_failure_reaches_every_waiter(self, fake_async, fake_server) -> None:
        """When the call fails, each webhook of the batch gets the error (and answers 503)."""
        import redis

        queue = EventQueue(fake_async, 3600)
        fake_server.connected = False

        async def deliver() -> list[object]:
            return await asyncio.gather(
                *(queue.enqueue(envelope(str(n))) for n in range(5)), return_exceptions=True
            )

        outcomes = asyncio.run(deliver())
        assert all(isinstance(outcome, redis.ConnectionError) for outcome in outcomes)
        fake_server.connected = True
        assert asyncio.run(queue.enqueue(envelope("after"))) == "queued"

    def test_a_caller_that_gives_up_leaves_the_others_call_alone(self, fake_async, fake_store) -> None:
        """One webhook whose wait is cancelled (its request timed out) cancels nothing of the others':
        they are answered queued, and its own event, already handed over, is queued once too."""

        async def deliver() -> list[object]:
            queue = EventQueue(fake_async, 3600)
            answering_later(queue)
            waiters = [asyncio.create_task(queue.enqueue(envelope(f"c-{n}"))) for n in range(4)]
            await asyncio.sleep(0)  # every one has handed its event over
            waiters[1].cancel()
            return await asyncio.gather(*waiters, return_exceptions=True)

        outcomes = asyncio.run(deliver())
        assert isinstance(outcomes[1], asyncio.CancelledError)
        assert [outcomes[0], *outcomes[2:]] == ["queued"] * 3
        assert fake_store.llen("events") == 4


class TestTheLead:
    """No task of the queue's own sends a batch: the first request of each batch does, in its own task, so
    a request that gives up while sending or just as its turn comes must leave nothing stuck."""

    @staticmethod
    def held_first_call(
        queue: EventQueue, answered: Callable[[], object] = lambda: None
    ) -> tuple[asyncio.Event, list[int]]:
        """The queue's first Redis call waits until the event returned is set; `answered` runs as its
        answer comes, in the same step as the sender's hand-over that follows."""
        release = asyncio.Event()
        calls = answering_later(queue)
        journal = queue._journal
        first = True

        async def call(batch):  # type: ignore[no-untyped-def]
            nonlocal first
            if not first:
                return await journal(batch)
            first = False
            await release.wait()
            results = await journal(batch)
            answered()
            return results

        queue._journal = call  # type: ignore[method-assign]
        return release, calls

    def test_a_sender_that_gives_up_fails_its_batch_and_the_next_request_sends(
        self, fake_async, fake_store
    ) -> None:
        """The request sending a batch (its own event, alone: the others came after it) times out waiting
        for Redis: the requests that came meanwhile are sent by the first of them and queued."""

        async def deliver() -> list[object]:
            queue = EventQueue(fake_async, 3600)
            _, calls = self.held_first_call(queue)
            first = [asyncio.create_task(queue.enqueue(envelope(f"a-{n}"))) for n in range(2)]
            await asyncio.sleep(0.01)  # a-0 sends its own event and waits for Redis; a-1 waits
            later = [asyncio.create_task(queue.enqueue(envelope(f"b-{n}"))) for n in range(3)]
            await asyncio.sleep(0.01)
            first[0].cancel()
            outcomes = await asyncio.wait_for(asyncio.gather(*first, *later, return_exceptions=True), 5)
            assert calls == [4]  # a-0's own call never reached Redis
            return outcomes

        outcomes = asyncio.run(deliver())
        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert outcomes[1:] == ["queued"] * 4
        assert fake_store.llen("events") == 4

    def test_a_request_that_gives_up_as_its_turn_comes_passes_the_turn_on(
        self, fake_async, fake_store
    ) -> None:
        """The first waiting request is cancelled in the very step its turn to send comes: the next one
        sends instead, and every event still waited for is queued."""

        async def deliver() -> list[object]:
            queue = EventQueue(fake_async, 3600)
            waiting: list[asyncio.Task[str]] = []
            # The cancel runs after the sender handed w-0 its turn, before w-0 wakes to take it.
            release, calls = self.held_first_call(
                queue, lambda: asyncio.get_running_loop().call_soon(waiting[0].cancel)
            )
            sender = asyncio.create_task(queue.enqueue(envelope("s")))
            await asyncio.sleep(0.01)
            waiting += [asyncio.create_task(queue.enqueue(envelope(f"w-{n}"))) for n in range(3)]
            await asyncio.sleep(0.01)
            release.set()
            outcomes = await asyncio.wait_for(asyncio.gather(sender, *waiting, return_exceptions=True), 5)
            assert calls == [1, 3]  # s alone, then the three waiting (w-0 was handed over before it gave up)
            return outcomes

        outcomes = asyncio.run(deliver())
        assert outcomes[0] == "queued"
        assert isinstance(outcomes[1], asyncio.CancelledError)
        assert outcomes[2:] == ["queued"] * 2
        assert fake_store.llen("events") == 4  # w-0, handed over before it gave up, went too


@pytest.mark.parametrize("count", [1, 3])
def test_records_expire_after_the_journal_ttl(fake_async, fake_store, count: int) -> None:
    """Seen-marks are kept for the configured time and no longer."""
    queue = EventQueue(fake_async, 1234)

    async def deliver() -> None:
        await asyncio.gather(*(queue.enqueue(envelope(f"t-{n}")) for n in range(count)))

    asyncio.run(deliver())
    assert all(0 < fake_store.ttl(keys.event_record("inst-1", f"t-{n}")) <= 1234 for n in range(count))
