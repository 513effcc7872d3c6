"""Redis over TLS (`rediss://`) on a real TLS server started for this module, its certificate signed by a
CA of the test's own: the receiver, the store and a Celery worker through it; and a certificate nothing
vouches for is refused by every client, the broker's included (kombu alone would accept any)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import service_env, service_stack, webhook_processed
from tests.tls_certificates import write_certificates
from worker.infra.embedded_redis import free_port
from worker.infra.redis_client import sync_client
from worker.infra.redis_cluster import binary
from worker.infra.redis_processes import spawn_server

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TlsRedis:
    port: int
    ca_file: Path

    def url(self, query: str = "") -> str:
        return f"rediss://127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")

    @property
    def verified_url(self) -> str:
        return self.url(f"ssl_ca_certs={self.ca_file}")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    server = binary("redis-server")
    if server is None:
        pytest.skip("no redis-server to start a TLS Redis")
    folder = tmp_path_factory.mktemp("tls-redis")
    ca_file, cert_file, key_file = write_certificates(folder)
    port = free_port()
    process = spawn_server(
        [
            server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--tls-cert-file", str(cert_file),
            "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no",
        ]
    )  # fmt: skip
    tls = TlsRedis(port, ca_file)
    client = redis.Redis.from_url(tls.verified_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    try:
        while True:
            if process.poll() is not None:
                pytest.skip("this redis-server was built without TLS")
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    pytest.fail("the TLS Redis did not answer within 10 s")
                time.sleep(0.05)
        yield tls
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def test_a_webhook_goes_through_redis_over_tls(tls_redis: TlsRedis, public_key_pem: str, private_key) -> None:  # type: ignore[no-untyped-def]
    """The receiver journals and queues, the worker (with this service's put-back transport) takes the
    task and settles the event: all over TLS, the server's certificate checked against the URL's CA."""
    with service_stack(service_env(tls_redis.verified_url, public_key_pem)) as stack:
        webhook_processed(stack.base_url, private_key, timeout=30)  # queued, then processed


BROKER_PROBE = (
    "from worker.runtime.celery_app import app\n"
    "connection = app.connection_for_read()\n"
    "print(type(connection.transport).__module__)\n"
    "connection.default_channel.client.ping()\n"
    "print('connected')\n"
)


def _probe_broker(url: str) -> subprocess.CompletedProcess[str]:
    env = service_env(url, "")
    return subprocess.run(
        [sys.executable, "-c", BROKER_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_broker_takes_the_put_back_transport_and_checks_the_certificate(tls_redis: TlsRedis) -> None:
    done = _probe_broker(tls_redis.verified_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["worker.runtime.broker_transport", "connected"]


def test_a_certificate_nothing_vouches_for_is_refused_by_every_client(tls_redis: TlsRedis) -> None:
    """`rediss://` without the CA: the server's certificate is self-made as far as the clients know."""
    done = _probe_broker(tls_redis.url())
    assert done.returncode != 0 and "connected" not in done.stdout
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
    store = sync_client(tls_redis.url(), timeout=2.0, retries=False)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        store.ping()
    store.close()


def test_redbeat_reaches_the_store_over_tls(tls_redis: TlsRedis) -> None:
    """Beat's lock and schedule (RedBeat's own client, from the store's URL) over TLS as well."""
    script = (
        "from redbeat.schedulers import get_redis; from worker.runtime.celery_app import app; "
        "get_redis(app).set('wrw:beat:probe', 'here')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=service_env(tls_redis.verified_url, ""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with redis.Redis.from_url(tls_redis.verified_url, decode_responses=True) as store:
        assert store.get("wrw:beat:probe") == "here"
