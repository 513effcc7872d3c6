"""The workers' Wix client: one per worker process, made on first use (after Celery's fork)."""

from __future__ import annotations

from functools import lru_cache

from worker.runtime.celery_app import redis_store
from worker.settings import get_settings
from worker.wix.client import WixClient


@lru_cache
def wix_client() -> WixClient:
    return WixClient.from_settings(get_settings(), redis_store())
