"""Prometheus metrics. The receiver counts in process; task outcomes are counted in Redis by the
workers (they are other processes) and read back by `/metrics` at scrape time.

Several receiver processes on one port (`WEB_PROCESSES`, or uvicorn's `--workers`) answer /metrics in
turn, so each would show only its own counts. With `PROMETHEUS_MULTIPROC_DIR` set, prometheus-client's
multiprocess mode keeps every process's counts in files there and each scrape sums them all
(`python -m worker web` sets it up by itself when it runs more than one process)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from worker import keys
from worker.settings import SettingsError
from worker.wix.envelope import HANDLED_EVENT_TYPES

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it when it is first imported


def metric_registries() -> tuple[CollectorRegistry, CollectorRegistry]:
    """(the registry this process's own metrics go in, the one `/metrics` answers from): one registry,
    or with `PROMETHEUS_MULTIPROC_DIR` set, one whose collector sums every process's files there."""
    own = CollectorRegistry()
    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return own, own
    if not Path(directory).is_dir():
        raise SettingsError(f"{MULTIPROCESS_DIR}={directory} is not a directory")
    exposed = CollectorRegistry()
    MultiProcessCollector(exposed, path=directory)  # type: ignore[no-untyped-call]
    return own, exposed


def fresh_multiprocess_dir() -> tuple[Path, bool]:
    """The directory for several processes' counts, emptied of an earlier run's (whose processes are
    gone: their counts would be added to this run's): `PROMETHEUS_MULTIPROC_DIR` when set, else a new
    temporary one. Also whether it was made here (the caller removes it when done)."""
    named = os.environ.get(MULTIPROCESS_DIR)
    if not named:
        return Path(tempfile.mkdtemp(prefix="wrw-metrics-")), True
    directory = Path(named)
    if not directory.is_dir():
        raise SettingsError(f"{MULTIPROCESS_DIR}={named} is not a directory")
    for stale in directory.glob("*.db"):  # only prometheus-client's own files
        stale.unlink()
    return directory, False


def event_type_label(event_type: str | None) -> str:
    """Bounded label values: the types we handle by name, anything else as `other`."""
    if event_type is None:
        return "unknown"
    return event_type if event_type in HANDLED_EVENT_TYPES else "other"


class ReceiverMetrics:
    def count(self, event_type: str, outcome: str) -> None:
        """Count one webhook; the labelled child is looked up once per pair (this is the hot path)."""
        child = self._children.get((event_type, outcome))
        if child is None:
            child = self._children[(event_type, outcome)] = self.webhooks.labels(event_type, outcome)
        child.inc()

    def __init__(self, registry: CollectorRegistry) -> None:
        self._children: dict[tuple[str, str], Any] = {}
        self.webhooks = Counter(
            "wix_webhooks",
            "Webhooks received, by event type and outcome",
            ["event_type", "outcome"],
            registry=registry,
        )
        self.enqueue_seconds = Histogram(
            "wix_webhook_enqueue_seconds",
            "Time to put one webhook on the queue (one Redis call)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )


def count_task_outcome(client: redis.Redis, task_name: str, outcome: str) -> None:
    client.hincrby(keys.TASK_OUTCOMES, f"{task_name}|{outcome}", 1)


class TaskOutcomeCollector(Collector):
    """`celery_tasks_total{task, outcome}` from the counters the workers keep in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "celery_tasks", "Tasks run by the workers, by outcome", labels=["task", "outcome"]
        )
        try:
            raw: dict[str, str] = self._redis.hgetall(keys.TASK_OUTCOMES)  # type: ignore[assignment]
        except redis.RedisError:
            raw = {}
        for field, value in sorted(raw.items()):
            task, _, outcome = field.partition("|")
            family.add_metric([task, outcome], float(value))
        yield family
