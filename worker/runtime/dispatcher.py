"""The `Dispatcher` that sends through Celery, by task name (worker/dispatch.py).

A worker process sends with its own app (worker.runtime.celery_app). Any other process (the web app,
the CLI) sends with a producer-only app made from the same configuration: it imports no task module and
no worker signal handler, so the web process never imports the Celery app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import asdict
from functools import lru_cache
from typing import Any

from celery import Celery

from worker.dispatch import EARN_POINTS, FULFIL_REWARD, REPORT_TRIGGER, RUN_JOB_BATCH, queue_of
from worker.loyalty.points_rules import PointsEarn
from worker.runtime import sent_at  # noqa: F401  # stamps every published message


@lru_cache
def _producer() -> Celery:
    app = Celery("worker", set_as_current=False)
    # CELERY_CONFIG_MODULE names another module (one that imports celeryconfig and overrides a little).
    app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE", "celeryconfig"))
    return app


def _app() -> Celery:
    """The worker's own app when this process has it, else the producer-only app."""
    worker_app = sys.modules.get("worker.runtime.celery_app")
    return worker_app.app if worker_app is not None else _producer()


def send_task(task: str, kwargs: dict[str, Any], queue: str) -> None:
    """Send one task by name on `queue`."""
    _app().send_task(task, kwargs=kwargs, queue=queue)


def replay(entry: dict[str, Any]) -> None:
    """Send a dead letter's task again as it was parked (worker/store/dead_letters.py)."""
    _app().send_task(entry["task"], args=entry["args"], kwargs=entry["kwargs"], queue=entry.get("queue"))


class CeleryDispatcher:
    def fulfil(self, instance_id: str, reward_log_ids: Iterable[str]) -> None:
        for reward_log_id in reward_log_ids:
            kwargs = {"instance_id": instance_id, "reward_log_id": reward_log_id}
            send_task(FULFIL_REWARD, kwargs, queue_of(FULFIL_REWARD))

    def earn(self, instance_id: str, earns: Iterable[PointsEarn]) -> None:
        for earn in earns:
            send_task(EARN_POINTS, {"instance_id": instance_id, **asdict(earn)}, queue_of(EARN_POINTS))

    def report(self, instance_id: str, trigger_key: str, reward_log_ids: Iterable[str]) -> None:
        for reward_log_id in reward_log_ids:
            kwargs = {"instance_id": instance_id, "trigger_key": trigger_key, "reward_log_id": reward_log_id}
            send_task(REPORT_TRIGGER, kwargs, queue_of(REPORT_TRIGGER))

    def run_job(self, job_id: str, queue: str) -> None:
        send_task(RUN_JOB_BATCH, {"job_id": job_id}, queue)

    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None:
        send_task(task, kwargs, queue)


def send_by_name(task: str, kwargs: dict[str, Any]) -> None:
    """Send one task by name on its own queue (TASKS)."""
    send_task(task, kwargs, queue_of(task))
