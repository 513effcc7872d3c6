"""Bulk and periodic jobs: one way to start them, watch them and resume them.

A job is a record in Redis (`id`, `name`, `instanceId`, `status`, `total`, `done`, `skipped`, `failed`
with reasons, `startedAt`, `finishedAt`, and the `cursor` it has reached). It runs as a chain of Celery
tasks, one batch each: a batch does its items, then moves the cursor and the counts in one step and
sends the next batch. A worker killed mid-batch leaves the cursor where it was, so the redelivered task
does that batch again; every item's effect is idempotent, so nothing happens twice.

Starting a job of a name that is already running for the instance answers the running one. The name's
lock (`keys.job_running`, the job id) lives in another hash slot than the job's record (Redis Cluster), so
a job's start and end are two steps each: the record first, then the lock and the indexes. A start writes
its record before it claims the lock with one SET NX, so a lock always names a job whose record was
written: of two starts at once exactly one claims it, and the other answers that one's record and drops
its own. A process killed between the two steps of an end leaves a lock naming a job whose record says it
ended (or is gone): the next start or resume of that name takes such a lock over at once (`_claim`), so
the name never stays taken by a job that is not running.

A running job holds its name only while it makes progress: its record's `leaseUntil` (epoch seconds) is
renewed by each of its batches (`job_lease_seconds`). A job whose lease lapsed (its starter died before
sending the first batch, or its chain of batches was lost) is ended as failed by the next start of its
name, which then takes the name over. The lapse is decided and the record ended in one step on the
record, and a batch renews the lease in one step on the record only while it says `running`: so either
the batch renewed first (the start answers the running job) or the start ended it first (the batch does
nothing), never two live copies. A batch that comes after a lapse nobody used renews the lease and goes
on: the job resumes.

Through Wix's passing failures a job keeps its progress item by item. A batch whose item still fails
for now (after its calls' tries in place and the item's own, see worker.wix.client) ends early with
what it did and its cursor AT that item (`Batch.stalled` says why); so does a batch whose page query
fails (the kind raises `WixTransientError`: nothing done, the cursor stays). The next batch is sent
after a backoff that grows with the `stalls` in a row and starts afresh whenever a batch makes
progress, so a job stops only when it is really stuck: `MAX_STALLS` batches in a row without progress
make it `failed`, its last failure naming the item, the call and Wix's answer, its cursor kept: the
task is parked in the dead-letter queue, and replaying it resumes the job where it stopped (`resume`).
While it waits, the record's `waiting` says why and when it tries next (`{"reason", "nextTryAt",
"stalls"}`; also while the shared rate limit is spent), and is null while it runs.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.engine.timestamps import utc_stamp
from worker.retry_policy import retry_policy
from worker.settings import Settings, get_settings
from worker.store.journal import now_iso
from worker.wix.client import WixClient, WixRateLimited, WixTransientError, backoff_delay

RUNNING_TTL_SECONDS = 24 * 3600  # the lock's own expiry, the last resort (a record without a lease)
RECORD_TTL_SECONDS = 30 * 24 * 3600
RUNS_KEPT = 50  # the newest job runs each instance's index keeps (keys.job_runs)
MAX_STALLS = 8  # batches in a row that made no progress for a passing failure before the job fails
STALL_BACKOFF_BASE = 2.0
STALL_BACKOFF_MAX = 300.0


@dataclass(frozen=True)
class Batch:
    """What one batch did, and where the next one starts (None: the job is done)."""

    done: int
    skipped: int
    failures: list[str]
    cursor: str | None
    total: int | None = None
    wait_seconds: float = 0.0  # how long to wait before the next batch (a spent rate limit)
    stalled: str | None = None  # the batch stopped at an item that failed for now: which, and why
    retry_after: float | None = None  # Wix's Retry-After for that failure


def job_lease_seconds(settings: Settings) -> int:
    """How long a running job holds its name without a batch: the visibility timeout. Between two batches
    of a live job pass at most the time limit of one batch and the countdown before the next, each at
    most a quarter of the visibility timeout (worker.retry_policy), so half the lease is left for the
    next batch to wait in its queue. A batch lost with its worker comes back after the visibility timeout
    (Redis transport) and goes on, unless a start took the name over meanwhile. The lease is longer than
    a batch's time limit, so a batch that renewed it at its start ends before it can lapse."""
    return settings.celery_visibility_timeout


def batch_seconds(settings: Settings) -> float:
    """How long one batch may run: half the soft time limit the visibility timeout allows."""
    return retry_policy(settings.celery_visibility_timeout).soft_time_limit / 2


@dataclass(frozen=True)
class JobContext:
    """What a job kind works with, handed in by the entry point that runs it (tasks/jobs.py, tests).

    `wix` and `dispatcher` are made on first use, so a kind that never calls Wix never makes a client.
    """

    redis: redis.Redis
    settings: Settings
    wix: Callable[[], WixClient]
    dispatcher: Callable[[], Dispatcher]

    @property
    def batch_seconds(self) -> float:
        return batch_seconds(self.settings)


# A job kind: given the context, the job record and `now`, do one batch from the record's cursor.
JobStep = Callable[[JobContext, dict[str, Any], datetime], Batch]


class UnknownJob(LookupError):
    pass


def _mark_running(pipe: redis.client.Pipeline, job_id: str) -> None:
    """List the job among the running ones (for `/metrics`), dropping those lost longer ago than a day."""
    now = time.time()
    pipe.zremrangebyscore(keys.JOBS_RUNNING, "-inf", now - RUNNING_TTL_SECONDS)
    pipe.zadd(keys.JOBS_RUNNING, {job_id: now})


# Compare-and-set on the name's lock: take it over from the job it names (ARGV[1]) only while it still
# names that one; ARGV[1] empty: only when there is no lock at all.
_TAKE_OVER = """
local holder = redis.call('get', KEYS[1])
if (holder or '') ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
# A job's record: 1 when the job is not running (ended, or gone), ending it as failed (ARGV[2] its
# `finishedAt`, ARGV[3] its failures) when its lease (`leaseUntil`) lapsed before ARGV[1] (now); 0 while it
# runs. A record without a lease (written before leases) counts as running, until the lock expires.
_END_IF_LAPSED = """
local status = redis.call('hget', KEYS[1], 'status')
if not status then return 1 end
if status ~= 'running' then return 1 end
local lease = tonumber(redis.call('hget', KEYS[1], 'leaseUntil') or '')
if lease == nil or lease >= tonumber(ARGV[1]) then return 0 end
redis.call('hset', KEYS[1], 'status', 'failed', 'finishedAt', ARGV[2], 'waiting', '', 'failures', ARGV[3])
redis.call('hincrby', KEYS[1], 'failed', 1)
return 1
"""
# Renew a job's lease to ARGV[1] while its record says it runs: 1, else 0 (ended, or taken over).
_RENEW = """
if redis.call('hget', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('hset', KEYS[1], 'leaseUntil', ARGV[1])
return 1
"""
# A failed job's record says it runs again, with its lease until ARGV[1]: 1, else 0 (it is not failed).
_RESUME = """
if redis.call('hget', KEYS[1], 'status') ~= 'failed' then return 0 end
redis.call('hset', KEYS[1], 'status', 'running', 'finishedAt', '', 'stalls', '0', 'waiting', '',
  'leaseUntil', ARGV[1])
return 1
"""
# Keep the name's lock (ARGV[1], for ARGV[2] seconds) while it names this job or nobody: a job that runs
# longer than the lock's own expiry keeps its name.
_HOLD = """
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# Release the name's lock only while it names this job (a later job may have taken it over).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def crash_between_steps_for_tests() -> None:
    """Test-only fault: with `WRW_TEST_CRASH_JOB_STEPS=1` the process is SIGKILLed after a job's record
    is written and before its lock and indexes are (tests/unit/jobs/test_runner_crash.py). Never set it
    anywhere else."""
    if os.environ.get("WRW_TEST_CRASH_JOB_STEPS") == "1":
        os.kill(os.getpid(), signal.SIGKILL)


class Jobs:
    def __init__(
        self, client: redis.Redis, kinds: dict[str, JobStep], lease_seconds: float | None = None
    ) -> None:
        self._redis = client
        self.kinds = kinds
        self.lease_seconds = job_lease_seconds(get_settings()) if lease_seconds is None else lease_seconds

    def start(
        self, instance_id: str, name: str, since: str | None = None, started_by: str = "hand"
    ) -> tuple[dict[str, Any], bool]:
        """The new job's record and True, or the running one's and False. `started_by` is `hand` (the
        admin API, the CLI) or `beat`, for kinds that do less on a schedule (`monthly-messages`)."""
        if name not in self.kinds:
            raise UnknownJob(f"no job named {name!r}; jobs: {', '.join(sorted(self.kinds))}")
        job_id = f"job_{uuid.uuid4().hex[:16]}"
        record = {
            "id": job_id,
            "name": name,
            "instanceId": instance_id,
            "status": "running",
            "since": since or "",
            "startedBy": started_by,
            "cursor": "0",
            "total": "",
            "done": 0,
            "skipped": 0,
            "failed": 0,
            "stalls": 0,
            "waiting": "",
            "startedAt": now_iso(),
            "finishedAt": "",
            "leaseUntil": str(time.time() + self.lease_seconds),
        }
        # The record before the lock, kept no longer than its lease until this start claims the name: a
        # start that dies before the claim, or loses it, leaves no record behind.
        with self._redis.pipeline() as pipe:
            pipe.hset(keys.job_record(job_id), mapping=record)
            pipe.expire(keys.job_record(job_id), int(self.lease_seconds) + 1)
            pipe.execute()
        running = self._claim(instance_id, name, job_id)
        if running is not None:
            self._redis.delete(keys.job_record(job_id))
            return running, False
        # The indexes live in other hash slots (Redis Cluster): written after the record they point at,
        # each write idempotent, in one round trip.
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.expire(keys.job_record(job_id), RECORD_TTL_SECONDS)
            pipe.set(keys.job_last(instance_id, name), job_id, ex=RECORD_TTL_SECONDS)
            pipe.zadd(keys.job_runs(instance_id), {job_id: time.time()})
            pipe.zremrangebyrank(keys.job_runs(instance_id), 0, -RUNS_KEPT - 1)
            pipe.expire(keys.job_runs(instance_id), RECORD_TTL_SECONDS)
            _mark_running(pipe, job_id)
            pipe.execute()
        return self.get(job_id) or record, True

    def _claim(self, instance_id: str, name: str, job_id: str) -> dict[str, Any] | None:
        """Take the name's lock for `job_id`, whose record is written: None when taken, else the record
        of the job that runs. A lock naming a job that is not running (its record ended or is gone: a
        process died between a job's two steps; or its lease lapsed, and it is ended here) is taken
        over, and that job leaves the running index."""
        lock = keys.job_running(instance_id, name)
        for _ in range(5):  # each turn loses only to another start that changed the lock meanwhile
            if self._redis.set(lock, job_id, nx=True, ex=RUNNING_TTL_SECONDS):
                return None
            holder = str(self._redis.get(lock) or "")
            if holder and holder != job_id and not self._end_if_lapsed(holder):
                record = self.get(holder)
                if record is not None:
                    return record
                continue  # its record expired meanwhile: look again
            if self._redis.eval(_TAKE_OVER, 1, lock, holder, job_id, str(RUNNING_TTL_SECONDS)):
                if holder and holder != job_id:
                    self._redis.zrem(keys.JOBS_RUNNING, holder)
                return None
        raise redis.RedisError(f"could not take the lock of job {name!r} (it kept changing)")

    def _end_if_lapsed(self, job_id: str) -> bool:
        """Whether the job is not running: ended, gone, or its lease lapsed, when it is ended here as
        failed (in one step on its record, against its batches' renewals)."""
        record = self.get(job_id)
        if record is None or record["status"] != "running":
            return True
        reason = f"no progress for {self.lease_seconds:g} s: its process or its batches were lost"
        failures = json.dumps([*record["failures"], reason][-100:])
        key = keys.job_record(job_id)
        return bool(self._redis.eval(_END_IF_LAPSED, 1, key, str(time.time()), now_iso(), failures))

    def _renew(self, job_id: str) -> bool:
        """Renew the job's lease; False when it no longer runs (it ended, or a start ended it)."""
        lease_until = str(time.time() + self.lease_seconds)
        return bool(self._redis.eval(_RENEW, 1, keys.job_record(job_id), lease_until))

    def _release(self, instance_id: str, name: str, job_id: str) -> None:
        """The second step of a job's end, once its record says it ended: its lock (while it is still
        this job's) and its entry among the running ones. Idempotent."""
        crash_between_steps_for_tests()
        self._redis.eval(_RELEASE, 1, keys.job_running(instance_id, name), job_id)
        self._redis.zrem(keys.JOBS_RUNNING, job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw: dict[str, str] = self._redis.hgetall(keys.job_record(job_id))  # type: ignore[assignment]
        if not raw:
            return None
        record: dict[str, Any] = dict(raw)
        for field in ("done", "skipped", "failed", "stalls"):
            record[field] = int(record.get(field) or 0)
        record["total"] = int(record["total"]) if record.get("total") else None
        record["failures"] = json.loads(record.pop("failures", "[]"))
        record["waiting"] = json.loads(record["waiting"]) if record.get("waiting") else None
        for field in ("since", "finishedAt"):
            record[field] = record.get(field) or None
        return record

    def run_batch(self, job_id: str, now: datetime, context: JobContext) -> Batch | None:
        """Do the job's next batch, with what `context` hands it, and keep its progress; the batch (its
        cursor None when the job is done), or None when the job is not running."""
        if not self._renew(job_id):
            return None
        record = self.get(job_id)
        if record is None or record["status"] != "running":
            return None
        lock = keys.job_running(record["instanceId"], record["name"])
        self._redis.eval(_HOLD, 1, lock, job_id, str(RUNNING_TTL_SECONDS))
        try:
            batch = self.kinds[record["name"]](context, record, now)
        except WixRateLimited as exc:  # our own budget is spent, no failure: wait for a slot
            batch = Batch(0, 0, [], record["cursor"] or "0", wait_seconds=exc.retry_after or 1.0)
        except WixTransientError as exc:  # a page or a setting read failed for now: the cursor stays
            batch = Batch(0, 0, [], record["cursor"] or "0", stalled=str(exc), retry_after=exc.retry_after)
        batch, waiting, stalls = self._pace(record, batch, now)
        if stalls > MAX_STALLS:
            reason = f"gave up after {MAX_STALLS} tries in a row without progress: {batch.stalled}"
            batch, waiting = replace(batch, failures=[*batch.failures, reason], cursor=None), None
        key = keys.job_record(job_id)
        failures = (record["failures"] + batch.failures)[-100:]  # the latest reasons, bounded
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"stalls": str(stalls), "waiting": json.dumps(waiting) if waiting else ""})
            pipe.hincrby(key, "done", batch.done)
            pipe.hincrby(key, "skipped", batch.skipped)
            pipe.hincrby(key, "failed", len(batch.failures))
            pipe.hset(key, "failures", json.dumps(failures))
            if batch.total is not None:
                pipe.hset(key, "total", str(batch.total))
            if stalls > MAX_STALLS:  # stuck: failed, the cursor kept for a replay to resume from
                pipe.hset(key, mapping={"status": "failed", "finishedAt": now_iso()})
            elif batch.cursor is None:
                pipe.hset(key, mapping={"status": "succeeded", "finishedAt": now_iso(), "cursor": ""})
            else:
                pipe.hset(
                    key, mapping={"cursor": batch.cursor, "leaseUntil": str(time.time() + self.lease_seconds)}
                )
            pipe.execute()
        if stalls > MAX_STALLS or batch.cursor is None:
            self._release(record["instanceId"], record["name"], job_id)
        return batch

    @staticmethod
    def _pace(
        record: dict[str, Any], batch: Batch, now: datetime
    ) -> tuple[Batch, dict[str, Any] | None, int]:
        """The batch with the wait before the next one, what the record says while it waits, and the
        stalls in a row: none after progress; one more for a batch stopped by a passing failure."""
        progressed = bool(batch.done or batch.skipped or batch.failures) or batch.cursor != record["cursor"]
        stalls = (0 if progressed else record["stalls"]) + (1 if batch.stalled else 0)
        if batch.stalled is not None:
            wait = backoff_delay(
                stalls - 1, base=STALL_BACKOFF_BASE, cap=STALL_BACKOFF_MAX, at_least=batch.retry_after or 0.0
            )
            batch, reason = replace(batch, wait_seconds=max(batch.wait_seconds, wait)), batch.stalled
        elif batch.wait_seconds > 0:
            reason = "the Wix rate limit for this instance is spent"
        else:
            return batch, None, stalls
        next_try = utc_stamp(now + timedelta(seconds=batch.wait_seconds))
        return batch, {"reason": reason, "nextTryAt": next_try, "stalls": stalls}, stalls

    def resume(self, job_id: str) -> bool:
        """Run a failed job again from where it stopped (a dead letter replayed); False when it is not
        failed, or another job of its name runs meanwhile."""
        record = self.get(job_id)
        if record is None or record["status"] != "failed" or not record["cursor"]:
            return False
        # Running again (with a fresh lease) before it claims its name, as a new job's record is written
        # before its claim: a start meanwhile answers this job rather than take over a lock naming it.
        key, lease_until = keys.job_record(job_id), str(time.time() + self.lease_seconds)
        if not self._redis.eval(_RESUME, 1, key, lease_until):
            return False  # resumed by another replay meanwhile
        if self._claim(record["instanceId"], record["name"], job_id) is not None:
            self._redis.hset(
                key, mapping={"status": "failed", "finishedAt": record["finishedAt"] or now_iso()}
            )
            return False
        with self._redis.pipeline(transaction=False) as pipe:  # another slot (Redis Cluster); idempotent
            _mark_running(pipe, job_id)
            pipe.execute()
        return True

    def fail(self, job_id: str, reason: str) -> None:
        record = self.get(job_id)
        if record is None:
            return
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.job_record(job_id), mapping={"status": "failed", "finishedAt": now_iso(), "waiting": ""}
            )
            pipe.hset(keys.job_record(job_id), "failures", json.dumps([*record["failures"], reason][-100:]))
            pipe.execute()
        self._release(record["instanceId"], record["name"], job_id)
