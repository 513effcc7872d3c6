"""Bulk and periodic jobs: one way to start them, watch them and resume them.

A job is a record in Redis (`id`, `name`, `instanceId`, `status`, `total`, `done`, `skipped`, `failed`
with reasons, `startedAt`, `finishedAt`, and the `cursor` it has reached). It runs as a chain of Celery
tasks, one batch each: a batch does its items, then moves the cursor and the counts in one step and
sends the next batch. A worker killed mid-batch leaves the cursor where it was, so the redelivered task
does that batch again; every item's effect is idempotent, so nothing happens twice.

Starting a job of a name that is already running for the instance answers the running one. The name's
lock (`keys.job_running`, the job id) lives in another hash slot than the job's record (Redis Cluster), so
a job's start and end are two steps each: the record first, then the lock and the indexes. A process killed
between the two leaves a lock naming a job whose record says it ended (or was never written): the next
start or resume of that name takes such a lock over at once (`_claim`), so the name never stays taken
by a job that is not running.

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
from worker.settings import Settings
from worker.store.journal import now_iso
from worker.wix.client import WixClient, WixRateLimited, WixTransientError, backoff_delay

RUNNING_TTL_SECONDS = 24 * 3600  # a job lost for a day frees its name
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
# Release the name's lock only while it names this job (a later job may have taken it over).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def crash_between_steps_for_tests() -> None:
    """Test-only fault: with `WRW_TEST_CRASH_JOB_STEPS=1` the process is SIGKILLed after a job's record
    is written and before its lock and indexes are (tests/unit/jobs/test_runner_crash.py). Never set it
    anywhere else."""
    if os.environ.get("WRW_TEST_CRASH_JOB_STEPS") == "1":
        os.kill(os.getpid(), signal.SIGKILL)


class Jobs:
    def __init__(self, client: redis.Redis, kinds: dict[str, JobStep]) -> None:
        self._redis = client
        self.kinds = kinds

    def start(
        self, instance_id: str, name: str, since: str | None = None, started_by: str = "hand"
    ) -> tuple[dict[str, Any], bool]:
        """The new job's record and True, or the running one's and False. `started_by` is `hand` (the
        admin API, the CLI) or `beat`, for kinds that do less on a schedule (`monthly-messages`)."""
        if name not in self.kinds:
            raise UnknownJob(f"no job named {name!r}; jobs: {', '.join(sorted(self.kinds))}")
        job_id = f"job_{uuid.uuid4().hex[:16]}"
        running = self._claim(instance_id, name, job_id)
        if running is not None:
            return running, False
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
        }
        with self._redis.pipeline() as pipe:
            pipe.hset(keys.job_record(job_id), mapping=record)
            pipe.expire(keys.job_record(job_id), RECORD_TTL_SECONDS)
            pipe.execute()
        # The indexes live in other hash slots (Redis Cluster): written after the record they point at,
        # each write idempotent, in one round trip.
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.job_last(instance_id, name), job_id, ex=RECORD_TTL_SECONDS)
            pipe.zadd(keys.job_runs(instance_id), {job_id: time.time()})
            pipe.zremrangebyrank(keys.job_runs(instance_id), 0, -RUNS_KEPT - 1)
            pipe.expire(keys.job_runs(instance_id), RECORD_TTL_SECONDS)
            _mark_running(pipe, job_id)
            pipe.execute()
        return self.get(job_id) or record, True

    def _claim(self, instance_id: str, name: str, job_id: str) -> dict[str, Any] | None:
        """Take the name's lock for `job_id`: None when taken, else the record of the job that runs. A
        lock naming a job that is not running (its record ended, or was never written: a process died
        between a job's two steps) is taken over, and that job leaves the running index."""
        lock = keys.job_running(instance_id, name)
        for _ in range(5):  # each turn loses only to another start that changed the lock meanwhile
            if self._redis.set(lock, job_id, nx=True, ex=RUNNING_TTL_SECONDS):
                return None
            holder = str(self._redis.get(lock) or "")
            record = self.get(holder) if holder else None
            if record is not None and record["status"] == "running" and holder != job_id:
                return record
            if self._redis.eval(_TAKE_OVER, 1, lock, holder, job_id, str(RUNNING_TTL_SECONDS)):
                if holder and holder != job_id:
                    self._redis.zrem(keys.JOBS_RUNNING, holder)
                return None
        raise redis.RedisError(f"could not take the lock of job {name!r} (it kept changing)")

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
        record = self.get(job_id)
        if record is None or record["status"] != "running":
            return None
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
                pipe.hset(key, "cursor", batch.cursor)
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
        if self._claim(record["instanceId"], record["name"], job_id) is not None:
            return False
        mapping = {"status": "running", "finishedAt": "", "stalls": "0", "waiting": ""}
        self._redis.hset(keys.job_record(job_id), mapping=mapping)
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
