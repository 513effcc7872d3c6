"""What a recorded log sets in motion: fulfilling the reward logs it created (queue `rewards`).

The web app and the event task hand new reward logs to a `FollowUps`; the Celery one sends a
`rewards.fulfil_reward` task by name for each coupon or points reward (manual ones wait for a person).
A reward log whose task could not be sent stays `pending`, where the catch-up job finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, Protocol

from worker.points_rules import PointsEarn
from worker.triggers import MILESTONE_ACHIEVED

logger = logging.getLogger(__name__)

FULFIL_TASK = "rewards.fulfil_reward"
EARN_TASK = "rewards.earn_points"
TRIGGER_TASK = "rewards.report_trigger"
JOB_TASK = "bulk.run_job_batch"


def needs_fulfilment(reward_log: dict[str, Any]) -> bool:
    reward = reward_log.get("reward") or {}
    return reward.get("type") in ("coupon", "points")


class FollowUps(Protocol):
    def fulfil(self, instance_id: str, reward_log_ids: Iterable[str]) -> None: ...

    def earn(self, instance_id: str, earns: Iterable[PointsEarn]) -> None: ...

    def report(self, instance_id: str, trigger_key: str, reward_log_ids: Iterable[str]) -> None: ...

    def run_job(self, job_id: str, queue: str) -> None: ...

    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None: ...


class CeleryFollowUps:
    def fulfil(self, instance_id: str, reward_log_ids: Iterable[str]) -> None:
        from worker.celery_app import app

        for reward_log_id in reward_log_ids:
            app.send_task(
                FULFIL_TASK,
                kwargs={"instance_id": instance_id, "reward_log_id": reward_log_id},
                queue="rewards",
            )

    def earn(self, instance_id: str, earns: Iterable[PointsEarn]) -> None:
        from worker.celery_app import app

        for earn in earns:
            app.send_task(EARN_TASK, kwargs={"instance_id": instance_id, **asdict(earn)}, queue="rewards")

    def report(self, instance_id: str, trigger_key: str, reward_log_ids: Iterable[str]) -> None:
        from worker.celery_app import app

        for reward_log_id in reward_log_ids:
            kwargs = {"instance_id": instance_id, "trigger_key": trigger_key, "reward_log_id": reward_log_id}
            app.send_task(TRIGGER_TASK, kwargs=kwargs, queue="rewards")

    def run_job(self, job_id: str, queue: str) -> None:
        from worker.celery_app import app

        app.send_task(JOB_TASK, kwargs={"job_id": job_id}, queue=queue)

    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None:
        from worker.celery_app import app

        app.send_task(task, kwargs=kwargs, queue=queue)


class RecordedFollowUps:
    """Keeps what would have been sent (tests, and the web app's unit tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.earns: list[tuple[str, PointsEarn]] = []
        self.reports: list[tuple[str, str, str]] = []
        self.jobs: list[tuple[str, str]] = []
        self.resent: list[tuple[str, dict[str, Any], str]] = []

    def fulfil(self, instance_id: str, reward_log_ids: Iterable[str]) -> None:
        self.sent.extend((instance_id, reward_log_id) for reward_log_id in reward_log_ids)

    def earn(self, instance_id: str, earns: Iterable[PointsEarn]) -> None:
        self.earns.extend((instance_id, earn) for earn in earns)

    def report(self, instance_id: str, trigger_key: str, reward_log_ids: Iterable[str]) -> None:
        self.reports.extend((instance_id, trigger_key, reward_log_id) for reward_log_id in reward_log_ids)

    def run_job(self, job_id: str, queue: str) -> None:
        self.jobs.append((job_id, queue))

    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None:
        self.resent.append((task, kwargs, queue))


def fulfil_new_rewards(
    follow_ups: FollowUps, instance_id: str, reward_logs: Iterable[dict[str, Any]]
) -> None:
    """Report each new reward log's milestone to Wix's automations and send fulfilment for the coupon
    and points rewards among them; never fails the caller."""
    reward_logs = list(reward_logs)
    ids = [reward_log["id"] for reward_log in reward_logs if needs_fulfilment(reward_log)]
    try:
        if reward_logs:
            follow_ups.report(
                instance_id, MILESTONE_ACHIEVED, [reward_log["id"] for reward_log in reward_logs]
            )
        if ids:
            follow_ups.fulfil(instance_id, ids)
    except Exception:  # the log is recorded; the catch-up job will find the pending reward
        logger.exception("could not send reward follow-ups", extra={"reward_log_ids": ids})
