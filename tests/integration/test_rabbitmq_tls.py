"""RabbitMQ over TLS (`amqps://`, a TLS proxy with a certificate of the tests' own CA in front of the
RabbitMQ at 127.0.0.1:5672): with the CA in the URL (`cafile=`), the receiver publishes and a Celery
worker consumes through it; without, both refuse the certificate. (Before, the worker refused the URL's
`cafile=` with a TypeError, and with a bare `amqps://` trusted no CA at all.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import (
    service_env,
    service_stack,
    start_web,
    webhook_processed,
)
from tests.integration.rabbitmq import PORT, TlsProxy, rabbitmq_vhost
from tests.tls_certificates import write_certificates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def amqps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the vhost's amqps:// URL through the proxy, without TLS parameters; the CA file)."""
    ca_file, certificate, key = write_certificates(tmp_path_factory.mktemp("amqps"))
    with rabbitmq_vhost() as url:
        proxy = TlsProxy(certificate, key)
        try:
            yield url.replace("amqp://", "amqps://").replace(f":{PORT}/", f":{proxy.port}/"), ca_file
        finally:
            proxy.close()


def test_a_webhook_goes_through_rabbitmq_over_tls(
    amqps: tuple[str, Path], redis_url: str, real_redis: object, public_key_pem: str, private_key
) -> None:  # type: ignore[no-untyped-def]
    url, ca_file = amqps
    env = service_env(redis_url, public_key_pem, BROKER_URL=f"{url}?cafile={ca_file}")
    with service_stack(env) as stack:
        webhook_processed(stack.base_url, private_key, timeout=30)  # queued, then processed
        metrics = httpx.get(f"{stack.base_url}/metrics", timeout=5).text  # the queue depths, over TLS too
        assert 'wrw_queue_depth{queue="events"}' in metrics


PROBE = (
    "from worker.runtime.celery_app import app\n"
    "app.connection_for_write().ensure_connection(max_retries=1)\n"
    "print('connected')\n"
)


def test_without_the_ca_the_certificate_is_refused_by_both_clients(
    amqps: tuple[str, Path], redis_url: str, real_redis: object, public_key_pem: str
) -> None:
    url, _ = amqps
    env = service_env(redis_url, public_key_pem, BROKER_URL=url)
    worker = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert worker.returncode != 0 and "connected" not in worker.stdout
    assert "CERTIFICATE_VERIFY_FAILED" in worker.stderr
    web, base_url = start_web(env)
    try:
        assert httpx.get(f"{base_url}/readyz", timeout=5).status_code == 503  # the broker: not reached
    finally:
        web.stop()
