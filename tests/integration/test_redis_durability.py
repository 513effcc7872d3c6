"""The service says plainly when its Redis would lose queued events (DESIGN.md: AOF, noeviction)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import redis

from worker.infra.embedded_redis import EmbeddedRedis
from worker.infra.redis_health import describe_durability_problems


def _problems(persistent: bool) -> list[str]:
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-durability-")), persistent=persistent)
    server.start()
    try:
        return describe_durability_problems(redis.Redis(port=server.port, decode_responses=True))
    finally:
        server.stop()


def test_the_embedded_redis_of_make_run_is_durable() -> None:
    """The embedded server `make run` starts has AOF and noeviction: nothing to report."""
    assert _problems(persistent=True) == []


def test_a_redis_without_aof_is_reported() -> None:
    """Without AOF the report names the setting and how to fix it."""
    [problem] = _problems(persistent=False)
    assert "appendonly yes" in problem


def test_an_evicting_redis_is_reported(real_redis) -> None:
    """An eviction policy other than noeviction is named."""
    previous = real_redis.config_get("maxmemory-policy")["maxmemory-policy"]
    real_redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        problems = describe_durability_problems(real_redis)
    finally:
        real_redis.config_set("maxmemory-policy", previous)
    assert any("allkeys-lru" in problem and "noeviction" in problem for problem in problems)
