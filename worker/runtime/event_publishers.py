"""How the receiver gets a journaled event's task message onto the broker, when the broker is not the
store's Redis (worker.web.event_queue): RabbitMQ's confirmed publish, or a push onto another Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import redis.asyncio

from worker.dispatch import QUEUES
from worker.infra.redis_client import async_client
from worker.runtime.amqp_publisher import AmqpPublisher
from worker.settings import Settings


class RedisListPublisher:
    """A Redis broker on another server than the store: every message LPUSHed onto its queue's list (kombu's
    Redis form), one pipelined round trip per batch; Redis answers once it has them (with AOF on, as
    worker/infra/redis_health.py asks for, durably)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client

    async def connect(self) -> None:
        return None

    async def check(self) -> None:
        """Readiness: the broker's Redis answers a PING; raises otherwise."""
        await self._client.ping()

    async def publish(self, messages: Iterable[str], written: Callable[[], None] | None = None) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for text in messages:
                pipe.lpush(json.loads(text)["properties"]["delivery_info"]["routing_key"], text)
            await pipe.execute()

    async def close(self) -> None:
        await self._client.aclose()


def event_publisher(settings: Settings) -> AmqpPublisher | RedisListPublisher | None:
    """None when the broker is the store's Redis (the receiver's one Lua call pushes too)."""
    broker = settings.broker_address
    if broker is None or broker == settings.store_address:
        return None
    if settings.broker_is_amqp:
        return AmqpPublisher(broker, QUEUES)
    return RedisListPublisher(async_client(broker))
