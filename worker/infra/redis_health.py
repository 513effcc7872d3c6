"""Redis must keep what it is given: AOF on and no eviction (DESIGN.md). Say plainly when it won't."""

from __future__ import annotations

import redis


def describe_durability_problems(client: redis.Redis) -> list[str]:
    """Plain sentences naming each setting that puts queued events at risk; [] when all is well."""
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
    return problems
