"""The one way to send a task: every task's name and queue, and the `Dispatcher` that sends them.

Celery's routes (celeryconfig.py), the receiver's queue (worker/web/event_queue.py), the outbox's
intents, the points gate's parked tasks and the dead-letter replay all read their names and queues here.
Task names never change (a message already in Redis finds its task by name), whatever module holds it.
The Celery dispatcher is `worker.runtime.dispatcher.CeleryDispatcher`; `RecordedDispatcher` keeps what
would have been sent (tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from worker.loyalty.points_rules import PointsEarn

QUEUES = ("events", "rewards", "bulk", "periodic")

PROCESS_EVENT = "events.process_wix_event"
FULFIL_REWARD = "rewards.fulfil_reward"
EARN_POINTS = "rewards.earn_points"
REPORT_TRIGGER = "rewards.report_trigger"
REPORT_EVENT = "rewards.report_event"  # a trigger event not about a reward log
REVERSE_POINTS = "rewards.reverse_points"  # a cancelled or refunded order's points taken back
REVOKE_REWARD = "rewards.revoke_reward"  # a cancelled order's reward coupon deleted in Wix
PUSH_POINTS_UPDATE = "sync.push_points_update"
APPLY_EXTERNAL_POINTS = "sync.apply_external_points"
RUN_JOB_BATCH = "bulk.run_job_batch"
START_JOB_EVERYWHERE = "periodic.start_job_everywhere"
RELAY_OUTBOX = "periodic.relay_outbox"
REQUEUE_LOST_EVENTS = "periodic.requeue_lost_events"
ON_INSTALLED = "installs.on_installed"
PURGE_REMOVED_INSTANCES = "periodic.purge_removed_instances"
REPORT_TIER_CHANGED = "rewards.report_tier_changed"  # tier names read from Wix when it is sent

TASKS: dict[str, str] = {
    PROCESS_EVENT: "events",
    FULFIL_REWARD: "rewards",
    EARN_POINTS: "rewards",
    REPORT_TRIGGER: "rewards",
    REPORT_EVENT: "rewards",
    REVERSE_POINTS: "rewards",
    REVOKE_REWARD: "rewards",
    # Points sync: Wix calls and POSTs to the external system.
    PUSH_POINTS_UPDATE: "rewards",
    APPLY_EXTERNAL_POINTS: "rewards",
    # A job's batches go on its kind's queue (worker.jobs.registry.QUEUES); this is the default.
    RUN_JOB_BATCH: "bulk",
    START_JOB_EVERYWHERE: "periodic",
    RELAY_OUTBOX: "periodic",
    REQUEUE_LOST_EVENTS: "periodic",
    # Install and removal (worker/installs/): Wix calls on install; the daily purge of removed sites.
    ON_INSTALLED: "rewards",
    PURGE_REMOVED_INSTANCES: "periodic",
    REPORT_TIER_CHANGED: "rewards",
}
"""Task name → the queue it is sent to."""


def queue_of(task: str) -> str:
    return TASKS[task]


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: each namespace (`events.*`, `sync.*`, ...) to the queue of its tasks, so a
    task sent by name without a queue still lands where its namespace's tasks go."""
    routes: dict[str, dict[str, str]] = {}
    for name, queue in TASKS.items():
        route = routes.setdefault(f"{name.split('.')[0]}.*", {"queue": queue})
        if route["queue"] != queue:
            raise ValueError(f"{name} is not on its namespace's queue {route['queue']!r}")
    return routes


class Dispatcher(Protocol):
    """Sends tasks by name; never imports a task module."""

    def fulfil(self, instance_id: str, reward_log_ids: Iterable[str]) -> None: ...

    def earn(self, instance_id: str, earns: Iterable[PointsEarn]) -> None: ...

    def report(self, instance_id: str, trigger_key: str, reward_log_ids: Iterable[str]) -> None: ...

    def run_job(self, job_id: str, queue: str) -> None: ...

    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None: ...


class RecordedDispatcher:
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
