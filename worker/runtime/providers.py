"""What a process shares: its Redis client for state and its Wix client, each made on first use (in a
worker, after Celery's fork)."""

from __future__ import annotations

from functools import lru_cache

import redis

from worker.infra.redis_client import store_client
from worker.jobs.runner import JobContext
from worker.runtime import dispatcher
from worker.settings import get_settings, wix_configured
from worker.wix.client import WixClient


@lru_cache
def redis_store() -> redis.Redis:
    """The workers' Redis client for state (journal, dead letters, counters)."""
    return store_client(get_settings())


@lru_cache
def wix_client() -> WixClient:
    return WixClient.from_settings(get_settings(), redis_store())


def configured_wix() -> WixClient | None:
    """The process's Wix client, or None when WIX_APP_ID / WIX_APP_SECRET are not set."""
    if not wix_configured(get_settings()):
        return None
    return wix_client()


def job_context(client: redis.Redis | None = None) -> JobContext:
    """What a job's batch works with in this process: its Redis (or `client`), its settings, and its Wix
    client and Celery dispatcher, each looked up when a kind first asks for it."""
    return JobContext(
        redis=client if client is not None else redis_store(),
        settings=get_settings(),
        wix=lambda: wix_client(),
        dispatcher=lambda: dispatcher.CeleryDispatcher(),
    )
