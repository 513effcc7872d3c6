"""Wix's per-instance rate limit, held by every worker together (wix-facts.md §4.6: 200 requests/minute).

A sliding-window log in one Lua script, so the check and the admission are one atomic step: the
instance's sorted set holds one member per call admitted in the last window, scored in milliseconds by
Redis's own clock (`TIME`), so workers on different hosts need no agreed clock. A call is admitted while
fewer than `limit` members remain once the expired ones are dropped; otherwise the script answers how
long until the oldest leaves the window. Unlike a token bucket or GCRA with a full-size burst, no window of
`window_seconds` ever holds more than `limit` calls, and the set never holds more than `limit` members.
"""

from __future__ import annotations

import uuid

import redis

from worker import keys

WIX_REQUESTS_PER_MINUTE = 200

# KEYS[1] the instance's window; ARGV: limit, window in ms, a unique member.
# Answers 0 when admitted, else the milliseconds until a slot frees (at least 1).
_ADMIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


# A second longer than Wix's minute: Wix counts a call when it arrives, a little after we admitted it, so
# a window of exactly 60 s lets the 201st call through a hair before Wix's oldest one leaves its window.
WINDOW_SECONDS = 61.0


class RateLimiter:
    """Admits at most `limit` Wix calls per instance in any `window_seconds`, across all processes."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        limit: int = WIX_REQUESTS_PER_MINUTE,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("the rate limit needs a positive limit and window")
        self._limit = limit
        self._window_ms = max(1, round(window_seconds * 1000))
        self._admit = client.register_script(_ADMIT)

    def try_acquire(self, instance_id: str) -> float:
        """Take one slot for the instance: 0.0 when admitted, else the seconds until one frees."""
        wait_ms = self._admit(
            keys=[keys.wix_rate(instance_id)], args=[self._limit, self._window_ms, uuid.uuid4().hex]
        )
        return int(wait_ms) / 1000
