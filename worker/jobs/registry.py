"""The jobs there are, each one batch at a time from a cursor (see worker.jobs.runner)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import RUN_JOB_BATCH, queue_of
from worker.engine.timestamps import utc_stamp
from worker.jobs.birthdays import birthdays
from worker.jobs.catch_up import catch_up
from worker.jobs.monthly_messages import monthly_messages
from worker.jobs.referral_release import release_referrals
from worker.jobs.runner import RECORD_TTL_SECONDS, Batch, JobContext, JobStep
from worker.jobs.sweep import sweep
from worker.jobs.trigger_notices import reward_expiring, streak_at_risk_job
from worker.loyalty.points_gate import record_program_status, release_waiting
from worker.store import coupon_codes
from worker.store.counted_updates import update_reward_log
from worker.store.progress import ProgressStore, created_score
from worker.sync.member_directory import record_wix_contacts
from worker.wix.client import (
    WixAlreadyExists,
    WixApiError,
    WixClient,
    WixRateLimited,
    WixTransientError,
    retry_in_place,
)

BATCH_SIZE = 100
# Within a batch, a spent rate limit is waited out in place when a slot frees within this long.
INLINE_WAIT_SECONDS = 65.0


def expire_reward(
    client: redis.Redis, instance_id: str, contact_id: str, reward_log_id: str, now: datetime
) -> bool:
    """Mark an issued reward log `expired` once its rewardExpiryAt has passed; True when it changed. Any
    other status stays: a `redeemed` coupon (used on a paid order, worker/rewards/redemption.py) is never
    expired, also when its redemption lands between this read and the write (the WATCH starts again)."""
    key = keys.member_reward(instance_id, contact_id, reward_log_id)

    def expire(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        expiry = reward_log.get("rewardExpiryAt")
        if reward_log.get("status") != "issued" or not expiry:
            return None
        if datetime.fromisoformat(expiry.replace("Z", "+00:00")) > now:
            return None
        return {**reward_log, "status": "expired", "updatedAt": utc_stamp(now)}

    return update_reward_log(client, key, expire, instance_id=instance_id, now=now)[1]


def expire_rewards(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`expire-rewards`: every reward log of the instance, a hundred at a time (HSCAN of the id index)."""
    client = context.redis
    index = keys.reward_index(record["instanceId"])
    total = int(client.hlen(index)) if record["total"] is None else None  # type: ignore[arg-type]
    cursor, entries = client.hscan(index, cursor=int(record["cursor"] or 0), count=BATCH_SIZE)  # type: ignore[misc]
    done = sum(
        expire_reward(client, record["instanceId"], contact_id, reward_log_id, now)
        for reward_log_id, contact_id in entries.items()
    )
    return Batch(
        done=done,
        skipped=len(entries) - done,
        failures=[],
        cursor=None if int(cursor) == 0 else str(cursor),
        total=total,
    )


def index_coupon_codes(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`index-coupon-codes` (by hand, once after the upgrade that brought redemptions): every reward log
    of the instance stamped with a coupon code before the code index existed is indexed, so an order
    using its coupon redeems it. What is indexed already counts as skipped; safe to run again."""
    client, instance_id = context.redis, record["instanceId"]
    index = keys.reward_index(instance_id)
    total = int(client.hlen(index)) if record["total"] is None else None  # type: ignore[arg-type]
    cursor, entries = client.hscan(index, cursor=int(record["cursor"] or 0), count=BATCH_SIZE)  # type: ignore[misc]
    store = ProgressStore(client)
    reward_logs = [store.reward_log(instance_id, reward_log_id) for reward_log_id in entries]
    done = sum(coupon_codes.index_stamped(client, instance_id, r) for r in reward_logs if r is not None)
    return Batch(
        done=done,
        skipped=len(entries) - done,
        failures=[],
        cursor=None if int(cursor) == 0 else str(cursor),
        total=total,
    )


def index_reward_times(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`index-reward-times` (by hand, once after the upgrade that brought the Rewards page): every reward
    log of the instance made before the time index existed is put in it at its `createdAt`, so the
    console lists it. What is indexed already counts as skipped; safe to run again."""
    client, instance_id = context.redis, record["instanceId"]
    index = keys.reward_index(instance_id)
    total = int(client.hlen(index)) if record["total"] is None else None  # type: ignore[arg-type]
    cursor, entries = client.hscan(index, cursor=int(record["cursor"] or 0), count=BATCH_SIZE)  # type: ignore[misc]
    store = ProgressStore(client)
    reward_logs = [store.reward_log(instance_id, reward_log_id) for reward_log_id in entries]
    scores = {r["id"]: created_score(r) for r in reward_logs if r is not None}
    done = int(client.zadd(keys.reward_times(instance_id), scores, nx=True)) if scores else 0  # type: ignore[arg-type]
    return Batch(
        done=done,
        skipped=len(entries) - done,
        failures=[],
        cursor=None if int(cursor) == 0 else str(cursor),
        total=total,
    )


def bootstrap(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`bootstrap`: activate a DRAFT loyalty program (a PAUSED one is left paused, and the job says so),
    then give every contact without one a loyalty account, a hundred contacts a batch, through the
    shared per-instance rate limit (seed 001's "activate a program and create accounts")."""
    client, wix, instance_id = context.redis, context.wix(), record["instanceId"]
    offset = int(record["cursor"] or 0)
    if offset == 0:
        status = wix.get_loyalty_program(instance_id).get("status")
        if status == "DRAFT":
            status = wix.activate_loyalty_program(instance_id).get("status") or "ACTIVE"
        _keep_program_status(context, instance_id, str(status))
        if status != "ACTIVE":
            return Batch(0, 0, [f"the loyalty program is {status}: left as it is, no accounts created"], None)
    contacts, total = wix.query_contacts(instance_id, offset=offset, limit=BATCH_SIZE)
    record_wix_contacts(client, instance_id, contacts)  # the points sync's email ↔ contact mapping
    deadline = time.monotonic() + context.batch_seconds
    done = skipped = 0
    failures: list[str] = []
    for handled, contact in enumerate(contacts):
        if time.monotonic() > deadline:  # keep the task well inside its time limit: go on in the next
            return Batch(done, skipped, failures, str(offset + handled), total=total)
        contact_id = str(contact["id"])
        open_account = _opener(wix, client, record["id"], instance_id, contact_id)
        for attempt in (1, 2):
            try:
                opened = retry_in_place(open_account, deadline=deadline, base=2 * wix.retry_base)
            except WixRateLimited as exc:
                wait = exc.retry_after or 1.0
                if attempt == 1 and wait <= INLINE_WAIT_SECONDS and time.monotonic() + wait < deadline:
                    time.sleep(wait)  # a slot frees within the minute: wait for it here
                    continue
                # Still spent: keep what is done and go on from this contact in a later task.
                cursor = str(offset + handled)
                return Batch(done, skipped, failures, cursor, total=total, wait_seconds=wait)
            except WixTransientError as exc:
                # Still failing for now: keep what is done and try this contact again in a later task.
                reason = f"contact {contact_id}: {exc}"
                cursor = str(offset + handled)
                return Batch(
                    done, skipped, failures, cursor, total, stalled=reason, retry_after=exc.retry_after
                )
            except WixApiError as exc:
                failures.append(f"contact {contact_id}: {exc}")
            else:
                done, skipped = (done + 1, skipped) if opened else (done, skipped + 1)
            break
    next_offset = offset + len(contacts)
    more = bool(contacts) and next_offset < total
    return Batch(done, skipped, failures, str(next_offset) if more else None, total=total)


def _keep_program_status(context: JobContext, instance_id: str, status: str) -> None:
    """The status read at bootstrap counts as a `program_updated` event would: points that waited for an
    ACTIVE program go now (worker.loyalty.points_gate)."""
    if record_program_status(context.redis, instance_id, status):
        release_waiting(context.redis, instance_id, context.dispatcher())


def _opener(
    wix: WixClient, client: redis.Redis, job_id: str, instance_id: str, contact_id: str
) -> Callable[[], bool]:
    """`_open_account` for one contact, to be tried again (in place, or by a later batch): once a try
    may have opened the account (a 5xx or a lost answer: `WixTransientError.maybe_done`), the contact
    is noted in the job's `unsure` set, and an account found later counts as opened by this job."""
    unsure = keys.job_unsure(job_id)

    def open_account() -> bool:
        try:
            opened = _open_account(wix, instance_id, contact_id)
        except WixTransientError as exc:
            if exc.maybe_done:
                with client.pipeline(transaction=True) as pipe:
                    pipe.sadd(unsure, contact_id)
                    pipe.expire(unsure, RECORD_TTL_SECONDS)
                    pipe.execute()
            raise
        return opened or bool(client.sismember(unsure, contact_id))

    return open_account


def _open_account(wix: WixClient, instance_id: str, contact_id: str) -> bool:
    """Open the contact's loyalty account; False when it already had one."""
    if wix.get_loyalty_account_by_contact(instance_id, contact_id) is not None:
        return False
    try:
        wix.create_loyalty_account(instance_id, contact_id)
    except WixAlreadyExists:  # made by an earlier try of this very batch
        return False
    return True


KINDS: dict[str, JobStep] = {
    "expire-rewards": expire_rewards,
    "bootstrap": bootstrap,
    "catch-up": catch_up,
    "monthly-messages": monthly_messages,
    "sweep": sweep,
    "reward-expiring": reward_expiring,
    "streak-at-risk": streak_at_risk_job,
    "index-coupon-codes": index_coupon_codes,
    "index-reward-times": index_reward_times,
    "release-referrals": release_referrals,
    "birthdays": birthdays,
}
# Jobs that call Wix: beat does not start them in a deployment without Wix credentials.
NEEDS_WIX = frozenset(
    {
        "bootstrap",
        "catch-up",
        "monthly-messages",
        "reward-expiring",
        "streak-at-risk",
        "release-referrals",
        "birthdays",
    }
)
QUEUES: dict[str, str] = {
    "expire-rewards": "periodic",
    "bootstrap": "bulk",
    "catch-up": "periodic",
    "monthly-messages": "bulk",
    "sweep": "periodic",
    "reward-expiring": "periodic",
    "streak-at-risk": "periodic",
    "index-coupon-codes": "bulk",
    "index-reward-times": "bulk",
    "release-referrals": "periodic",
    "birthdays": "periodic",
}


def job_queue(name: str) -> str:
    """The queue a job's batches go on."""
    return QUEUES.get(name, queue_of(RUN_JOB_BATCH))
