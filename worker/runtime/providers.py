"""What a process shares: its Redis client for state and its Wix client, each made on first use (in a
worker, after Celery's fork)."""

from __future__ import annotations

from functools import lru_cache

import redis

from worker.infra.redis_client import require_redis_url, sync_client
from worker.settings import get_settings
from worker.wix.client import WixClient


@lru_cache
def redis_store() -> redis.Redis:
    """The workers' Redis client for state (journal, dead letters, counters)."""
    return sync_client(require_redis_url(get_settings()))


@lru_cache
def wix_client() -> WixClient:
    return WixClient.from_settings(get_settings(), redis_store())
