"""Instance API keys: shown once when created, stored only as a SHA-256 digest.

A key is 32 random bytes, so a plain digest is enough (no salt or slow hash needed: there is nothing
to guess); the key's prefix `wrw_` lets secret scanners recognise it.
"""

from __future__ import annotations

import hashlib
import secrets

import redis

from worker import keys
from worker.store.instances import is_removed
from worker.store.journal import now_iso

PREFIX = "wrw_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(client: redis.Redis, instance_id: str) -> str:
    """A new key for the instance; only its digest is kept."""
    key = PREFIX + secrets.token_urlsafe(32)
    client.hset(keys.api_key(_digest(key)), mapping={"instanceId": instance_id, "createdAt": now_iso()})
    return key


def instance_for(client: redis.Redis, key: str) -> str | None:
    """The instance a key belongs to, or None for an unknown key, or one of a site that removed the app
    (its keys work again if the app is installed again before the data is purged)."""
    if not key.startswith(PREFIX):
        return None
    instance = client.hget(keys.api_key(_digest(key)), "instanceId")
    if not isinstance(instance, str) or is_removed(client, instance):
        return None
    return instance
