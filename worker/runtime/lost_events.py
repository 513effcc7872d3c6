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
"""

from __future__ import annotations

import logging

import redis

from worker import keys

logger = logging.getLogger(__name__)

QUEUE = "events"
UNACKED = "unacked"  # kombu's hash of the messages workers hold: delivery tag -> [message, ...]


def requeue_lost_events(client: redis.Redis, *, stale_after: float, now: float, limit: int = 500) -> int:
    """Send again the task message of each event queued before `now - stale_after` whose task is in no
    queue and held by no worker; answers how many were sent."""
    stale: list[str] = client.zrangebyscore(  # type: ignore[assignment]
        keys.QUEUED_EVENTS, "-inf", now - stale_after, start=0, num=limit
    )
    if not stale or client.llen(QUEUE):
        return 0  # nothing old, or a backlog the tasks may still wait in: look again when it has drained
    held = "\n".join(client.hvals(UNACKED))  # type: ignore[arg-type]
    sent = 0
    for key in stale:
        status, task_id, message = client.hmget(key, ["status", "taskId", "message"])  # type: ignore[misc]
        if status != "queued" or not message:  # settled (or expired) meanwhile
            client.zrem(keys.QUEUED_EVENTS, key)
            continue
        if task_id and task_id in held:
            client.zadd(keys.QUEUED_EVENTS, {key: now})  # a worker holds it (a retry's countdown)
            continue
        with client.pipeline(transaction=True) as pipe:
            pipe.lpush(QUEUE, message)
            pipe.zadd(keys.QUEUED_EVENTS, {key: now})
            pipe.execute()
        sent += 1
        logger.warning(
            "a queued event's task was lost on its way to a worker: sent again", extra={"key": key}
        )
    return sent
