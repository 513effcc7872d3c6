"""Wix calls counted by outcome and HTTP status, in Redis: the calls are made in the workers (other
processes than the web app's `/metrics`), which reads the counts back at scrape time
(worker/runtime/queue_metrics.py: `wrw_wix_calls_total`)."""

from __future__ import annotations

import logging

import redis

from worker import keys

logger = logging.getLogger(__name__)

OK = "ok"  # a 2xx answer
ERROR = "error"  # any other answer, or no connection
TIMEOUT = "timeout"  # Wix (or the way to it) did not answer in time
NO_STATUS = "none"  # the status label of a call that got no answer


def count_wix_call(client: redis.Redis, outcome: str, status: int | None) -> None:
    """Count one call; a Redis failure here is logged, never raised (the call itself went through)."""
    try:
        client.hincrby(keys.WIX_CALLS, f"{outcome}|{status if status is not None else NO_STATUS}", 1)
    except redis.RedisError:
        logger.warning("could not count a Wix call")


def outcome_of(status: int) -> str:
    return OK if 200 <= status < 300 else ERROR
