"""The Celery app, its base task class (retries, dead letters) and its signal handlers.

Task defaults live here once: every task retries transient errors with exponential backoff and
jitter, and a task that still fails is parked in the dead-letter queue with its arguments.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import kombu.exceptions
import redis
from celery import Celery, Task, signals

from worker.infra import log_config
from worker.infra.error_reporting import init_sentry
from worker.infra.redis_client import check_broker_server, require_redis_url
from worker.retry_policy import retry_policy
from worker.runtime import sent_at  # noqa: F401  # stamps every published message
from worker.runtime.metrics import count_task_outcome
from worker.runtime.providers import redis_store
from worker.settings import SettingsError, get_settings
from worker.store.dead_letters import DeadLetters
from worker.store.progress import Contention
from worker.wix.client import WixTransientError

logger = logging.getLogger(__name__)

_settings = get_settings()
try:
    _settings.check_for_production()
    require_redis_url(_settings)
except SettingsError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

_policy = retry_policy(_settings.celery_visibility_timeout)

# Errors that may pass if we try again later.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Contention,  # other writers kept changing one member's progress: try again later
    WixTransientError,  # 429, 5xx, timeouts (tasks that call Wix retry these themselves, after Retry-After)
    redis.ConnectionError,
    redis.TimeoutError,
    kombu.exceptions.OperationalError,  # the broker would not take a follow-up task (send_task)
    ConnectionError,
    TimeoutError,
)


def in_place_deadline() -> float:
    """Until when (`time.monotonic()`) a task may do its Wix work again in place after a passing failure
    (`worker.wix.client.retry_in_place`): half the soft time limit from now, so it ends inside it."""
    return time.monotonic() + _policy.soft_time_limit / 2


class WorkerTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = _policy.backoff_max
    retry_jitter = True
    max_retries = _policy.max_retries

    def retry_after_wix(self, exc: WixTransientError) -> BaseException:
        """Celery's retry, after Wix's Retry-After when it gave one, never past the cap the visibility
        timeout allows (see worker.retry_policy). `raise task.retry_after_wix(exc) from exc`."""
        delay = min(exc.suggested_delay(self.request.retries), self.retry_backoff_max)
        retry: BaseException = self.retry(exc=exc, countdown=delay)
        return retry

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Park the task in the dead-letter queue so an operator can see and replay it."""
        delivery_info = getattr(self.request, "delivery_info", None) or {}
        try:
            DeadLetters(redis_store()).park(
                task_id=task_id,
                task_name=self.name,
                args=list(args or ()),
                kwargs=dict(kwargs or {}),
                queue=delivery_info.get("routing_key"),
                error=f"{type(exc).__name__}: {exc}",
                retries=self.request.retries,
            )
        except redis.RedisError:
            logger.exception("could not park a failed task in the dead-letter queue")
        logger.error("task failed for good and was parked", extra={"task": self.name})


app = Celery(
    "worker",
    task_cls=WorkerTask,
    include=[
        "tasks.events",
        "tasks.rewards",
        "tasks.jobs",
        "tasks.points_sync",
        "tasks.outbox",
        "tasks.installs",
    ],
)
# CELERY_CONFIG_MODULE names another module (one that imports celeryconfig and overrides a little).
app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE", "celeryconfig"))
# Celery's command line reads BROKER_URL as its own `--broker` and exports it as CELERY_BROKER_URL, which
# Celery prefers to the configuration: the raw URL would replace celeryconfig's reading of it (kombu's form
# of a sentinel:// URL, an amqps:// URL without its TLS parameters), and kombu refuses those at start.
if os.environ.get("BROKER_URL") and os.environ.get("CELERY_BROKER_URL") == os.environ.get("BROKER_URL"):
    del os.environ["CELERY_BROKER_URL"]
init_sentry(_settings)


@signals.celeryd_init.connect
def _check_the_broker(**_: Any) -> None:
    """What the web process checks at start (worker.infra.redis_client.check_broker_server), checked as a
    worker starts too: a Redis Cluster node as the broker stops it with one line (kombu would fail on
    every push to another node's slots), a Redis broker of its own without AOF or with eviction is named."""
    try:
        problems = check_broker_server(_settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for problem in problems:
        logger.warning(problem)


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    log_config.configure_logging(_settings.log_level, json_lines=_settings.is_production)


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    kwargs = kwargs or {}
    log_config.bind(task_id=task_id, instance_id=kwargs.get("instance_id"), event_id=kwargs.get("event_id"))


@signals.task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    log_config.clear()


def _count(sender: Any, outcome: str) -> None:
    try:
        count_task_outcome(redis_store(), getattr(sender, "name", str(sender)), outcome)
    except redis.RedisError:
        logger.warning("could not count a task outcome")


@signals.task_success.connect
def _count_success(sender: Any = None, **_: Any) -> None:
    _count(sender, "succeeded")


@signals.task_retry.connect
def _count_retry(sender: Any = None, **_: Any) -> None:
    _count(sender, "retried")


@signals.task_failure.connect
def _count_failure(sender: Any = None, **_: Any) -> None:
    _count(sender, "failed")
