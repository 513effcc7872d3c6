"""The store's tests run twice: on one Redis (fakeredis, or the real one for `real_redis`) and on a real
three-node Redis Cluster, where a MULTI, a Lua call or a WATCH whose keys span hash slots fails with
CROSSSLOT: such a step fails a test here, not production."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import pytest

STORES = ["single", "cluster"]


@pytest.fixture(params=STORES)
def fake_store(request: pytest.FixtureRequest, fake_server: fakeredis.FakeServer) -> object:
    if request.param == "cluster":
        return request.getfixturevalue("cluster_store")
    return fakeredis.FakeRedis(server=fake_server, decode_responses=True)


@pytest.fixture(params=STORES)
def real_redis(request: pytest.FixtureRequest) -> object:
    return request.getfixturevalue("cluster_store" if request.param == "cluster" else "single_redis")


@pytest.fixture
def single_redis(redis_url: str) -> object:
    """The real single Redis, emptied before and after."""
    from worker.infra.redis_client import sync_client

    client = sync_client(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def connect(request: pytest.FixtureRequest, real_redis: object, redis_url: str) -> Callable[[], Any]:
    """Makes another client of `real_redis`'s kind (a thread's own connection in the concurrency tests)."""
    from redis.cluster import RedisCluster

    from worker.infra.redis_client import cluster_client, sync_client

    if isinstance(real_redis, RedisCluster):
        url = request.getfixturevalue("redis_cluster").url
        return lambda: cluster_client(url)
    return lambda: sync_client(redis_url)
