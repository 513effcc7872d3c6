"""Jobs with a real worker: `python -m worker jobs run` starts one, follows it to the end, and shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.integration.conftest import ROOT, run_job_from_cli
from tests.unit.jobs.test_runner import reward_logs
from worker.infra.redis_client import sync_client
from worker.store.progress import ProgressStore


def test_expire_rewards_from_the_cli(celery_worker, module_redis_url) -> None:
    """150 reward logs, 30 past expiry: the CLI's job runs on the worker in batches and reports 30 expired."""
    store = sync_client(module_redis_url)
    ids = reward_logs(store, 150, expired=30)
    env = {**os.environ, "REDIS_URL": module_redis_url}
    run = subprocess.run(
        [sys.executable, "-m", "worker", "jobs", "run", "expire-rewards", "--instance", "inst-1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads(run.stdout[run.stdout.index("{") :])
    assert record["status"] == "succeeded"
    assert (record["total"], record["done"], record["skipped"]) == (150, 30, 120)
    assert "expire-rewards" in run.stderr  # tqdm's progress bar
    statuses = [ProgressStore(store).reward_log("inst-1", reward_id)["status"] for reward_id in ids]
    assert statuses.count("expired") == 30
    shown = subprocess.run(
        [sys.executable, "-m", "worker", "jobs", "show", record["id"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json.loads(shown.stdout) == record


def test_sweep_closes_lapsed_streaks_on_the_worker(celery_worker, module_redis_url) -> None:
    """Members who stopped a month ago: the sweep, run by the worker, closes their streaks as broken;
    the member still going is left open; a second sweep finds nothing new."""
    from datetime import UTC, datetime, timedelta

    from worker.dev.programs import BASE_PROGRAM
    from worker.engine.logs import accept_log

    client = sync_client(module_redis_url)
    store = ProgressStore(client)
    store.save_program("inst-sweep", BASE_PROGRAM)
    program = store.program("inst-sweep")
    streak = program.streak("weekly-shopper")
    assert streak is not None
    now = datetime.now(UTC)
    for n in range(30):
        days_ago = [35, 28] if n < 20 else [1]
        for back in days_ago:
            at = now - timedelta(days=back)
            log = accept_log(
                streak, contact_id=f"m{n}", activity_id="order_paid", activity_value=1, activity_at=at,
                unique_identifier=f"u{n}-{back}", now=at,
            )  # fmt: skip
            store.record("inst-sweep", program, streak, log, at)
    env = {**os.environ, "REDIS_URL": module_redis_url}

    def sweep() -> dict[str, Any]:
        return run_job_from_cli(env, "sweep", "inst-sweep", timeout=120)

    first = sweep()
    assert (first["status"], first["total"], first["done"], first["skipped"]) == ("succeeded", 30, 20, 10)
    assert [r["status"] for r in store.closed_records("inst-sweep", "m0")] == ["broken"]
    assert store.closed_records("inst-sweep", "m25") == []
    assert sweep()["done"] == 0
