"""Redis must keep what it is given: AOF on and no eviction (DESIGN.md). Say plainly when it won't."""

from __future__ import annotations

import redis
import redis.sentinel
from redis.cluster import RedisCluster


def describe_durability_problems(client: redis.Redis, name: str = "Redis") -> list[str]:
    """Plain sentences naming each setting that puts queued events at risk; [] when all is well. On a Redis
    Cluster, every primary is asked (each holds its slots alone), and a sentence names its node. `name`
    says which server the sentences are about (the store's, or a broker's of its own)."""
    if isinstance(client, RedisCluster):
        return _cluster_problems(client)
    try:
        config: dict[str, str] = client.config_get("appendonly")  # type: ignore[assignment]
        config.update(client.config_get("maxmemory-policy"))  # type: ignore[arg-type]
        appendonly, policy = config.get("appendonly"), config.get("maxmemory-policy")
    except redis.ResponseError:
        return []  # CONFIG is disabled on some managed servers: nothing to check
    except redis.RedisError:
        return [f"{name} does not answer at start: webhooks will be answered 503 until it does"]
    problems = []
    if appendonly != "yes":
        problems.append(
            f"{name} runs without AOF (appendonly no): a restart loses queued events; set appendonly yes"
        )
    if policy != "noeviction":
        problems.append(f"{name} maxmemory-policy is {policy}: it may evict queued events; set noeviction")
    problems += describe_sentinel_problems(client)
    return problems


def is_cluster_node(client: redis.Redis) -> bool:
    """Whether the server runs with `cluster-enabled yes` (False when it does not answer: that is said
    elsewhere)."""
    try:
        info: dict[str, object] = client.info("cluster")  # type: ignore[assignment]
        return bool(info.get("cluster_enabled"))
    except redis.RedisError:
        return False


def describe_broker_problems(client: redis.Redis) -> list[str]:
    """The same sentences for a Redis broker on another server than the store (BROKER_URL): the tasks of
    queued events live there until a worker has run them, so its AOF and eviction matter as the store's."""
    return describe_durability_problems(client, "the broker's Redis (BROKER_URL)")


def _cluster_problems(client: RedisCluster) -> list[str]:
    try:
        configs: dict[str, dict[str, str]] = client.config_get(  # type: ignore[assignment]
            "appendonly", target_nodes=RedisCluster.PRIMARIES
        )
        policies: dict[str, dict[str, str]] = client.config_get(  # type: ignore[assignment]
            "maxmemory-policy", target_nodes=RedisCluster.PRIMARIES
        )
    except redis.ResponseError:
        return []
    except redis.RedisError:
        return ["the Redis Cluster does not answer at start: webhooks will be answered 503 until it does"]
    problems = []
    for node, config in sorted(configs.items()):
        if config.get("appendonly") != "yes":
            problems.append(
                f"Redis Cluster node {node} runs without AOF (appendonly no): a restart loses what it holds; "
                "set appendonly yes"
            )
        policy = policies.get(node, {}).get("maxmemory-policy")
        if policy != "noeviction":
            problems.append(f"Redis Cluster node {node} maxmemory-policy is {policy}: set noeviction")
    return problems


def describe_sentinel_problems(client: redis.Redis) -> list[str]:
    """For a store that Sentinel manages: a master that acknowledges writes with no replica in reach, whose
    acknowledged webhooks a failover can throw away (README "Redis Sentinel"); [] when all is well or the
    store is not a Sentinel set."""
    if not isinstance(client.connection_pool, redis.sentinel.SentinelConnectionPool):
        return []
    try:
        config: dict[str, str] = client.config_get("min-replicas-to-write")  # type: ignore[assignment]
    except redis.RedisError:
        return []  # unreachable or CONFIG disabled: describe_durability_problems says the first
    if config.get("min-replicas-to-write", "0") == "0":
        return [
            "the Sentinel master runs with min-replicas-to-write 0: a failover can lose webhooks already "
            'answered 200; set min-replicas-to-write 1 (README "Redis Sentinel")'
        ]
    return []
