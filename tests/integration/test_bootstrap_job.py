"""`bootstrap` against the fake Wix with a real worker: a DRAFT program activated, an account for every
contact, and a second run that finds them all (nothing made twice)."""

from __future__ import annotations

import os
from typing import Any

from tests.integration.conftest import (
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    run_job_from_cli,
    service_env,
    start_worker,
    worker_killed_midway,
)

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000b001"


def run_bootstrap(env: dict[str, str]) -> dict[str, Any]:
    return run_job_from_cli(env, "bootstrap", INSTANCE)


def test_bootstrap_activates_and_opens_every_account_once(
    fake_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """90 contacts, a DRAFT program: ACTIVE afterwards, 90 accounts; run again: 90 skipped, none made."""
    fake_wix.control("POST", "reset")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 0})
    fake_wix.control("PUT", f"instances/{INSTANCE}/program", json={"status": "DRAFT"})
    fake_wix.control("POST", f"instances/{INSTANCE}/contacts/bulk", json={"count": 90})
    env = service_env(
        redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        WIX_RATE_LIMIT_PER_MINUTE="2000",
    )
    worker = start_worker(env)
    try:
        first = run_bootstrap(env)
        assert first["status"] == "succeeded", first
        assert (first["total"], first["done"], first["skipped"], first["failed"]) == (90, 90, 0, 0)
        program = fake_wix.control("GET", f"instances/{INSTANCE}/program")["program"]
        assert program["status"] == "ACTIVE"
        assert len(fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]) == 90

        again = run_bootstrap(env)
        assert again["id"] != first["id"]
        assert (again["done"], again["skipped"]) == (0, 90)
        assert len(fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]) == 90
    finally:
        worker.stop()
        fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})


def test_a_worker_killed_mid_job_loses_nothing_and_doubles_nothing(
    fake_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """1,000 contacts; accounts open slowly; the worker is SIGKILLed midway, mid-batch; another worker
    resumes the job: every contact ends with exactly one account and the job succeeds."""
    from tests.integration.conftest import wait_for
    from worker.jobs.registry import KINDS
    from worker.jobs.runner import Jobs
    from worker.runtime.dispatcher import CeleryDispatcher

    fake_wix.control("POST", "reset")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 0})
    fake_wix.control("POST", f"instances/{INSTANCE}/contacts/bulk", json={"count": 1000})
    fake_wix.control(
        "POST",
        "faults",
        json={
            "count": 400,
            "delaySeconds": 0.02,
            "pathPrefix": "/loyalty-accounts/v1/accounts",
            "method": "POST",
        },
    )
    env = service_env(
        redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        WIX_RATE_LIMIT_PER_MINUTE="10000",
        CELERY_VISIBILITY_TIMEOUT="20",
    )
    jobs = Jobs(real_redis, KINDS)

    def start() -> dict[str, Any]:
        record, _ = jobs.start(INSTANCE, "bootstrap")
        os.environ["REDIS_URL"] = redis_url
        CeleryDispatcher().run_job(record["id"], "bulk")
        return record

    def some_accounts() -> bool:
        return len(fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]) >= 250

    def still_running(record: dict[str, Any]) -> None:
        assert jobs.get(record["id"])["status"] == "running"

    try:
        with worker_killed_midway(
            env, start, some_accounts, 90, "the job to be a quarter done", before_resume=still_running
        ) as record:
            wait_for(lambda: jobs.get(record["id"])["status"] != "running", 240, "the job to resume and end")
            finished = jobs.get(record["id"])
            assert finished["status"] == "succeeded", finished["failures"]
            accounts = fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]
            assert len(accounts) == 1000
            assert len({account["contactId"] for account in accounts}) == 1000
            assert (finished["total"], finished["failed"]) == (1000, 0)
    finally:
        fake_wix.control("DELETE", "faults")
        fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})
