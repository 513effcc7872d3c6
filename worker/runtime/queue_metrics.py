"""Gauges for operators' monitors, read from Redis at scrape time (`/metrics`), a few calls in one round
trip (and one to the broker) whatever the data's size (no KEYS or SCAN):

- `wrw_queue_depth{queue}`: messages waiting on each Celery queue (the Redis broker's list of that name;
  messages a worker has taken are not in it); on RabbitMQ each queue's ready messages
  (worker/runtime/amqp_queue_depths.py);
- `wrw_queue_oldest_message_age_seconds{queue}`: how long the next message to be taken (the list's
  right end: kombu takes with BRPOP) has waited, from the `wrw_sent_at` header every message carries
  (worker/runtime/sent_at.py); 0 for an empty queue; the Redis broker's only (RabbitMQ cannot tell it
  without taking the message);
- `wrw_dead_letters`: tasks parked in the dead-letter queue (worker/store/dead_letters.py);
- `wrw_jobs_running` and `wrw_job_oldest_running_age_seconds` (worker/jobs/runner.py);
- `wrw_wix_calls_total{outcome, status}`: the Wix calls the workers made (worker/wix/call_counts.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from worker import keys
from worker.dispatch import QUEUES
from worker.infra.redis_client import WEB_TIMEOUT, sync_client
from worker.jobs.runner import RUNNING_TTL_SECONDS
from worker.runtime.amqp_queue_depths import AmqpQueueDepths
from worker.runtime.task_messages import SENT_AT
from worker.settings import Settings


def sent_at(message: str | None) -> float | None:
    """When a raw broker message was sent, from its header; None when it has none (or is not JSON)."""
    if message is None:
        return None
    try:
        stamp = json.loads(message).get("headers", {}).get(SENT_AT)
    except (ValueError, AttributeError):
        return None
    return float(stamp) if isinstance(stamp, int | float) else None


def broker_queues(settings: Settings) -> redis.Redis | AmqpQueueDepths | None:
    """Where the queue gauges read the Celery queues when the broker is not the store's Redis: None when
    it is (the store's client reads them)."""
    broker = settings.broker_address
    if broker is None or broker == settings.store_address:
        return None
    if settings.broker_is_amqp:
        return AmqpQueueDepths(broker)
    return sync_client(broker, timeout=WEB_TIMEOUT, retries=False)


class QueueCollector(Collector):
    """`client` is the store; `broker` the broker's Redis, or RabbitMQ's depths, when the broker is not the
    store's Redis (a Redis Cluster store always has one): the queues are read there, the rest in the store."""

    def __init__(
        self,
        client: redis.Redis,
        clock: Callable[[], float] = time.time,
        broker: redis.Redis | AmqpQueueDepths | None = None,
    ) -> None:
        self._redis = client
        self._clock = clock
        self._broker = broker

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.hlen(keys.DEAD_LETTERS)
                pipe.zcount(keys.JOBS_RUNNING, now - RUNNING_TTL_SECONDS, "+inf")
                pipe.zrangebyscore(
                    keys.JOBS_RUNNING, now - RUNNING_TTL_SECONDS, "+inf", start=0, num=1, withscores=True
                )
                pipe.hgetall(keys.WIX_CALLS)
                answers = pipe.execute()
        except redis.RedisError:
            return  # no gauges rather than wrong ones: an absent series is what to alert on
        yield from self._queue_gauges(now)
        dead, running, oldest_job, wix_calls = answers
        yield GaugeMetricFamily(
            "wrw_dead_letters", "Tasks parked in the dead-letter queue", value=float(dead)
        )
        yield GaugeMetricFamily("wrw_jobs_running", "Bulk and periodic jobs running", value=float(running))
        yield GaugeMetricFamily(
            "wrw_job_oldest_running_age_seconds",
            "How long the longest-running job has run (0 when none runs)",
            value=max(0.0, now - oldest_job[0][1]) if oldest_job else 0.0,
        )
        calls = CounterMetricFamily(
            "wrw_wix_calls", "Calls to Wix's APIs, by outcome and HTTP status", labels=["outcome", "status"]
        )
        for field, value in sorted(wix_calls.items()):
            outcome, _, status = field.partition("|")
            calls.add_metric([outcome, status], float(value))
        yield calls

    def _queue_gauges(self, now: float) -> Iterator[Metric]:
        """Depth (and, on a Redis broker, the oldest message's age) of each queue; none when the broker
        does not answer."""
        depth = GaugeMetricFamily(
            "wrw_queue_depth", "Messages waiting on each Celery queue", labels=["queue"]
        )
        if isinstance(self._broker, AmqpQueueDepths):
            try:
                depths = self._broker.depths(QUEUES)
            except Exception:  # RabbitMQ does not answer: no depth rather than a wrong one
                return
            for queue in QUEUES:
                depth.add_metric([queue], float(depths[queue]))
            yield depth
            return
        client = self._broker if self._broker is not None else self._redis
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in QUEUES:
                    pipe.llen(queue)
                    pipe.lindex(queue, -1)
                answers = pipe.execute()
        except redis.RedisError:
            return
        age = GaugeMetricFamily(
            "wrw_queue_oldest_message_age_seconds",
            "How long the next message of each Celery queue has waited (0 when the queue is empty)",
            labels=["queue"],
        )
        for index, queue in enumerate(QUEUES):
            length, oldest = answers[2 * index], answers[2 * index + 1]
            depth.add_metric([queue], float(length))
            stamp = sent_at(oldest)
            age.add_metric([queue], max(0.0, now - stamp) if stamp is not None else 0.0)
        yield depth
        yield age
