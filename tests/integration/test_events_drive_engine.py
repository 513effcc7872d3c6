"""End to end, all real: signed order_paid webhooks over HTTP → Redis → a Celery worker → the program's
rules → the engine; the admin API's journal record shows the logs and the milestones they achieved."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import ADMIN_TOKEN, wait_for
from worker.dev.programs import BASE_PROGRAM, rule
from worker.infra.redis_client import sync_client
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
RULES = [
    rule("order_paid", streak="weekly-shopper"),
    rule("order_paid", challenge="spend-500", value="order.total"),
]


@pytest.fixture(scope="module")
def store(module_redis_url: str) -> ProgressStore:
    """The module's real Redis, with the instance's program (DESIGN's example rules) saved in it."""
    store = ProgressStore(sync_client(module_redis_url))
    store.save_program(INSTANCE_ID, {**BASE_PROGRAM, "rules": RULES})
    return store


def paid_order(order_id: str, contact_id: str, total: str) -> dict[str, Any]:
    """A fresh order_paid webhook (new event id) for the order, paid just now."""
    payload = copy.deepcopy(wix_samples.payment_status_updated(str(uuid.uuid4())))
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = order_id
    order["buyerInfo"]["contactId"] = contact_id
    order["priceSummary"]["total"]["amount"] = total
    payload["eventTime"] = datetime.now(UTC).isoformat()
    return payload


def post(base_url: str, private_key: Any, payload: dict[str, Any]) -> None:
    token = sign_webhook(private_key, ORDER_PAID, INSTANCE_ID, payload)
    response = httpx.post(
        f"{base_url}/webhooks/wix", content=token, headers={"content-type": "text/plain"}, timeout=5
    )
    assert response.json() == {"status": "queued"}


def journaled(base_url: str, event_id: str) -> dict[str, Any]:
    """The admin API's record of the event once the worker has settled it."""

    def settled() -> dict[str, Any] | None:
        response = httpx.get(
            f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{event_id}",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=5,
        )
        if response.status_code == 200 and response.json()["status"] != "queued":
            return response.json()  # type: ignore[no-any-return]
        return None

    record: dict[str, Any] = wait_for(settled, 20, f"event {event_id} to be settled")
    logs = record["logs"]
    record["logs"] = json.loads(logs) if isinstance(logs, str) else logs  # journal fields are text
    return record


class TestEventsDriveTheEngine:
    def test_a_paid_order_is_logged_and_achieves_a_milestone(
        self, web, celery_worker, store, private_key
    ) -> None:
        """The journal lists the streak and challenge logs, and `half` achieved with its reward log."""
        order_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
        payload = paid_order(order_id, contact_id, "300.00")
        post(web, private_key, payload)
        record = journaled(web, payload["id"])
        assert record["status"] == "processed"
        streak, challenge = record["logs"]
        assert (streak["streak"], streak["applied"], streak["activityValue"]) == ("weekly-shopper", True, "1")
        assert streak["uniqueIdentifier"] == f"wix:order:{order_id}:order_paid:streak:weekly-shopper"
        assert (challenge["challenge"], challenge["applied"]) == ("spend-500", True)
        assert challenge["achievedMilestones"] == ["half"]
        (reward_log_id,) = challenge["rewardLogIds"]
        assert store.reward_log(INSTANCE_ID, reward_log_id)["milestoneId"] == "half"

    def test_the_same_order_paid_by_a_second_webhook_counts_once(
        self, web, celery_worker, store, private_key
    ) -> None:
        """Another webhook (new event id) about the same order: journaled as duplicates, nothing added."""
        order_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
        first = paid_order(order_id, contact_id, "120.00")
        post(web, private_key, first)
        journaled(web, first["id"])
        second = paid_order(order_id, contact_id, "120.00")
        post(web, private_key, second)
        record = journaled(web, second["id"])
        assert record["status"] == "processed"
        assert [entry["duplicate"] for entry in record["logs"]] == [True, True]
        assert all(entry["reason"] == f"already counted by event {first['id']}" for entry in record["logs"])
        state = store.member_state(INSTANCE_ID, contact_id, "challenge", "spend-500")
        assert [str(log.activityValue) for log in state.logs] == ["120.00"]
