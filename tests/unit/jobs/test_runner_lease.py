"""A job's name is held only while the job makes progress (its lease, renewed by each batch), and two
starts at once start one job: nothing stuck, never two live copies of a job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from worker import keys
from worker.jobs.runner import Batch, JobContext, Jobs
from worker.settings import Settings

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
# The lease follows the visibility timeout (worker.jobs.runner.job_lease_seconds).
LEASE = timedelta(seconds=Settings().celery_visibility_timeout)


def ten_batches(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """A job kind of ten batches, one item each."""
    cursor = int(record["cursor"] or 0) + 1
    return Batch(1, 0, [], str(cursor) if cursor < 10 else None)


KINDS = {"ten-batches": ten_batches}


def batch(jobs: Jobs, job_id: str, client: Any) -> Batch | None:
    return jobs.run_batch(job_id, datetime.now(UTC), JobContext(client, Settings(), None, None))  # type: ignore[arg-type]


def test_a_job_that_died_before_its_first_batch_frees_its_name_once_its_lease_lapses(fake_store: Any) -> None:
    """The starting process died after the start and before sending the first batch: the name answers
    the dead job until its lease lapses, then a new start runs; the dead job's late batch does nothing."""
    jobs = Jobs(fake_store, KINDS)
    with time_machine.travel(T0, tick=False):
        first, new = jobs.start("inst-1", "ten-batches")
    assert new
    with time_machine.travel(T0 + LEASE - timedelta(seconds=1), tick=False):
        again, new = jobs.start("inst-1", "ten-batches")
    assert not new and again["id"] == first["id"]

    with time_machine.travel(T0 + LEASE + timedelta(seconds=1), tick=False):
        second, new = jobs.start("inst-1", "ten-batches")
        assert new and second["id"] != first["id"] and second["status"] == "running"
        dead: dict[str, Any] = jobs.get(first["id"])  # type: ignore[assignment]
        assert dead["status"] == "failed" and "no progress" in dead["failures"][-1]
        assert fake_store.get(keys.job_running("inst-1", "ten-batches")) == second["id"]
        assert fake_store.zscore(keys.JOBS_RUNNING, first["id"]) is None
        assert batch(jobs, first["id"], fake_store) is None  # its batch, delivered late: nothing done
        assert jobs.get(first["id"])["done"] == 0  # type: ignore[index]
        assert batch(jobs, second["id"], fake_store) is not None


def test_a_job_whose_batches_keep_coming_keeps_its_name(fake_store: Any) -> None:
    """Each batch renews the lease: a job slower than the lease in all but between its batches is never
    taken over, and it resumes on its own after a lapse that nobody else used."""
    jobs = Jobs(fake_store, KINDS)
    with time_machine.travel(T0, tick=False):
        first, _ = jobs.start("inst-1", "ten-batches")
    at = T0
    for _ in range(3):
        at += LEASE * 0.9
        with time_machine.travel(at, tick=False):
            assert batch(jobs, first["id"], fake_store) is not None
            again, new = jobs.start("inst-1", "ten-batches")
            assert not new and again["id"] == first["id"]
    with time_machine.travel(at + LEASE * 2, tick=False):  # lapsed, and no other start: it goes on
        assert batch(jobs, first["id"], fake_store) is not None
        assert jobs.get(first["id"])["done"] == 4  # type: ignore[index]
        assert not jobs.start("inst-1", "ten-batches")[1]


@pytest.mark.parametrize("at", ["entering the claim", "leaving the claim"])
def test_two_starts_at_once_start_one_job(fake_store: Any, monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    """A second start runs whole while the first is in the middle of its start: exactly one of them
    starts the job, the other answers it as running, and only its record is left."""
    jobs = Jobs(fake_store, KINDS)
    claim: Callable[..., Any] = Jobs._claim
    answers: list[tuple[dict[str, Any], bool]] = []
    raced: list[bool] = []

    def race() -> None:
        if not raced:
            raced.append(True)
            answers.append(jobs.start("inst-1", "ten-batches"))

    def racing_claim(self: Jobs, *args: Any) -> Any:
        if at == "entering the claim":
            race()
        claimed = claim(self, *args)
        if at == "leaving the claim":
            race()
        return claimed

    monkeypatch.setattr(Jobs, "_claim", racing_claim)
    answers.append(jobs.start("inst-1", "ten-batches"))

    assert sorted(new for _, new in answers) == [False, True]
    [winner] = [record for record, new in answers if new]
    assert {record["id"] for record, _ in answers} == {winner["id"]}
    assert fake_store.get(keys.job_running("inst-1", "ten-batches")) == winner["id"]
    assert [keys.job_id_of(key) for key in fake_store.scan_iter(match=keys.JOB_RECORDS)] == [winner["id"]]


def test_a_start_while_a_failed_job_resumes_leaves_one_job_running(
    fake_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead letter replayed (the failed job resumes) and a start of its name at once: exactly one of
    them runs."""
    jobs = Jobs(fake_store, KINDS)
    failed, _ = jobs.start("inst-1", "ten-batches")
    assert batch(jobs, failed["id"], fake_store) is not None
    jobs.fail(failed["id"], "failed by hand")
    claim: Callable[..., Any] = Jobs._claim
    started: list[tuple[dict[str, Any], bool]] = []

    def racing_claim(self: Jobs, *args: Any) -> Any:
        claimed = claim(self, *args)
        if not started:
            started.append(({}, False))
            started[0] = jobs.start("inst-1", "ten-batches")
        return claimed

    monkeypatch.setattr(Jobs, "_claim", racing_claim)
    resumed = jobs.resume(failed["id"])

    [(answer, new)] = started
    assert resumed != new
    winner = failed["id"] if resumed else answer["id"]
    assert answer["id"] == winner
    assert fake_store.get(keys.job_running("inst-1", "ten-batches")) == winner
    running = [jobs.get(keys.job_id_of(key)) for key in fake_store.scan_iter(match=keys.JOB_RECORDS)]
    assert [record["id"] for record in running if record and record["status"] == "running"] == [winner]
