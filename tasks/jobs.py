"""Queues `bulk` and `periodic`: jobs, one batch per task, each batch sending the next."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.jobs.monthly_messages import program_zone
from worker.jobs.registry import KINDS, NEEDS_WIX, job_queue
from worker.jobs.runner import Jobs
from worker.runtime.celery_app import WorkerTask, app
from worker.runtime.providers import job_context, redis_store
from worker.settings import get_settings, wix_configured
from worker.store.instances import is_removed

logger = logging.getLogger(__name__)


def _jobs() -> Jobs:
    return Jobs(redis_store(), KINDS)


def send_batch(job_id: str, name: str, wait_seconds: float = 0.0) -> None:
    # A wait (a spent rate limit) is a countdown, never past what the visibility timeout allows.
    countdown = min(wait_seconds, WorkerTask.retry_backoff_max) or None
    run_job_batch_task.apply_async(kwargs={"job_id": job_id}, queue=job_queue(name), countdown=countdown)


class JobStuck(Exception):
    """The job made no progress for `worker.jobs.runner.MAX_STALLS` batches in a row; its record says why."""


class JobTask(WorkerTask):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Parked in the dead-letter queue so that a replay resumes the job, and the job says it failed
        (a stuck one has said so already)."""
        super().on_failure(exc, task_id, args, {**(kwargs or {}), "resume": True}, einfo)
        if not isinstance(exc, JobStuck):
            with contextlib.suppress(redis.RedisError, KeyError):
                _jobs().fail(kwargs["job_id"], f"{type(exc).__name__}: {exc}")


@app.task(name="bulk.run_job_batch", base=JobTask)
def run_job_batch_task(*, job_id: str, resume: bool = False) -> None:
    """One batch of the job, then the next one sent; `resume` (a replayed dead letter) runs a failed job
    again from its cursor."""
    jobs = _jobs()
    if resume:
        jobs.resume(job_id)
    batch = jobs.run_batch(job_id, datetime.now(UTC), job_context())
    record = jobs.get(job_id)
    if batch is None or record is None:
        return
    if record["status"] == "failed":
        raise JobStuck(record["failures"][-1] if record["failures"] else "no progress")
    if batch.cursor is not None:
        send_batch(job_id, record["name"], batch.wait_seconds)


@app.task(name="periodic.start_job_everywhere")
def start_job_everywhere_task(*, name: str, local_day: int | None = None) -> int:
    """Beat's entry point: start `name` for every instance that has a program; answers how many started.
    With `local_day`, only where it is that day of the month in the program's timezone."""
    if name in NEEDS_WIX and not wix_configured(get_settings()):
        logger.info("%s not started: Wix is not configured (WIX_APP_ID, WIX_APP_SECRET)", name)
        return 0
    store, jobs, started, now = redis_store(), _jobs(), 0, datetime.now(UTC)
    for key in store.scan_iter(match=keys.PROGRAMS, count=1000):
        instance_id = keys.program_instance(key)
        if is_removed(store, instance_id):  # the app was removed from the site: no job for it
            continue
        if local_day is not None and now.astimezone(program_zone(store, instance_id)).day != local_day:
            continue
        record, new = jobs.start(instance_id, name, started_by="beat")
        if new:
            send_batch(record["id"], name)
            started += 1
    return started
