"""App access tokens, one per instance, cached in Redis and shared by every worker (wix-facts.md §4.1).

Wix's client-credentials token lives 4 hours (`expires_in` 14400). It is kept until `margin_seconds`
before it expires, so a call never leaves with a token about to lapse. When it is missing, a short lock
(`SET NX PX`) lets one process fetch it while the others poll the cache; a lock whose holder died
lapses after `lock_seconds` and the next waiter takes over. The token is a secret: it is never logged,
and `AccessToken`'s repr leaves it out.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from worker import keys

logger = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 14400
TOKEN_MARGIN_SECONDS = 300

# Delete KEYS[1] only while it still holds ARGV[1]: a lock we own, or the token that was refused.
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class TokenLockTimeout(TimeoutError):
    """Another process held the token lock for longer than we were willing to wait."""


class TokenWaitOutOfTime(TokenLockTimeout):
    """The caller's `max_wait` ran out before the lock holder's token appeared (the lock still held)."""


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_in: int = TOKEN_LIFETIME_SECONDS


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):
        return raw.decode()
    return raw if isinstance(raw, str) and raw else None


class TokenCache:
    def __init__(
        self,
        client: redis.Redis,
        *,
        margin_seconds: int = TOKEN_MARGIN_SECONDS,
        lock_seconds: float = 15.0,
        poll_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._margin = margin_seconds
        self._lock_ms = max(1, round(lock_seconds * 1000))
        self._poll = poll_seconds
        self._sleep = sleep
        self._clock = clock
        self._delete_if_equal = client.register_script(_DELETE_IF_EQUAL)

    def get(
        self, instance_id: str, fetch: Callable[[], AccessToken], *, max_wait: float | None = None
    ) -> str:
        """The instance's token from the cache, or fetched by exactly one process and cached for all.

        Raises `TokenLockTimeout` if no token appeared and the lock stayed taken for `lock_seconds`, or
        for `max_wait` seconds when that is shorter (a caller bound to a deadline: no wait past it).
        """
        cached = self.cached(instance_id)
        if cached is not None:
            return cached
        longest = self._lock_ms / 1000 + self._poll
        cut = max_wait is not None and max_wait < longest  # the caller's deadline comes first
        deadline = self._clock() + (max_wait if cut and max_wait is not None else longest)
        lock, owner = keys.wix_token_lock(instance_id), uuid.uuid4().hex
        while True:
            if self._redis.set(lock, owner, nx=True, px=self._lock_ms):
                try:
                    # Another process may have stored a token between our read and our lock.
                    return self.cached(instance_id) or self._fetch_and_store(instance_id, fetch)
                finally:
                    self._delete_if_equal(keys=[lock], args=[owner])
            if cut and self._clock() + self._poll > deadline:
                raise TokenWaitOutOfTime("another worker is still fetching this instance's Wix token")
            self._sleep(self._poll)
            cached = self.cached(instance_id)
            if cached is not None:
                return cached
            if self._clock() > deadline:
                raise TokenLockTimeout("another worker is still fetching this instance's Wix token")

    def cached(self, instance_id: str) -> str | None:
        return _text(self._redis.get(keys.wix_token(instance_id)))

    def drop(self, instance_id: str, token: str) -> None:
        """Forget a token Wix refused, unless another process has already replaced it."""
        self._delete_if_equal(keys=[keys.wix_token(instance_id)], args=[token])

    def _fetch_and_store(self, instance_id: str, fetch: Callable[[], AccessToken]) -> str:
        token = fetch()
        ttl = token.expires_in - self._margin
        if ttl <= 0:  # a lifetime shorter than the margin: keep it for half of it, if that is a second
            ttl = token.expires_in // 2
        if ttl > 0:
            self._redis.set(keys.wix_token(instance_id), token.value, ex=ttl)
        logger.info("fetched a Wix app token", extra={"instance_id": instance_id, "cached_seconds": ttl})
        return token.value
