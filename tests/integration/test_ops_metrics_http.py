"""`GET /metrics` over HTTP from the real web process shows the operators' gauges: webhooks waiting on the
`events` queue (no worker runs here) and their age, dead letters, running jobs and Wix calls."""

from __future__ import annotations

import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from worker.infra.redis_client import sync_client
from worker.jobs.runner import Jobs
from worker.store.dead_letters import DeadLetters
from worker.wix.call_counts import ERROR, count_wix_call
from worker.wix.webhook_signing import sign_webhook


def samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{base_url}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_show_queues_dead_letters_jobs_and_wix_calls(web, module_redis_url, private_key) -> None:
    client = sync_client(module_redis_url)
    for _ in range(2):
        payload = wix_samples.order_approved(event_id=str(uuid.uuid4()))
        token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
        answer = httpx.post(
            f"{web}/webhooks/wix", content=token, headers={"content-type": "text/plain"}, timeout=5
        )
        assert answer.json() == {"status": "queued"}
    DeadLetters(client).park(
        task_id="t1", task_name="x", args=[], kwargs={}, queue="rewards", error="E", retries=3
    )
    Jobs(client, {"sweep": lambda *_: None}).start(INSTANCE_ID, "sweep")  # type: ignore[dict-item]
    count_wix_call(client, ERROR, 429)
    time.sleep(1.2)

    seen = samples(web)
    assert seen[("wrw_queue_depth", (("queue", "events"),))] == 2
    assert 1.0 <= seen[("wrw_queue_oldest_message_age_seconds", (("queue", "events"),))] < 30
    assert seen[("wrw_queue_depth", (("queue", "periodic"),))] == 0
    assert seen[("wrw_dead_letters", ())] == 1
    assert seen[("wrw_jobs_running", ())] == 1
    assert seen[("wrw_wix_calls_total", (("outcome", "error"), ("status", "429")))] == 1
    client.close()
