"""The operators' gauges, scraped from a registry over a real Redis: queue depth and the oldest message's
age per Celery queue, dead letters, running jobs, and Wix calls by outcome and status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import time_machine
from prometheus_client import CollectorRegistry

from worker.dispatch import QUEUES
from worker.jobs.runner import Jobs
from worker.runtime import dispatcher
from worker.runtime.queue_metrics import QueueCollector
from worker.runtime.task_messages import SENT_AT, build_task_message
from worker.store.dead_letters import DeadLetters
from worker.wix.client import WixClient, WixTransientError

T0 = 1_796_000_000.0  # 2026-11-30, any fixed instant


def scrape(client: Any, now: float) -> Callable[..., float | None]:
    registry = CollectorRegistry()
    registry.register(QueueCollector(client, clock=lambda: now))
    return registry.get_sample_value


def push(client: Any, queue: str, at: float) -> None:
    """A task message sent at `at`, as the receiver sends it (LPUSH: the broker takes from the right)."""
    with time_machine.travel(at, tick=False):
        _, message = build_task_message("events.process_wix_event", {"n": 1}, queue=queue)
    client.lpush(queue, message)


def test_empty_queues_show_zero_depth_and_age(real_redis) -> None:
    sample = scrape(real_redis, T0)
    for queue in QUEUES:
        assert sample("wrw_queue_depth", {"queue": queue}) == 0
        assert sample("wrw_queue_oldest_message_age_seconds", {"queue": queue}) == 0
    assert sample("wrw_dead_letters") == 0
    assert sample("wrw_jobs_running") == 0


def test_depth_and_the_age_of_the_next_message_to_be_taken(real_redis) -> None:
    push(real_redis, "events", T0 - 600)
    push(real_redis, "events", T0 - 60)
    push(real_redis, "events", T0 - 5)
    push(real_redis, "bulk", T0 - 30)
    sample = scrape(real_redis, T0)
    assert sample("wrw_queue_depth", {"queue": "events"}) == 3
    assert sample("wrw_queue_oldest_message_age_seconds", {"queue": "events"}) == pytest.approx(600)
    assert sample("wrw_queue_depth", {"queue": "bulk"}) == 1
    assert sample("wrw_queue_oldest_message_age_seconds", {"queue": "bulk"}) == pytest.approx(30)
    real_redis.rpop("events")  # a worker takes the oldest: the next one has waited a minute
    assert scrape(real_redis, T0)(
        "wrw_queue_oldest_message_age_seconds", {"queue": "events"}
    ) == pytest.approx(60)


def test_a_message_celery_publishes_carries_when_it_was_sent(real_redis) -> None:
    with time_machine.travel(T0 - 120, tick=False):
        dispatcher.send_task("rewards.fulfil_reward", {"instance_id": "i", "reward_log_id": "r"}, "rewards")
    [raw] = real_redis.lrange("rewards", 0, -1)
    assert json.loads(raw)["headers"][SENT_AT] == pytest.approx(T0 - 120)
    assert scrape(real_redis, T0)(
        "wrw_queue_oldest_message_age_seconds", {"queue": "rewards"}
    ) == pytest.approx(120)


def test_a_message_without_the_stamp_does_not_break_the_scrape(real_redis) -> None:
    real_redis.lpush("periodic", "not json")
    sample = scrape(real_redis, T0)
    assert sample("wrw_queue_depth", {"queue": "periodic"}) == 1
    assert sample("wrw_queue_oldest_message_age_seconds", {"queue": "periodic"}) == 0


def test_dead_letters_and_running_jobs(real_redis) -> None:
    for task_id in ("t1", "t2"):
        DeadLetters(real_redis).park(
            task_id=task_id, task_name="x", args=[], kwargs={}, queue="rewards", error="E", retries=3
        )
    jobs = Jobs(real_redis, {"sweep": lambda *_: None, "catch-up": lambda *_: None})  # type: ignore[dict-item]
    with time_machine.travel(T0 - 300, tick=False):
        first, _ = jobs.start("inst-1", "sweep")
    with time_machine.travel(T0 - 10, tick=False):
        jobs.start("inst-2", "catch-up")
    sample = scrape(real_redis, T0)
    assert sample("wrw_dead_letters") == 2
    assert sample("wrw_jobs_running") == 2
    assert sample("wrw_job_oldest_running_age_seconds") == pytest.approx(300)
    jobs.fail(first["id"], "stopped by hand")
    sample = scrape(real_redis, T0)
    assert sample("wrw_jobs_running") == 1
    assert sample("wrw_job_oldest_running_age_seconds") == pytest.approx(10)


def test_wix_calls_are_counted_by_outcome_and_status(real_redis) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, json={"contact": {"id": "c1"}}),
        httpx.Response(429, json={}),
        httpx.Response(503, json={}),
        httpx.ReadTimeout("read timed out"),
    ]

    def wix(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return httpx.Response(
                200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 14400}
            )
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(wix))
    with WixClient(
        http, real_redis, app_id="app", app_secret="s", attempts=1, sleep=lambda _: None
    ) as client:
        client.get_contact("inst-1", "c1")
        for _ in range(3):
            with pytest.raises(WixTransientError):
                client.get_contact("inst-1", "c1")
    sample = scrape(real_redis, T0)
    assert sample("wrw_wix_calls_total", {"outcome": "ok", "status": "200"}) == 2  # the token, the contact
    assert sample("wrw_wix_calls_total", {"outcome": "error", "status": "429"}) == 1
    assert sample("wrw_wix_calls_total", {"outcome": "error", "status": "503"}) == 1
    assert sample("wrw_wix_calls_total", {"outcome": "timeout", "status": "none"}) == 1


def test_redis_away_yields_no_gauges_and_no_error() -> None:
    import redis

    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    assert scrape(away, T0)("wrw_queue_depth", {"queue": "events"}) is None


def test_on_a_cluster_store_the_queues_are_read_on_the_brokers_redis(real_redis, cluster_store) -> None:
    """STORE_CLUSTER: the queues' depth and age come from the Redis broker, the dead letters and jobs from
    the cluster (where the queues are not)."""
    push(real_redis, "events", T0 - 90)
    push(real_redis, "events", T0 - 5)
    DeadLetters(cluster_store).park(
        task_id="t1", task_name="x", args=[], kwargs={}, queue="rewards", error="E", retries=3
    )
    registry = CollectorRegistry()
    registry.register(QueueCollector(cluster_store, clock=lambda: T0, broker=real_redis))
    sample = registry.get_sample_value
    assert sample("wrw_queue_depth", {"queue": "events"}) == 2
    assert sample("wrw_queue_oldest_message_age_seconds", {"queue": "events"}) == pytest.approx(90)
    assert sample("wrw_queue_depth", {"queue": "bulk"}) == 0
    assert sample("wrw_dead_letters") == 1
