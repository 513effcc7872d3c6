"""Events whose task message vanished on its way to a worker are sent again.

kombu's Redis transport takes a message off the queue (BRPOP) and records it as unacknowledged in a
second call; a worker SIGKILLed, or Redis restarting, between the two loses the message: it is in
neither place, so the visibility timeout never brings it back, and its event stays `queued` for good
(`make chaos` found one in 240 with a Redis restart). The receiver keeps each event's task message in
its journal record until the event settles, and indexes queued events by time (`keys.QUEUED_EVENTS`).

This job (beat, `requeue-lost-events`) sends again the message of each event still queued after
`stale_after` seconds (the visibility timeout: as long as Celery itself takes to bring back a killed
worker's task) whose task is nowhere: not in the queue (it looks only while the queue is empty, so a
backlog is never doubled) and not held by a worker (not in kombu's `unacked`). At worst a task that was
only slow runs twice, and the second run finds the event settled and does nothing.

The broker may be another server than the store (RabbitMQ, `BROKER_URL`): then the receiver writes the
journal record first and publishes second, and a receiver that dies between the two leaves an event
`queued` whose message is nowhere; this sweep sends it as it sends one lost by a worker. RabbitMQ gives
back by itself what a dead worker held, so there only the queue's backlog is looked at
(worker.runtime.kombu_broker_queues).
"""

from __future__ import annotations

import logging
from typing import Protocol

import redis

from worker import keys

logger = logging.getLogger(__name__)

QUEUE = "events"
UNACKED = "unacked"  # kombu's hash of the messages workers hold: delivery tag -> [message, ...]


class BrokerQueues(Protocol):
    """What the sweep needs of the broker, whichever it is."""

    def backlog(self, queue: str) -> int:
        """How many messages wait on `queue`."""

    def held(self) -> str:
        """Text in which the task id of every message a worker holds appears ("" when the broker itself
        gives back what a dead worker held, as RabbitMQ does)."""

    def send(self, queue: str, message: str) -> None:
        """Put a Redis-form task message (worker.runtime.task_messages) on `queue`."""


class RedisBrokerQueues:
    """kombu's Redis transport: a list per queue, and the `unacked` hash of what workers hold."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def backlog(self, queue: str) -> int:
        return int(self.client.llen(queue))  # type: ignore[arg-type]

    def held(self) -> str:
        return "\n".join(self.client.hvals(UNACKED))  # type: ignore[arg-type]

    def send(self, queue: str, message: str) -> None:
        self.client.lpush(queue, message)


def requeue_lost_events(
    client: redis.Redis,
    *,
    stale_after: float,
    now: float,
    limit: int = 500,
    broker: BrokerQueues | None = None,
) -> int:
    """Send again the task message of each event queued before `now - stale_after` whose task is in no
    queue and held by no worker; answers how many were sent. `client` is the store (the journal);
    `broker` the broker's queues, by default the Redis broker on the same server."""
    broker = broker or RedisBrokerQueues(client)
    stale: list[str] = client.zrangebyscore(  # type: ignore[assignment]
        keys.QUEUED_EVENTS, "-inf", now - stale_after, start=0, num=limit
    )
    if not stale or broker.backlog(QUEUE):
        return 0  # nothing old, or a backlog the tasks may still wait in: look again when it has drained
    held = broker.held()
    sent = 0
    for key in stale:
        status, task_id, message = client.hmget(key, ["status", "taskId", "message"])  # type: ignore[misc]
        if status != "queued" or not message:  # settled (or expired) meanwhile
            client.zrem(keys.QUEUED_EVENTS, key)
            continue
        if task_id and task_id in held:
            client.zadd(keys.QUEUED_EVENTS, {key: now})  # a worker holds it (a retry's countdown)
            continue
        # Sent, then stamped: dying between the two sends it once more at the next sweep (harmless).
        broker.send(QUEUE, message)
        client.zadd(keys.QUEUED_EVENTS, {key: now})
        sent += 1
        logger.warning(
            "a queued event's task was lost on its way to a worker: sent again", extra={"key": key}
        )
    return sent
