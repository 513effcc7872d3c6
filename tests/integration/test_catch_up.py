"""A webhook dropped on purpose is recovered by `catch-up`, exactly once (real receiver, worker, Redis,
and the fake Wix's orders search)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests import wix_samples
from tests.integration.conftest import FakeWixProcess, run_job_over_http, wait_for
from tests.integration.shop import INSTANCE, paid_order_in_wix, signing_key
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook


def deliver(fake_wix: FakeWixProcess, base: str, order: dict[str, Any]) -> None:
    payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    payload["eventTime"] = order["updatedDate"]
    payload["actionEvent"]["body"]["order"] = order
    token = sign_webhook(signing_key(fake_wix), "wix.ecom.v1.order_payment_status_updated", INSTANCE, payload)  # type: ignore[arg-type]
    assert httpx.post(f"{base}/webhooks/wix", content=token, timeout=5).status_code == 200


def run_catch_up(base: str, since: str) -> dict[str, Any]:
    return run_job_over_http(base, INSTANCE, {"name": "catch-up", "since": since})


def test_a_dropped_webhook_is_recovered_once(fake_wix, shop_stack, real_redis) -> None:
    base = shop_stack.base_url
    store = ProgressStore(real_redis)
    delivered_contact, dropped_contact = f"contact-{uuid.uuid4()}", f"contact-{uuid.uuid4()}"
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    delivered = paid_order_in_wix(fake_wix, delivered_contact, "20.00")
    dropped = paid_order_in_wix(fake_wix, dropped_contact, "30.00")

    def values(contact: str) -> list[str]:
        return [
            str(log.activityValue)
            for log in store.member_state(INSTANCE, contact, "challenge", "spend-50").logs
        ]

    deliver(fake_wix, base, delivered)  # the other order's webhook never arrives
    wait_for(lambda: values(delivered_contact), 30, "the delivered webhook to count")
    assert values(dropped_contact) == []

    job = run_catch_up(base, since)

    assert job["status"] == "succeeded", job
    assert job["done"] == 1, job  # the dropped payment, and nothing else
    assert values(dropped_contact) == ["30.00"]
    assert values(delivered_contact) == ["20.00"]
    journal = EventJournal(real_redis, 3600)
    recovered = journal.get(INSTANCE, f"catch-up:{dropped['id']}:paid")
    assert recovered is not None and recovered["source"] == "catch-up"

    again = run_catch_up(base, since)

    assert again["status"] == "succeeded" and again["done"] == 0, again
    assert values(dropped_contact) == ["30.00"]
    assert values(delivered_contact) == ["20.00"]
