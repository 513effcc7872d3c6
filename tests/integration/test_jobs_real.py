"""Jobs with a real worker: `python -m worker jobs run` starts one, follows it to the end, and shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.conftest import ROOT
from tests.unit.test_jobs import reward_logs
from worker.progress_store import ProgressStore
from worker.redis_client import sync_client


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
