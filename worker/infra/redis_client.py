"""The one place that makes Redis clients, so every client has bounded timeouts and tests can swap them."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.settings import Settings, SettingsError

# The receiver must answer 503 within a second when Redis is gone, so its calls fail fast.
FAST_TIMEOUT = 0.5
# The web app's other routes (admin, records, widget) do a few round trips: each gets a second, one try.
WEB_TIMEOUT = 1.0


def require_redis_url(settings: Settings) -> str:
    """The store's URL (STORE_URL, else REDIS_URL): every client of the store and the journal uses it."""
    if not settings.store_address:
        raise SettingsError(
            "REDIS_URL is not set: `make run` starts an embedded Redis; elsewhere point REDIS_URL at a server"
        )
    return settings.store_address


def sync_client(url: str, *, timeout: float = 5.0, retries: bool = True) -> redis.Redis:
    """A client for the worker, the CLI and the web app (answers are strings). Without `retries`, a
    failed call fails at once (redis-py otherwise tries three more times, seconds apart): the web app
    answers 503 and its client tries again."""
    options = {} if retries else {"retry": Retry(NoBackoff(), 0)}
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        **options,
    )


def async_client(url: str) -> redis.asyncio.Redis:
    """A client for the receiver's request path: one try, then the caller answers 503.

    No `socket_timeout`: redis-py enforces it with `asyncio.wait_for` on every read and write (a new task
    each time on Python 3.11); the receiver bounds each whole call with one `asyncio.timeout` instead.
    """
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=FAST_TIMEOUT,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
    )
    return client
