"""What a recorded log sets in motion: fulfilling the reward logs it created (queue `rewards`).

The web app and the event task hand new reward logs to a `FollowUps`; the Celery one sends a
`rewards.fulfil_reward` task by name for each coupon or points reward (manual ones wait for a person).
The store wrote the same tasks as intents into the member's outbox in the step that created the reward
logs (worker/outbox.py): if this send fails, or the process dies before it, the relay sends them within
a couple of minutes, and a duplicate of the request sends them again at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, Protocol

import redis

from worker import outbox
from worker.outbox import FULFIL_TASK, TRIGGER_TASK, needs_fulfilment
from worker.points_rules import PointsEarn
from worker.progress_store import Outcome, outbox_key
from worker.triggers import MILESTONE_ACHIEVED

logger = logging.getLogger(__name__)

EARN_TASK = "rewards.earn_points"
JOB_TASK = "bulk.run_job_batch"


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
    if reward_logs:
        outbox.crash_after_commit_for_tests()
    ids = [reward_log["id"] for reward_log in reward_logs if needs_fulfilment(reward_log)]
    try:
        if reward_logs:
            follow_ups.report(
                instance_id, MILESTONE_ACHIEVED, [reward_log["id"] for reward_log in reward_logs]
            )
        if ids:
            follow_ups.fulfil(instance_id, ids)
    except Exception:  # the intents are in the member's outbox: the relay sends them
        logger.exception("could not send reward follow-ups", extra={"reward_log_ids": ids})


def send_follow_ups(follow_ups: FollowUps, client: redis.Redis, instance_id: str, outcome: Outcome) -> None:
    """After a log was recorded: a new log's follow-ups go now; a duplicate's original sends again, at
    once, whatever it committed that no worker has taken yet (its send may have failed, or its process
    died). Never fails the caller."""
    if not outcome.duplicate:
        fulfil_new_rewards(follow_ups, instance_id, outcome.reward_logs)
        return
    by_contact: dict[str, list[str]] = {}
    for reward_log in outcome.answer.get("achievedMilestoneRewardLogs") or []:
        intents = outbox.reward_intents(instance_id, reward_log)
        by_contact.setdefault(reward_log["contactId"], []).extend(intent.id for intent in intents)
    for contact_id, intent_ids in by_contact.items():
        outbox.resend_pending(
            client, outbox_key(instance_id, contact_id), intent_ids, follow_ups.resend, time.time()
        )
