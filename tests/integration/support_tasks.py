"""Tasks loaded only into the integration tests' worker, to hold a task while it is killed and to fail
on demand. They use the service's own base task, configuration and routing (namespace `events.`)."""

from __future__ import annotations

import time

from worker.runtime.celery_app import app
from worker.runtime.providers import redis_store


@app.task(name="events.test_slow_effect")
def slow_effect(key: str, seconds: float) -> None:
    """Counts an attempt, works for `seconds`, then records that it finished."""
    store = redis_store()
    store.incr(f"{key}:attempts")
    time.sleep(seconds)
    store.incr(f"{key}:done")


@app.task(name="events.test_flaky", max_retries=2)
def flaky(key: str) -> None:
    """Fails with a transient error while `{key}:broken` exists, else records success."""
    store = redis_store()
    store.incr(f"{key}:attempts")
    if store.exists(f"{key}:broken"):
        raise ConnectionError("the downstream is unavailable")
    store.incr(f"{key}:done")
