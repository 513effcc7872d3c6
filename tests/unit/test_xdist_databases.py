"""Each pytest-xdist worker flushes a Redis database of its own (tests/conftest.py)."""

from __future__ import annotations

from tests.conftest import xdist_worker_redis_url


def test_ci_database_counts_down_per_worker() -> None:
    urls = [xdist_worker_redis_url("redis://127.0.0.1:6379/15", f"gw{n}") for n in range(4)]
    assert urls == [f"redis://127.0.0.1:6379/{db}" for db in (15, 14, 13, 12)]


def test_a_url_without_a_database_starts_at_zero_and_wraps() -> None:
    assert xdist_worker_redis_url("redis://127.0.0.1:6379", "gw0") == "redis://127.0.0.1:6379/0"
    assert xdist_worker_redis_url("redis://127.0.0.1:6379/", "gw1") == "redis://127.0.0.1:6379/15"


def test_credentials_and_options_are_kept() -> None:
    url = "redis://:secret@10.0.0.5:6380/9?socket_timeout=5"
    assert xdist_worker_redis_url(url, "gw2") == "redis://:secret@10.0.0.5:6380/7?socket_timeout=5"
