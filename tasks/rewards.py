"""Queue `rewards`: fulfilling reward logs in Wix (rate-limited per instance by the Wix client).

Each task's Wix work is idempotent as a whole (a coupon code derived from the reward log, Wix's
idempotency keys, an account looked up before it is made), so a passing failure that outlasts the
client's tries in place does it all again in place (`retry_in_place`) before Celery retries it later.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.loyalty.points_rules import PointsEarn
from worker.rewards.automation_triggers import (
    REWARD_ISSUED,
    TIER_CHANGED,
    report_event,
    report_points_earned,
    report_points_reversed,
    report_trigger,
)
from worker.rewards.fulfilment import earn_points, fulfil_reward, mark_reward
from worker.rewards.reversal import delete_reward_coupon, record_earned, take_back_points
from worker.rewards.tier_changes import report_tier_changed
from worker.runtime.celery_app import WorkerTask, app, in_place_deadline
from worker.runtime.dispatcher import CeleryDispatcher
from worker.runtime.providers import redis_store, wix_client
from worker.store import outbox, trigger_marks
from worker.store.outbox import earn_intent_id, fulfil_intent_id, report_intent, report_intent_id
from worker.store.progress import ProgressStore
from worker.store.stats import count_points_earned
from worker.wix.client import WixTransientError, retry_in_place


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
def fulfil_reward_task(self: RewardTask, *, instance_id: str, reward_log_id: str) -> str:
    ProgressStore(redis_store()).take_intent(instance_id, reward_log_id, fulfil_intent_id(reward_log_id))
    try:
        status = retry_in_place(
            lambda: fulfil_reward(wix_client(), redis_store(), instance_id, reward_log_id, datetime.now(UTC)),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    if status == "issued":  # the intent first: a message lost on its way is relayed (worker/store/outbox.py)
        intent = report_intent(instance_id, REWARD_ISSUED, reward_log_id)
        ProgressStore(redis_store()).put_intent(instance_id, reward_log_id, intent, time.time())
        CeleryDispatcher().report(instance_id, REWARD_ISSUED, [reward_log_id])
    return status


@app.task(name="rewards.earn_points", bind=True)
def earn_points_task(
    self: WorkerTask,
    *,
    instance_id: str,
    contact_id: str,
    points: int,
    idempotency_key: str,
    description: str,
) -> None:
    outbox.take(redis_store(), keys.member_outbox(instance_id, contact_id), earn_intent_id(idempotency_key))
    try:
        retry_in_place(
            lambda: earn_points(wix_client(), instance_id, contact_id, points, idempotency_key, description),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    count_points_earned(redis_store(), instance_id, idempotency_key, points, datetime.now(UTC))
    earned = PointsEarn(contact_id, points, idempotency_key, description)
    record_earned(redis_store(), CeleryDispatcher(), instance_id, earned)  # its order cancelled meanwhile?
    report_points_earned(redis_store(), CeleryDispatcher(), instance_id, earned, datetime.now(UTC))


@app.task(name="rewards.report_event", bind=True)
def report_event_task(
    self: WorkerTask,
    *,
    instance_id: str,
    contact_id: str,
    trigger_key: str,
    entity: str,
    payload: dict[str, Any],
) -> None:
    outbox_key = keys.member_outbox(instance_id, contact_id)
    outbox.take(redis_store(), outbox_key, trigger_marks.event_intent_id(trigger_key, entity))
    try:
        retry_in_place(
            lambda: report_event(wix_client(), instance_id, trigger_key, entity, payload),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc


@app.task(name="rewards.report_trigger", bind=True)
def report_trigger_task(self: WorkerTask, *, instance_id: str, trigger_key: str, reward_log_id: str) -> None:
    intent_id = report_intent_id(trigger_key, reward_log_id)
    ProgressStore(redis_store()).take_intent(instance_id, reward_log_id, intent_id)
    try:
        retry_in_place(
            lambda: report_trigger(wix_client(), redis_store(), instance_id, trigger_key, reward_log_id),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc


@app.task(name="rewards.report_tier_changed", bind=True)
def report_tier_changed_task(
    self: WorkerTask, *, instance_id: str, contact_id: str, entity: str, **change: Any
) -> None:
    """`tier_changed` for one change (worker/rewards/tier_changes.py), the tier names read from Wix now."""
    outbox_key = keys.member_outbox(instance_id, contact_id)
    outbox.take(redis_store(), outbox_key, trigger_marks.event_intent_id(TIER_CHANGED, entity))
    try:
        retry_in_place(
            lambda: report_tier_changed(
                wix_client(),
                redis_store(),
                instance_id=instance_id,
                contact_id=contact_id,
                entity=entity,
                **change,
            ),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc


@app.task(name="rewards.reverse_points", bind=True)
def reverse_points_task(
    self: WorkerTask,
    *,
    instance_id: str,
    contact_id: str,
    order_id: str,
    entity_id: str,
    adjustment_id: str,
    why: str,
) -> dict[str, Any]:
    outbox.take(redis_store(), keys.member_outbox(instance_id, contact_id), f"reverse:{adjustment_id}")
    try:
        outcome = retry_in_place(
            lambda: take_back_points(
                wix_client(),
                redis_store(),
                instance_id=instance_id,
                contact_id=contact_id,
                order_id=order_id,
                entity_id=entity_id,
                adjustment_id=adjustment_id,
                why=why,
            ),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    if outcome["points"] > 0:
        report_points_reversed(
            redis_store(), CeleryDispatcher(), instance_id, contact_id, order_id=outcome["orderId"],
            points=outcome["points"], reason=why, at=datetime.now(UTC),
        )  # fmt: skip
    return outcome


@app.task(name="rewards.revoke_reward", bind=True)
def revoke_reward_task(self: WorkerTask, *, instance_id: str, reward_log_id: str) -> int:
    ProgressStore(redis_store()).take_intent(instance_id, reward_log_id, f"revoke:{reward_log_id}")
    try:
        return retry_in_place(
            lambda: delete_reward_coupon(wix_client(), redis_store(), instance_id, reward_log_id),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
