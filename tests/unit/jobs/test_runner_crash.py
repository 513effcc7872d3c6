"""A job's start and end are two steps each (its record, then its name's lock and the running index, in
other hash slots): a process killed between them never keeps the job's name taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster

from worker import keys
from worker.jobs.runner import Batch, JobContext, Jobs

pytestmark = pytest.mark.both_stores

ROOT = Path(__file__).resolve().parents[3]


def one_batch(context: JobContext, record: dict[str, Any], now: Any) -> Batch:
    """A job kind done in one batch."""
    return Batch(1, 0, [], None)


KINDS = {"one-batch": one_batch}

# Ends the job (`run_batch` to its end, or `fail`) in a process of its own, SIGKILLed between the two steps.
_END_THE_JOB = """
import sys
from datetime import UTC, datetime
from worker.infra.redis_client import cluster_client, sync_client
from worker.jobs.runner import JobContext, Jobs
from tests.unit.jobs.test_runner_crash import KINDS
url, cluster, job_id, how = sys.argv[1:5]
client = cluster_client(url) if cluster == "1" else sync_client(url)
jobs = Jobs(client, KINDS)
if how == "finish":
    jobs.run_batch(job_id, datetime.now(UTC), JobContext(client, None, None, None))  # type: ignore[arg-type]
else:
    jobs.fail(job_id, "failed by hand")
"""


def end_in_a_killed_process(request: pytest.FixtureRequest, store: Any, job_id: str, how: str) -> None:
    cluster = isinstance(store, RedisCluster)
    url = request.getfixturevalue("redis_cluster").url if cluster else os.environ["REDIS_URL"]
    env = {**os.environ, "WRW_TEST_CRASH_JOB_STEPS": "1", "PYTHONPATH": str(ROOT)}
    ended = subprocess.run(
        [sys.executable, "-c", _END_THE_JOB, url, "1" if cluster else "0", job_id, how],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ended.returncode == -signal.SIGKILL, ended.stderr


@pytest.mark.parametrize(("how", "status"), [("finish", "succeeded"), ("fail", "failed")])
def test_a_job_whose_process_died_between_its_two_steps_can_start_again_at_once(
    request: pytest.FixtureRequest, real_redis: Any, how: str, status: str
) -> None:
    """The record says the job ended, the lock still names it: the next start takes the name over."""
    jobs = Jobs(real_redis, KINDS)
    first, _ = jobs.start("inst-1", "one-batch")
    end_in_a_killed_process(request, real_redis, first["id"], how)
    assert jobs.get(first["id"])["status"] == status  # type: ignore[index]
    assert real_redis.get(keys.job_running("inst-1", "one-batch")) == first["id"]

    second, new = jobs.start("inst-1", "one-batch")
    assert new and second["id"] != first["id"] and second["status"] == "running"
    assert real_redis.zscore(keys.JOBS_RUNNING, first["id"]) is None
    assert real_redis.zscore(keys.JOBS_RUNNING, second["id"]) is not None


def test_a_failed_job_whose_process_died_before_releasing_its_name_resumes(
    request: pytest.FixtureRequest, real_redis: Any
) -> None:
    """A replayed dead letter resumes the failed job though its own lock was never released."""
    jobs = Jobs(real_redis, KINDS)
    first, _ = jobs.start("inst-1", "one-batch")
    real_redis.hset(keys.job_record(first["id"]), "cursor", "3")
    end_in_a_killed_process(request, real_redis, first["id"], "fail")
    assert jobs.resume(first["id"])
    assert jobs.get(first["id"])["status"] == "running"  # type: ignore[index]


def test_a_running_job_keeps_its_name(real_redis: Any) -> None:
    """A lock naming a job that runs is never taken over."""
    jobs = Jobs(real_redis, KINDS)
    first, _ = jobs.start("inst-1", "one-batch")
    again, new = jobs.start("inst-1", "one-batch")
    assert not new and again["id"] == first["id"]
