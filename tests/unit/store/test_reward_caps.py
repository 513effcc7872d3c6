"""Reward caps in the member's atomic step: a milestone's reward issued at most maxPerPeriod times per
member and period; past it the milestone is achieved, no reward log is created, the answer says why."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.engine.logs import accept_log
from worker.store.progress import ProgressStore

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)  # a Friday: the days before are in the same month
DAILY = {
    "id": "daily-order",
    "name": "An order a day",
    "status": "live",
    "activityIds": ["order_paid"],
    "aggregationMethod": "count",
    "aggregationPeriod": "daily",
    "completionTargetValue": 1,
    "milestones": [
        {
            "id": "m",
            "name": "Ordered today",
            "milestoneTargetValue": 1,
            "reward": {"type": "points", "points": 5, "maxPerPeriod": 2, "period": "monthly"},
        }
    ],
}


def record(store: ProgressStore, uid: str, at: datetime, contact: str = "c1") -> Any:
    program = store.program("i")
    item = program.challenge("daily-order")
    assert item is not None
    log = accept_log(
        item, contact_id=contact, activity_id="order_paid", activity_value=1,
        activity_at=at, unique_identifier=uid, now=NOW,
    )  # fmt: skip
    return store.record("i", program, item, log, NOW)


def test_the_third_reward_of_the_month_is_capped(fake_store) -> None:
    """Three days with an order: two reward logs, the third milestone capped; a duplicate of the third
    answers the same; another member has their own count."""
    store = ProgressStore(fake_store)
    store.save_program("i", {"challenges": [DAILY]})
    outcomes = [record(store, f"o{day}", NOW - timedelta(days=day)) for day in (2, 1, 0)]
    assert [len(o.reward_logs) for o in outcomes] == [1, 1, 0]
    third = outcomes[2].answer
    assert third["achievedMilestones"][0]["id"] == "m"  # still achieved
    assert third["achievedMilestoneRewardLogs"] == []
    assert third["cappedRewards"][0]["reason"] == "capped: maxPerPeriod 2 monthly reached"
    assert len(store.member_reward_logs("i", "c1")) == 2
    assert record(store, "o0", NOW).answer == third
    assert len(record(store, "other", NOW, contact="c2").reward_logs) == 1
    issued = sorted(f"fulfil:{r['id']}" for r in store.member_reward_logs("i", "c1"))
    fields: list[str] = fake_store.hkeys("wrw:{i:c1}:outbox")
    assert sorted(f for f in fields if f.startswith("fulfil:")) == issued  # nothing sent for the capped one


def test_logs_recorded_at_once_never_issue_past_the_cap(real_redis, connect) -> None:
    """Eight logs of one member over three days (three milestones reached, for two places), recorded by
    eight threads at once against a real Redis: exactly two reward logs (the member's step is atomic)."""
    ProgressStore(real_redis).save_program("i", {"challenges": [DAILY]})
    outcomes: list[Any] = []
    lock = threading.Lock()

    def work(day: int) -> None:
        client = connect()
        outcome = record(ProgressStore(client), f"o{day}", NOW - timedelta(days=day % 3, hours=day))
        with lock:
            outcomes.append(outcome)
        client.close()

    threads = [threading.Thread(target=work, args=(day,)) for day in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 8
    assert len(ProgressStore(real_redis).member_reward_logs("i", "c1")) == 2
    assert sum(len(o.reward_logs) for o in outcomes) == 2
