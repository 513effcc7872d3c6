"""Preview before publishing, all real: signed order_paid webhooks over HTTP → Redis → a Celery worker →
the journal; then `POST .../program/dry-run` over HTTP answers what a draft would have done beside the live
program, and leaves the site's progress as it was."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import ADMIN_TOKEN, wait_for
from worker.dev.programs import MANUAL, challenge, milestone, points_rule, program, rule
from worker.infra.redis_client import sync_client
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
# Every order paid at one instant an hour ago: all in one month whatever the day.
PAID_AT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def spend_program(target: int, *, points_per: int | None = None) -> dict[str, Any]:
    """A monthly spend challenge with one manual milestone at `target`; points rules when `points_per`."""
    return program(
        challenges=[
            challenge(
                "spend",
                "Spend this month",
                method="sum",
                period="monthly",
                completion=1000,
                milestones=[milestone("reached", "Reached", target, MANUAL)],
            )
        ],
        rules=[rule("order_paid", challenge="spend", value="order.total")],
        points_rules=[points_rule("order_paid", 1, points_per)] if points_per else (),
    )


def post_paid(base_url: str, private_key: Any, contact_id: str, total: str) -> str:
    payload = copy.deepcopy(wix_samples.payment_status_updated(str(uuid.uuid4())))
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = str(uuid.uuid4())
    order["buyerInfo"]["contactId"] = contact_id
    order["priceSummary"]["total"]["amount"] = total
    payload["eventTime"] = PAID_AT
    token = sign_webhook(private_key, ORDER_PAID, INSTANCE_ID, payload)
    response = httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=5)
    assert response.json() == {"status": "queued"}
    return str(payload["id"])


def processed(base_url: str, event_id: str) -> None:
    url = f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{event_id}"
    wait_for(
        lambda: httpx.get(url, headers=ADMIN, timeout=5).json().get("status") == "processed",
        40,
        f"event {event_id} to be processed",
    )


def dry_run(
    base_url: str, body: str, content_type: str = "application/json", **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{base_url}/admin/v1/instances/{INSTANCE_ID}/program/dry-run",
        content=body,
        headers={"content-type": content_type, **ADMIN, **headers},
        timeout=30,
    )


@pytest.fixture(scope="module")
def store(module_redis_url: str) -> ProgressStore:
    store = ProgressStore(sync_client(module_redis_url))
    store.save_program(INSTANCE_ID, spend_program(500))
    return store


def test_the_dry_run_answers_what_a_lower_target_would_have_done(
    web, celery_worker, store, private_key
) -> None:
    """Two members pay three orders of 60 each (180 apiece): the live 500 milestone is reached by no one,
    a draft at 100 by both; the draft's points rule (1 per 10) would have given 6 points an order."""
    event_ids = [
        post_paid(web, private_key, contact, "60.00") for contact in ("ann", "ben") for _ in range(3)
    ]
    for event_id in event_ids:
        processed(web, event_id)
    state_before = store.member_state(INSTANCE_ID, "ann", "challenge", "spend")
    assert len(state_before.logs) == 3

    response = dry_run(web, json.dumps(spend_program(100, points_per=10)))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["events"] == 6
    assert answer["members"] == 2
    assert answer["stopped"] is False
    current, draft = answer["current"], answer["draft"]
    assert (current["logs"], draft["logs"]) == (6, 6)
    assert (current["rewardLogs"], draft["rewardLogs"]) == (0, 2)
    assert draft["rewardLogsByKind"] == {"coupon": 0, "points": 0, "manual": 2}
    assert (current["points"], draft["points"]) == (0, 36)
    assert answer["byItem"][0]["id"] == "spend"
    assert answer["byItem"][0]["draft"]["milestonesReached"] == 2
    # Nothing changed: the live program, the member's state, no reward log for anyone.
    assert store.program_document(INSTANCE_ID)[1] == spend_program(500)  # type: ignore[index]
    assert store.member_state(INSTANCE_ID, "ann", "challenge", "spend") == state_before
    assert store.member_reward_logs(INSTANCE_ID, "ann") == []


def test_yaml_is_taken_as_for_put_program(web, store) -> None:
    yaml_text = "timezone: UTC\nstreaks: []\n"
    response = dry_run(web, yaml_text, "application/yaml")
    assert response.status_code == 200, response.text
    assert response.json()["draft"]["logs"] == 0


def test_an_invalid_draft_is_422_with_each_problem(web, store) -> None:
    bad = spend_program(100)
    bad["challenges"][0]["milestones"][0]["milestoneTargetValue"] = -5
    response = dry_run(web, json.dumps(bad))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_program"
    assert any("milestoneTargetValue" in problem["path"] for problem in error["details"])


def test_without_the_admin_token_it_is_refused(web) -> None:
    response = httpx.post(f"{web}/admin/v1/instances/{INSTANCE_ID}/program/dry-run", content="{}", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
