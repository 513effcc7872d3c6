"""Queue `periodic`: the outbox relay (worker/store/outbox.py)."""

from __future__ import annotations

import time

from worker.runtime.celery_app import app
from worker.runtime.dispatcher import CeleryDispatcher
from worker.runtime.providers import redis_store
from worker.store.outbox import RESEND_AFTER_SECONDS, relay


@app.task(name="periodic.relay_outbox")
def relay_outbox_task(*, min_age_seconds: float = RESEND_AFTER_SECONDS) -> int:
    """Send every intent no worker took in time (beat, every minute); answers how many were sent."""
    return relay(redis_store(), CeleryDispatcher().resend, time.time(), min_age_seconds)
