"""Queue `rewards`: fulfilling reward logs in Wix (rate-limited per instance by the Wix client)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import redis

from worker.celery_app import WorkerTask, app, redis_store
from worker.reward_fulfilment import earn_points as earn
from worker.reward_fulfilment import fulfil_reward as fulfil
from worker.reward_fulfilment import mark_reward
from worker.settings import get_settings
from worker.wix.client import WixClient, WixTransientError


@lru_cache
def wix_client() -> WixClient:
    """One client per worker process, made after the fork."""
    return WixClient.from_settings(get_settings(), redis_store())


class RewardTask(WorkerTask):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        with contextlib.suppress(redis.RedisError, KeyError):
            mark_reward(
                redis_store(),
                kwargs["instance_id"],
                kwargs["reward_log_id"],
                status="failed",
                now=datetime.now(UTC),
                error=f"{type(exc).__name__}: {exc} (parked in the dead-letter queue)",
            )


@app.task(name="rewards.fulfil_reward", base=RewardTask, bind=True)
def fulfil_reward(self: RewardTask, *, instance_id: str, reward_log_id: str) -> str:
    try:
        return fulfil(wix_client(), redis_store(), instance_id, reward_log_id, datetime.now(UTC))
    except WixTransientError as exc:
        # Wix's Retry-After when it gave one, never past the cap the visibility timeout allows.
        delay = min(exc.suggested_delay(self.request.retries), self.retry_backoff_max)
        raise self.retry(exc=exc, countdown=delay) from exc


@app.task(name="rewards.earn_points", bind=True)
def earn_points(
    self: WorkerTask,
    *,
    instance_id: str,
    contact_id: str,
    points: int,
    idempotency_key: str,
    description: str,
) -> None:
    try:
        earn(wix_client(), instance_id, contact_id, points, idempotency_key, description)
    except WixTransientError as exc:
        delay = min(exc.suggested_delay(self.request.retries), self.retry_backoff_max)
        raise self.retry(exc=exc, countdown=delay) from exc
