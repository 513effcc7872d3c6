"""Redis must keep what it is given: AOF on and no eviction (DESIGN.md). Say plainly when it won't."""

from __future__ import annotations

import redis
import redis.sentinel
from redis.cluster import RedisCluster


def describe_durability_problems(client: redis.Redis) -> list[str]:
    """Plain sentences naming each setting that puts queued events at risk; [] when all is well. On a Redis
    Cluster, every primary is asked (each holds its slots alone), and a sentence names its node."""
    if isinstance(client, RedisCluster):
        return _cluster_problems(client)
    try:
        config: dict[str, str] = client.config_get("appendonly")  # type: ignore[assignment]
        config.update(client.config_get("maxmemory-policy"))  # type: ignore[arg-type]
        appendonly, policy = config.get("appendonly"), config.get("maxmemory-policy")
    except redis.ResponseError:
        return []  # CONFIG is disabled on some managed servers: nothing to check
    except redis.RedisError:
        return ["Redis does not answer at start: webhooks will be answered 503 until it does"]
    problems = []
    if appendonly != "yes":
        problems.append(
            "Redis runs without AOF (appendonly no): a restart loses queued events; set appendonly yes"
        )
    if policy != "noeviction":
        problems.append(f"Redis maxmemory-policy is {policy}: it may evict queued events; set noeviction")
    problems += describe_sentinel_problems(client)
    return problems


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
