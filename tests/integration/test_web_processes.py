"""`WEB_PROCESSES=2`: two receiver processes on one port, and each scrape of /metrics counts what both
received (before, each process answered with its own counts: a scrape saw about half)."""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import service_env, start_web, wait_for
from worker.wix.webhook_signing import sign_webhook

EVENT = "wix.ecom.v1.order_approved"


def queued_in_scrape(base_url: str) -> float:
    """`wix_webhooks_total{outcome="queued"}` summed over event types, as one scrape answers it."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "wix_webhooks"
        for sample in family.samples
        if sample.name == "wix_webhooks_total" and sample.labels["outcome"] == "queued"
    )


def queued_by_each_process(metrics_dir: Path, scratch: Path) -> list[float]:
    """What each process's own counter file says it queued (read alone, file by file)."""
    counts = []
    for index, counter_file in enumerate(sorted(metrics_dir.glob("counter_*.db"))):
        alone = scratch / str(index)
        alone.mkdir()
        shutil.copy(counter_file, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts.append(
            registry.get_sample_value("wix_webhooks_total", {"event_type": EVENT, "outcome": "queued"}) or 0.0
        )
    return counts


def test_each_scrape_counts_every_process(
    real_redis: Any, redis_url: str, public_key_pem: str, private_key: Any, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    web, base_url = start_web(
        service_env(redis_url, public_key_pem, WEB_PROCESSES="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    )
    sent = 0

    def post() -> None:
        payload = wix_samples.order_approved(event_id=str(uuid.uuid4()))
        token = sign_webhook(private_key, EVENT, INSTANCE_ID, payload)
        answer = httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=5)  # a connection each
        assert answer.json() == {"status": "queued"}

    def both_processes_received_some() -> bool:
        nonlocal sent
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: post(), range(16)))
        sent += 16
        scratch = tmp_path / f"scratch-{sent}"
        scratch.mkdir()
        counts = queued_by_each_process(metrics_dir, scratch)
        return len(counts) == 2 and all(count > 0 for count in counts)

    try:
        # Which process accepts a connection is the kernel's choice: send until both have had some.
        wait_for(both_processes_received_some, 30, "both web processes to receive webhooks")
        for _ in range(6):  # every scrape, whichever process answers it
            assert queued_in_scrape(base_url) == sent
    finally:
        web.stop()
