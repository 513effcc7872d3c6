"""`STORE_CLUSTER`: the store's client is redis-py's cluster client through any one node, whose pipeline is
a MULTI (a step across slots is refused), or one Redis's client without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import CrossSlotTransactionError

from worker.infra.redis_client import store_client
from worker.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[3]


def test_without_store_cluster_the_store_is_one_redis(redis_url: str) -> None:
    client = store_client(Settings(redis_url=redis_url))
    assert isinstance(client, redis.Redis) and not isinstance(client, RedisCluster)
    client.close()


def test_with_store_cluster_any_node_reaches_the_whole_cluster(
    redis_cluster, cluster_store, redis_url: str
) -> None:
    """Through the third node: keys of every slot are read and written; a MULTI across slots fails."""
    url = f"redis://127.0.0.1:{redis_cluster.ports[2]}/0"
    client = store_client(Settings(redis_url=redis_url, store_url=url, store_cluster=True))
    assert isinstance(client, RedisCluster)
    for n in range(20):
        client.set(f"wrw:probe:{n}", n)
    names = [f"wrw:probe:{n}" for n in range(20)]
    assert [int(v) for v in cluster_store.mget_nonatomic(names)] == list(range(20))
    assert len({cluster_store.keyslot(name) for name in names}) > 1  # the keys span slots (and nodes)
    with pytest.raises(CrossSlotTransactionError), client.pipeline() as pipe:
        pipe.set("wrw:{a}:x", 1)
        pipe.set("wrw:{b}:x", 1)
        pipe.execute()
    client.close()


def test_each_primary_of_a_cluster_is_checked_for_durability(redis_cluster, cluster_store) -> None:
    """The test cluster runs without AOF: the start-up check names every primary, not one of them."""
    from worker.infra.redis_health import describe_durability_problems

    problems = describe_durability_problems(cluster_store)
    aof = [problem for problem in problems if "appendonly no" in problem]
    assert sorted(port for port in redis_cluster.ports if any(f":{port} " in p for p in aof)) == sorted(
        redis_cluster.ports
    )


def test_a_broker_on_a_node_of_the_stores_cluster_is_refused(redis_cluster, redis_url: str) -> None:
    """BROKER_URL naming another node of the cluster than STORE_URL passes the settings' own check (the
    URLs differ), but kombu cannot use a cluster node: the web process refuses to start, saying why."""
    from worker.infra.redis_client import check_broker_server
    from worker.web.app import create_app

    store_url = f"redis://127.0.0.1:{redis_cluster.ports[0]}/0"
    broker_url = f"redis://127.0.0.1:{redis_cluster.ports[1]}/0"
    settings = Settings(redis_url=redis_url, store_url=store_url, store_cluster=True, broker_url=broker_url)
    with pytest.raises(SettingsError, match="BROKER_URL names a node of a Redis Cluster"):
        check_broker_server(settings)
    with pytest.raises(SettingsError, match="BROKER_URL names a node of a Redis Cluster"):
        create_app(settings)


def test_a_single_redis_broker_beside_a_cluster_store_is_taken(redis_cluster, redis_url: str) -> None:
    from worker.infra.redis_client import check_broker_server

    store_url = f"redis://127.0.0.1:{redis_cluster.ports[0]}/0"
    settings = Settings(redis_url=redis_url, store_url=store_url, store_cluster=True, broker_url=redis_url)
    assert all("Cluster" not in problem for problem in check_broker_server(settings))


def test_a_worker_refuses_a_broker_on_a_cluster_node_with_one_line(redis_cluster, redis_url: str) -> None:
    """The Celery worker checks the broker as it starts, as the web process does: one line, and it exits."""
    store_url = f"redis://127.0.0.1:{redis_cluster.ports[0]}/0"
    broker_url = f"redis://127.0.0.1:{redis_cluster.ports[1]}/0"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "STORE_URL": store_url,
        "STORE_CLUSTER": "true",
        "BROKER_URL": broker_url,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel=WARNING", "--concurrency=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: BROKER_URL names a node of a Redis Cluster")
