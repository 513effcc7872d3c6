"""`monthly-messages` against the fake Wix with a real worker and real Redis: a run twice in one month
sends once per member, and a worker SIGKILLed mid-run still ends with exactly one message per member."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import httpx

from tests.integration.conftest import (
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    run_job_from_cli,
    service_env,
    start_worker,
    wait_for,
    worker_killed_midway,
)

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000c001"


def seed(fake_wix: FakeWixProcess, members: int, guests: int) -> dict[str, int]:
    """`members` site members and `guests` plain contacts, each with a loyalty account opened through
    Wix's API (a member's gets its memberId) and 10 points per member number; the balance by member id."""
    fake_wix.control("POST", "reset")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 0})
    fake_wix.control(
        "PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}}
    )
    token = httpx.post(
        f"{fake_wix.base_url}/oauth2/token",
        json={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET,
              "instance_id": INSTANCE},
        timeout=5,
    ).json()["access_token"]  # fmt: skip
    wix = httpx.Client(base_url=fake_wix.base_url, headers={"Authorization": token}, timeout=5)
    balances: dict[str, int] = {}
    for n in range(members):
        fake_wix.control(
            "POST", f"instances/{INSTANCE}/members", json={"id": f"m-{n}", "contactId": f"c-{n}"}
        )
        account = wix.post("/loyalty-accounts/v1/accounts", json={"contactId": f"c-{n}"}).json()["account"]
        earn = {"amount": 10 * (n + 1), "description": "seed", "appId": APP_ID, "idempotencyKey": f"seed-{n}"}
        wix.post(f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points", json=earn).raise_for_status()
        balances[f"m-{n}"] = 10 * (n + 1)
    for n in range(guests):
        wix.post("/loyalty-accounts/v1/accounts", json={"contactId": f"guest-{n}"}).raise_for_status()
    wix.close()
    return balances


def messages_by_member(fake_wix: FakeWixProcess) -> Counter[str]:
    """How many messages each member got, read back from the fake's record."""
    sent = fake_wix.control("GET", f"instances/{INSTANCE}/messages")["messages"]
    return Counter(message["participant"].get("memberId", "?") for message in sent)


def worker_env(fake_wix: FakeWixProcess, redis_url: str, **extra: str) -> dict[str, str]:
    return service_env(
        redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        WIX_RATE_LIMIT_PER_MINUTE="2000",
        **extra,
    )


def run_from_cli(env: dict[str, str]) -> dict[str, Any]:
    return run_job_from_cli(env, "monthly-messages", INSTANCE, timeout=120)


def test_a_run_twice_in_one_month_sends_once_per_member(
    fake_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """Six members and three accounts without one: six messages with balance, points name and call to
    action; run again the same month: nothing more is sent and every account is skipped."""
    from worker.store.progress import ProgressStore

    balances = seed(fake_wix, members=6, guests=3)
    ProgressStore(real_redis).save_program(INSTANCE, {"timezone": "Europe/Berlin"})
    env = worker_env(fake_wix, redis_url)
    worker = start_worker(env)
    try:
        first = run_from_cli(env)
        assert first["status"] == "succeeded", first
        assert (first["total"], first["done"], first["skipped"], first["failed"]) == (9, 6, 3, 0)
        assert messages_by_member(fake_wix) == Counter({member: 1 for member in balances})
        sent = fake_wix.control("GET", f"instances/{INSTANCE}/messages")["messages"]
        for record in sent:
            text = record["message"]["content"]["basic"]["items"][0]["text"]
            assert f"{balances[record['participant']['memberId']]} Stars" in text
            assert record["message"]["sender"]["appId"] == APP_ID

        again = run_from_cli(env)
        assert again["id"] != first["id"]
        assert (again["done"], again["skipped"], again["failed"]) == (0, 9, 0)
        assert messages_by_member(fake_wix) == Counter({member: 1 for member in balances})
    finally:
        worker.stop()
        fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})


def test_a_worker_killed_mid_run_still_sends_one_message_per_member(
    fake_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """Sends answer slowly (Wix records each at once, then waits); the worker is SIGKILLed mid-run and
    another resumes the job: every member ends with exactly one message and the job succeeds."""
    from worker.jobs.registry import KINDS
    from worker.jobs.runner import Jobs
    from worker.runtime.dispatcher import CeleryDispatcher

    balances = seed(fake_wix, members=16, guests=2)
    fake_wix.control(
        "POST",
        "faults",
        json={"count": 100, "delaySeconds": 0.3, "when": "after", "pathPrefix": "/inbox/v2/messages",
              "method": "POST"},
    )  # fmt: skip
    env = worker_env(fake_wix, redis_url, CELERY_VISIBILITY_TIMEOUT="20")
    jobs = Jobs(real_redis, KINDS)

    def start() -> dict[str, Any]:
        record, _ = jobs.start(INSTANCE, "monthly-messages")
        os.environ["REDIS_URL"] = redis_url
        CeleryDispatcher().run_job(record["id"], "bulk")
        return record

    def still_running(record: dict[str, Any]) -> None:
        assert jobs.get(record["id"])["status"] == "running"

    try:
        with worker_killed_midway(
            env,
            start,
            lambda: sum(messages_by_member(fake_wix).values()) >= 4,
            30,
            "the job to be under way",
            before_resume=still_running,
        ) as record:
            wait_for(lambda: jobs.get(record["id"])["status"] != "running", 120, "the job to resume and end")
            finished = jobs.get(record["id"])
            assert finished["status"] == "succeeded", finished["failures"]
            assert messages_by_member(fake_wix) == Counter({member: 1 for member in balances})
    finally:
        fake_wix.control("DELETE", "faults")
        fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})
