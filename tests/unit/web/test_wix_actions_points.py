"""The Execute actions earn a program's `activity` points rules, once per log (rewards/activity_points.py)."""

from __future__ import annotations

from typing import Any

from tests.unit.web.test_wix_actions import (  # noqa: F401  # the fixtures
    INSTANCE,
    PROGRAM,
    call,
    client,
    now_local,
    streak_params,
)
from worker.store.progress import ProgressStore


def test_an_executed_streak_log_earns_its_activity_once_however_often_wix_retries(
    call: Any,  # noqa: F811
    client: Any,  # noqa: F811
    fake_store: Any,
) -> None:
    ProgressStore(fake_store).save_program(
        INSTANCE, {**PROGRAM, "pointsRules": [{"activity": "order_paid", "points": 3}]}
    )
    for _ in range(3):
        answer = call("execute-streak", streak_params(now_local().isoformat(), uniqueIdentifier="review-7"))
        assert answer.status_code == 200, answer.text
    earns = client.app.state.follow_ups.earns
    assert [(instance_id, earn.contact_id, earn.points) for instance_id, earn in earns] == [
        (INSTANCE, "c1", 3)
    ]
