"""End to end, all real: a signed webhook over HTTP → Redis → a Celery worker → the event journal."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import ADMIN_TOKEN, ROOT, wait_for
from worker import keys
from worker.infra.redis_client import sync_client
from worker.wix.webhook_signing import sign_webhook


def post_webhook(base_url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/webhooks/wix", content=token, headers={"content-type": "text/plain"}, timeout=5
    )


def admin_record(base_url: str, event_id: str) -> httpx.Response:
    return httpx.get(
        f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{event_id}",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=5,
    )


def settled(base_url: str, event_id: str) -> dict | None:  # type: ignore[type-arg]
    response = admin_record(base_url, event_id)
    if response.status_code == 200 and response.json()["status"] != "queued":
        return response.json()
    return None


class TestWebhookToJournal:
    def test_a_paid_order_ends_processed(self, web, celery_worker, private_key) -> None:
        """The event posted over HTTP is processed by the worker; the admin API shows the outcome."""
        payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        token = sign_webhook(private_key, "wix.ecom.v1.order_payment_status_updated", INSTANCE_ID, payload)
        response = post_webhook(web, token)
        assert response.status_code == 200
        assert response.json() == {"status": "queued"}

        record = wait_for(lambda: settled(web, payload["id"]), 20, "the event to be processed")
        assert record["status"] == "processed"
        assert record["normalized"]["name"] == "order_paid"
        assert record["normalized"]["contactId"] == wix_samples.CONTACT_ID

    def test_the_cli_shows_the_same_record(self, web, celery_worker, private_key, module_redis_url) -> None:
        """`python -m worker events show ID` prints what the admin API answers."""
        payload = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
        post_webhook(web, sign_webhook(private_key, "wix.ecom.v1.checkout_completed", INSTANCE_ID, payload))
        wait_for(lambda: settled(web, payload["id"]), 20, "the event to be processed")
        shown = subprocess.run(
            [sys.executable, "-m", "worker", "events", "show", payload["id"]],
            cwd=ROOT,
            env={**_env(module_redis_url)},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(shown.stdout) == admin_record(web, payload["id"]).json()

    def test_an_ignored_event_says_why(self, web, celery_worker, private_key) -> None:
        """A payment update that is not PAID is journaled as ignored with the reason."""
        payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()), payment_status="NOT_PAID")
        post_webhook(
            web, sign_webhook(private_key, "wix.ecom.v1.order_payment_status_updated", INSTANCE_ID, payload)
        )
        record = wait_for(lambda: settled(web, payload["id"]), 20, "the event to be settled")
        assert record["status"] == "ignored"
        assert "NOT_PAID" in record["reason"]

    def test_the_admin_api_needs_the_token(self, web) -> None:
        """Without the admin token: 401 in the error shape; an unknown event: 404."""
        response = httpx.get(f"{web}/admin/v1/instances/{INSTANCE_ID}/events/x", timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert admin_record(web, "no-such-event").status_code == 404


class TestProcessedOnce:
    def test_the_same_event_posted_twice_is_processed_once(
        self, web, celery_worker, private_key, module_redis_url
    ) -> None:
        """The second delivery answers duplicate; the worker runs the event's task once."""
        store = sync_client(module_redis_url)
        payload = wix_samples.order_approved(event_id=str(uuid.uuid4()))
        token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
        before = _task_runs(store)
        assert post_webhook(web, token).json() == {"status": "queued"}
        assert post_webhook(web, token).json() == {"status": "duplicate"}
        wait_for(lambda: settled(web, payload["id"]), 20, "the event to be processed")
        wait_for(lambda: store.llen("events") == 0, 10, "the queue to drain")
        assert _task_runs(store) - before == 1

    def test_a_task_delivered_twice_changes_nothing_the_second_time(
        self, web, celery_worker, private_key, module_redis_url
    ) -> None:
        """At-least-once delivery: the same task message run again leaves the journal as it was."""
        from worker.runtime.celery_app import app

        store = sync_client(module_redis_url)
        payload = wix_samples.order_canceled(event_id=str(uuid.uuid4()))
        post_webhook(web, sign_webhook(private_key, "wix.ecom.v1.order_canceled", INSTANCE_ID, payload))
        first = wait_for(lambda: settled(web, payload["id"]), 20, "the event to be processed")
        before = _task_runs(store)
        app.send_task(
            "events.process_wix_event",
            kwargs={
                "event_type": "wix.ecom.v1.order_canceled",
                "instance_id": INSTANCE_ID,
                "event_id": payload["id"],
                "data": json.dumps(payload),
            },
        )
        wait_for(lambda: _task_runs(store) - before == 1, 20, "the redelivered task to run")
        assert admin_record(web, payload["id"]).json() == first


def _task_runs(store) -> int:  # type: ignore[no-untyped-def]
    return int(store.hget(keys.TASK_OUTCOMES, "events.process_wix_event|succeeded") or 0)


def _env(redis_url: str) -> dict[str, str]:
    import os

    return {**os.environ, "REDIS_URL": redis_url}
