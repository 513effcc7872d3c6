"""The periodic automation triggers: `reward-expiring` and `streak-at-risk`, one instance per job.

Beat starts each for every instance as it starts the other periodic jobs (tasks/jobs.py); a batch goes
through a hundred reward logs or members from the job's cursor. Each notice is decided once
(worker.rewards.automation_triggers.report_once: a mark and the report's intent in the member's outbox),
so running a job twice in a period, or a batch again after a crash, reports nothing twice.

- `reward-expiring`: every issued reward log whose `rewardExpiryAt` is within the notice days
  (`reward_expiring_notice_days`, per site when the site has its own setting) is reported once.
- `streak-at-risk`: every member's live streak run whose period's last day has begun without its
  target met (worker.engine.at_risk) is reported once per run and period.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import redis

from worker import keys
from worker.engine.at_risk import StreakAtRisk, streak_at_risk
from worker.engine.program import Program
from worker.engine.timestamps import utc_stamp
from worker.jobs.runner import Batch, JobContext
from worker.rewards.automation_triggers import (
    REWARD_EXPIRING,
    STREAK_AT_RISK,
    report_event_once,
    report_reward_log_once,
)
from worker.settings import Settings
from worker.store.progress import NoProgram, ProgressStore
from worker.store.site_settings import site_settings_for

BATCH_SIZE = 100


def reward_expiring_notice_days(client: redis.Redis, instance_id: str, settings: Settings) -> int:
    """How many days before a reward expires the site's `reward_expiring` is reported: the site's own
    `rewardExpiringNoticeDays`, else REWARD_EXPIRING_NOTICE_DAYS."""
    return site_settings_for(client, instance_id, settings).reward_expiring_notice_days


def expiring_soon(reward_log: dict[str, Any], now: datetime, notice: timedelta) -> bool:
    """An issued reward whose expiry is still ahead, within the notice."""
    expiry = reward_log.get("rewardExpiryAt")
    if reward_log.get("status") != "issued" or not expiry:
        return False
    moment = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
    return now < moment <= now + notice


def reward_expiring(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`reward-expiring`: a hundred reward logs a batch (HSCAN of the instance's reward index)."""
    client, instance_id = context.redis, record["instanceId"]
    notice = timedelta(days=reward_expiring_notice_days(client, instance_id, context.settings))
    index = keys.reward_index(instance_id)
    total = int(client.hlen(index)) if record["total"] is None else None  # type: ignore[arg-type]
    cursor, entries = client.hscan(index, cursor=int(record["cursor"] or 0), count=BATCH_SIZE)  # type: ignore[misc]
    store, done = ProgressStore(client), 0
    for reward_log_id in entries:
        reward_log = store.reward_log(instance_id, reward_log_id)
        if reward_log is not None and expiring_soon(reward_log, now, notice):
            done += report_reward_log_once(
                client, context.dispatcher(), instance_id, REWARD_EXPIRING, reward_log
            )
    next_cursor = None if int(cursor) == 0 else str(cursor)
    return Batch(done=done, skipped=len(entries) - done, failures=[], cursor=next_cursor, total=total)


def at_risk_entity(instance_id: str, contact_id: str, at_risk: StreakAtRisk) -> str:
    """One notice per member, run and period: a digest, unique across sites (Wix's idempotency keys are
    per app, not per site)."""
    parts = [instance_id, contact_id, at_risk.streak_id, at_risk.run_key, at_risk.period.key]
    return "streak:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def at_risk_payload(contact_id: str, at_risk: StreakAtRisk) -> dict[str, Any]:
    return {
        "contactId": contact_id,
        "streakId": at_risk.streak_id,
        "streakName": at_risk.streak_name,
        "currentProgressValue": at_risk.current_progress,
        "periodKey": at_risk.period.key,
        "periodEndsAt": utc_stamp(at_risk.period.end),
        "periodValue": _number(at_risk.period_value),
        "periodTarget": _number(at_risk.period_target),
    }


def _number(value: Any) -> int | float:
    return int(value) if value == int(value) else float(value)


def member_at_risk(
    context: JobContext, program: Program, instance_id: str, contact_id: str, now: datetime
) -> int:
    """Report the member's runs at risk now; answers how many were new."""
    store, new = ProgressStore(context.redis), 0
    for streak in program.streaks:
        logs = store.member_state(instance_id, contact_id, "streak", streak.id).logs
        at_risk = streak_at_risk(program, streak, logs, now) if logs else None
        if at_risk is None:
            continue
        entity = at_risk_entity(instance_id, contact_id, at_risk)
        payload = at_risk_payload(contact_id, at_risk)
        new += report_event_once(
            context.redis, context.dispatcher(), instance_id, contact_id, STREAK_AT_RISK, entity, payload
        )
    return new


def streak_at_risk_job(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`streak-at-risk`: a hundred members a batch (SSCAN of the instance's members index)."""
    client, instance_id = context.redis, record["instanceId"]
    total = int(client.scard(keys.members(instance_id))) if record["total"] is None else None  # type: ignore[arg-type]
    try:
        program = ProgressStore(client).program(instance_id)
    except NoProgram:
        return Batch(0, 0, ["the instance has no program"], None, total=total)
    cursor, members = client.sscan(  # type: ignore[misc]
        keys.members(instance_id), cursor=int(record["cursor"] or 0), count=BATCH_SIZE
    )
    done = sum(1 for contact_id in members if member_at_risk(context, program, instance_id, contact_id, now))
    return Batch(done, len(members) - done, [], None if int(cursor) == 0 else str(cursor), total=total)
