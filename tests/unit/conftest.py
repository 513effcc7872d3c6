"""The unit tests' stores. `fake_store` is fakeredis; `real_redis` the real single Redis.

With `WRW_TEST_STORE=cluster` in the environment, both are a real three-node Redis Cluster instead (the
store's client as with `STORE_CLUSTER=true`), for every unit test: a MULTI, Lua call or WATCH whose keys
span hash slots fails there with CROSSSLOT. Without it, a module (or class) marked `both_stores` runs its
tests that use `fake_store` or `real_redis` twice, on one Redis and on the cluster, in every `make test`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest

STORES = ["single", "cluster"]


def _store_kind(request: pytest.FixtureRequest) -> str:
    """`single` or `cluster`. A test that also uses `fake_async` (the receiver's client: its journal-and-
    queue Lua is the broker's side, on one Redis) keeps one fakeredis server for both under the switch."""
    param: str | None = getattr(request, "param", None)
    if param is not None:
        return param
    if os.environ.get("WRW_TEST_STORE") == "cluster" and "fake_async" not in request.fixturenames:
        return "cluster"
    return "single"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_stores` run on one Redis and on the cluster (unless the env switch says cluster
    for everything already)."""
    if metafunc.definition.get_closest_marker("both_stores") is None:
        return
    if os.environ.get("WRW_TEST_STORE") == "cluster" or "fake_async" in metafunc.fixturenames:
        return  # everything on the cluster already; or the receiver's test, on one Redis (`_store_kind`)
    for name in ("fake_store", "real_redis"):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, STORES, indirect=True, scope="function")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `both_stores` test that is also a `calendar` one runs on the cluster at today's clock only: the
    cluster proves the key layout, which no instant changes (the instants still run on one Redis)."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_cluster = "cluster" in (params.get("fake_store"), params.get("real_redis"))
        at_an_instant = params.get("calendar_instant") is not None
        if on_cluster and at_an_instant and item.get_closest_marker("both_stores"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def fake_store(request: pytest.FixtureRequest, fake_server: fakeredis.FakeServer) -> object:
    if _store_kind(request) == "cluster":
        return request.getfixturevalue("cluster_store")
    return fakeredis.FakeRedis(server=fake_server, decode_responses=True)


@pytest.fixture
def real_redis(request: pytest.FixtureRequest) -> object:
    if _store_kind(request) == "cluster":
        return request.getfixturevalue("cluster_store")
    return request.getfixturevalue("single_redis")


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
def fake_async(fake_server: fakeredis.FakeServer) -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=fake_server, decode_responses=True)


@pytest.fixture
def another_store(
    request: pytest.FixtureRequest, fake_store: object, fake_server: fakeredis.FakeServer
) -> Callable[[], Any]:
    """Makes another client of `fake_store`'s store (a thread's own connection in the concurrency tests)."""
    from redis.cluster import RedisCluster

    from worker.infra.redis_client import cluster_client

    if isinstance(fake_store, RedisCluster):
        url = request.getfixturevalue("redis_cluster").url
        return lambda: cluster_client(url)
    return lambda: fakeredis.FakeRedis(server=fake_server, decode_responses=True)
