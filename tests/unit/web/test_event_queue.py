"""The receiver's queue: atomic per event, and concurrent webhooks share one Redis call."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests import wix_samples
from worker import keys
from worker.web.event_queue import EventQueue
from worker.wix.envelope import WebhookEnvelope


def envelope(event_id: str) -> WebhookEnvelope:
    payload = wix_samples.order_approved(event_id=event_id)
    return WebhookEnvelope("wix.ecom.v1.order_approved", "inst-1", event_id, json.dumps(payload), None)


class TestGroupCommit:
    def test_concurrent_webhooks_go_in_fewer_calls_and_each_is_queued_once(
        self, fake_async, fake_store
    ) -> None:
        """Fifty webhooks at once (one of them twice): every distinct event queued once, the repeat
        answered duplicate, in fewer Redis calls than webhooks."""
        queue = EventQueue(fake_async, 3600)
        calls = 0
        script = queue._script
        original = script.__call__

        async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return await original(*args, **kwargs)

        queue._script = counting  # type: ignore[assignment]
        ids = [str(uuid.uuid4()) for _ in range(50)]

        async def deliver() -> list[str]:
            return await asyncio.gather(*(queue.enqueue(envelope(i)) for i in [*ids, ids[7]]))

        outcomes = asyncio.run(deliver())
        assert outcomes[:50] == ["queued"] * 50
        assert outcomes[50] == "duplicate"
        assert fake_store.llen("events") == 50
        assert all(fake_store.hget(keys.event_record("inst-1", i), "status") == "queued" for i in ids)
        assert calls < 50

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
            waiters = [asyncio.create_task(queue.enqueue(envelope(f"c-{n}"))) for n in range(4)]
            await asyncio.sleep(0)  # every one has handed its event over
            waiters[1].cancel()
            return await asyncio.gather(*waiters, return_exceptions=True)

        outcomes = asyncio.run(deliver())
        assert isinstance(outcomes[1], asyncio.CancelledError)
        assert [outcomes[0], *outcomes[2:]] == ["queued"] * 3
        assert fake_store.llen("events") == 4


@pytest.mark.parametrize("count", [1, 3])
def test_records_expire_after_the_journal_ttl(fake_async, fake_store, count: int) -> None:
    """Seen-marks are kept for the configured time and no longer."""
    queue = EventQueue(fake_async, 1234)

    async def deliver() -> None:
        await asyncio.gather(*(queue.enqueue(envelope(f"t-{n}")) for n in range(count)))

    asyncio.run(deliver())
    assert all(0 < fake_store.ttl(keys.event_record("inst-1", f"t-{n}")) <= 1234 for n in range(count))
