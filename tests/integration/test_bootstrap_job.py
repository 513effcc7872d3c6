"""`bootstrap` against the fake Wix with a real worker: a DRAFT program activated, an account for every
contact, and a second run that finds them all (nothing made twice)."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import (
    FakeWixProcess,
    job_resumed_after_a_kill,
    run_job_from_cli,
    service_stack,
)

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000b001"


def run_bootstrap(env: dict[str, str]) -> dict[str, Any]:
    return run_job_from_cli(env, "bootstrap", INSTANCE)


def accounts(fake_wix: FakeWixProcess) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"])


def test_bootstrap_activates_and_opens_every_account_once(
    calm_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """90 contacts, a DRAFT program: ACTIVE afterwards, 90 accounts; run again: 90 skipped, none made."""
    calm_wix.control("PUT", f"instances/{INSTANCE}/program", json={"status": "DRAFT"})
    calm_wix.control("POST", f"instances/{INSTANCE}/contacts/bulk", json={"count": 90})
    env = calm_wix.env(redis_url, WIX_RATE_LIMIT_PER_MINUTE="2000")
    with service_stack(env, web=False):
        first = run_bootstrap(env)
        assert first["status"] == "succeeded", first
        assert (first["total"], first["done"], first["skipped"], first["failed"]) == (90, 90, 0, 0)
        program = calm_wix.control("GET", f"instances/{INSTANCE}/program")["program"]
        assert program["status"] == "ACTIVE"
        assert len(accounts(calm_wix)) == 90

        again = run_bootstrap(env)
        assert again["id"] != first["id"]
        assert (again["done"], again["skipped"]) == (0, 90)
        assert len(accounts(calm_wix)) == 90


def test_a_worker_killed_mid_job_loses_nothing_and_doubles_nothing(
    calm_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """1,000 contacts; accounts open slowly; the worker is SIGKILLed midway, mid-batch; another worker
    resumes the job: every contact ends with exactly one account and the job succeeds."""
    calm_wix.control("POST", f"instances/{INSTANCE}/contacts/bulk", json={"count": 1000})
    slow = {
        "count": 400,
        "delaySeconds": 0.02,
        "pathPrefix": "/loyalty-accounts/v1/accounts",
        "method": "POST",
    }
    calm_wix.control("POST", "faults", json=slow)
    env = calm_wix.env(redis_url, WIX_RATE_LIMIT_PER_MINUTE="10000", CELERY_VISIBILITY_TIMEOUT="10")

    finished = job_resumed_after_a_kill(
        env, real_redis, INSTANCE, "bootstrap", lambda: len(accounts(calm_wix)) >= 250, 90, 240
    )

    assert finished["status"] == "succeeded", finished["failures"]
    made = accounts(calm_wix)
    assert len(made) == 1000
    assert len({account["contactId"] for account in made}) == 1000
    assert (finished["total"], finished["failed"]) == (1000, 0)
