"""`monthly-messages` against the fake Wix with a real worker and real Redis: a run twice in one month
sends once per member, and a worker SIGKILLed mid-run still ends with exactly one message per member."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from tests.integration.conftest import (
    APP_ID,
    FakeWixProcess,
    job_resumed_after_a_kill,
    run_job_from_cli,
    service_stack,
)

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000c001"


def seed(fake_wix: FakeWixProcess, members: int, guests: int) -> dict[str, int]:
    """`members` site members and `guests` plain contacts in the fake Wix (reset by `calm_wix`), each with
    a loyalty account opened through Wix's API (a member's gets its memberId) and 10 points per member
    number; the balance by member id."""
    fake_wix.control(
        "PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}}
    )
    wix = httpx.Client(base_url=fake_wix.base_url, headers=fake_wix.app_headers(INSTANCE), timeout=5)
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


def run_from_cli(env: dict[str, str]) -> dict[str, Any]:
    return run_job_from_cli(env, "monthly-messages", INSTANCE, timeout=120)


def test_a_run_twice_in_one_month_sends_once_per_member(
    calm_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """Six members and three accounts without one: six messages with balance, points name and call to
    action; run again the same month: nothing more is sent and every account is skipped."""
    from worker.store.progress import ProgressStore

    balances = seed(calm_wix, members=6, guests=3)
    ProgressStore(real_redis).save_program(INSTANCE, {"timezone": "Europe/Berlin"})
    env = calm_wix.env(redis_url, WIX_RATE_LIMIT_PER_MINUTE="2000")
    with service_stack(env, web=False):
        first = run_from_cli(env)
        assert first["status"] == "succeeded", first
        assert (first["total"], first["done"], first["skipped"], first["failed"]) == (9, 6, 3, 0)
        assert messages_by_member(calm_wix) == Counter({member: 1 for member in balances})
        sent = calm_wix.control("GET", f"instances/{INSTANCE}/messages")["messages"]
        for record in sent:
            text = record["message"]["content"]["basic"]["items"][0]["text"]
            assert f"{balances[record['participant']['memberId']]} Stars" in text
            assert record["message"]["sender"]["appId"] == APP_ID

        again = run_from_cli(env)
        assert again["id"] != first["id"]
        assert (again["done"], again["skipped"], again["failed"]) == (0, 9, 0)
        assert messages_by_member(calm_wix) == Counter({member: 1 for member in balances})


def test_a_worker_killed_mid_run_still_sends_one_message_per_member(
    calm_wix: FakeWixProcess, real_redis, redis_url
) -> None:
    """Sends answer slowly (Wix records each at once, then waits); the worker is SIGKILLed mid-run and
    another resumes the job: every member ends with exactly one message and the job succeeds."""
    balances = seed(calm_wix, members=16, guests=2)
    calm_wix.control(
        "POST",
        "faults",
        json={"count": 100, "delaySeconds": 0.3, "when": "after", "pathPrefix": "/inbox/v2/messages",
              "method": "POST"},
    )  # fmt: skip
    env = calm_wix.env(redis_url, WIX_RATE_LIMIT_PER_MINUTE="2000", CELERY_VISIBILITY_TIMEOUT="10")

    finished = job_resumed_after_a_kill(
        env,
        real_redis,
        INSTANCE,
        "monthly-messages",
        lambda: sum(messages_by_member(calm_wix).values()) >= 4,
        30,
        120,
    )

    assert finished["status"] == "succeeded", finished["failures"]
    assert messages_by_member(calm_wix) == Counter({member: 1 for member in balances})
