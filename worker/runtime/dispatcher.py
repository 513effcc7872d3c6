"""The `Dispatcher` that sends through the Celery app, by task name (worker/dispatch.py).

The app is imported on first send, so a process that never sends imports no Celery app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from worker.dispatch import EARN_POINTS, FULFIL_REWARD, REPORT_TRIGGER, RUN_JOB_BATCH, queue_of
from worker.loyalty.points_rules import PointsEarn


def send_task(task: str, kwargs: dict[str, Any], queue: str) -> None:
    """Send one task by name on `queue`."""
    from worker.runtime.celery_app import app

    app.send_task(task, kwargs=kwargs, queue=queue)


def replay(entry: dict[str, Any]) -> None:
    """Send a dead letter's task again as it was parked (worker/runtime/dead_letters.py)."""
    from worker.runtime.celery_app import app

    app.send_task(entry["task"], args=entry["args"], kwargs=entry["kwargs"], queue=entry.get("queue"))


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
