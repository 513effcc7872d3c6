"""Instance API keys: shown once when created, stored only as a SHA-256 digest.

A key is 32 random bytes, so a plain digest is enough (no salt or slow hash needed: there is nothing
to guess); the key's prefix `wrw_` lets secret scanners recognise it.

Each key is also listed under its instance by its first characters (`wrw_` and 8 more, the key's id):
enough for an operator to tell keys apart, far too few to use. Revoking a key keeps its record,
marked `revokedAt`, so a request with it is told the key was revoked rather than that it is unknown.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis

from worker import keys
from worker.store import audit_log
from worker.store.instances import is_removed
from worker.store.journal import now_iso

PREFIX = "wrw_"
ID_LENGTH = len(PREFIX) + 8


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown of a key: never the key itself."""

    id: str
    created_at: str
    revoked_at: str | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(client: redis.Redis, instance_id: str, who: str | None = None) -> str:
    """A new key for the instance; only its digest is kept, listed under the instance by its id. With
    `who`, the creation is written to the instance's audit log (with the key's id, never the key)."""
    index = keys.api_key_index(instance_id)
    while True:
        key = PREFIX + secrets.token_urlsafe(32)
        if client.hsetnx(index, key[:ID_LENGTH], _digest(key)):  # ids are 48 random bits: retries are rare
            break
    key_id = key[:ID_LENGTH]
    # The record is found by the key's digest (its own hash slot under Redis Cluster), the audit log by the
    # instance: two steps. A process killed between them never answered, so nobody has that key.
    client.hset(
        keys.api_key(_digest(key)), mapping={"instanceId": instance_id, "createdAt": now_iso(), "id": key_id}
    )
    if who is not None:
        audit_log.record_entry(client, instance_id, audit_log.entry(who, "api_key_created", {"id": key_id}))
    return key


def instance_for(client: redis.Redis, key: str) -> str | None:
    """The instance a key belongs to, or None for an unknown or revoked key, or one of a site that removed
    the app (its keys work again if the app is installed again before the data is purged)."""
    if not key.startswith(PREFIX):
        return None
    record = keys.api_key(_digest(key))
    found: list[str | None] = client.hmget(record, ["instanceId", "revokedAt", "id"])  # type: ignore[assignment]
    instance, revoked, key_id = found
    if not isinstance(instance, str) or revoked is not None or is_removed(client, instance):
        return None
    if key_id is None:
        _list_older_key(client, key, instance)
    return instance


def _list_older_key(client: redis.Redis, key: str, instance_id: str) -> None:
    """A key made before keys were listed by id is listed (so it can be revoked) the first time it is
    used: its id is only known from the key itself."""
    if client.hsetnx(keys.api_key_index(instance_id), key[:ID_LENGTH], _digest(key)):
        client.hset(keys.api_key(_digest(key)), "id", key[:ID_LENGTH])


def was_revoked(client: redis.Redis, key: str) -> bool:
    """Whether the key existed and was revoked (to tell its user so)."""
    return key.startswith(PREFIX) and client.hexists(keys.api_key(_digest(key)), "revokedAt") == 1


def list_api_keys(client: redis.Redis, instance_id: str) -> list[ApiKeyInfo]:
    """The instance's keys by id, newest first (a key made before ids were kept is listed once used)."""
    index: dict[str, str] = client.hgetall(keys.api_key_index(instance_id))  # type: ignore[assignment]
    ids = sorted(index)
    with client.pipeline(transaction=False) as pipe:
        for key_id in ids:
            pipe.hmget(keys.api_key(index[key_id]), ["createdAt", "revokedAt"])
        records: list[list[str | None]] = pipe.execute()
    listed = [
        ApiKeyInfo(id=key_id, created_at=created or "", revoked_at=revoked)
        for key_id, (created, revoked) in zip(ids, records, strict=True)
    ]
    return sorted(listed, key=lambda info: info.created_at, reverse=True)


_REVOKE = """
if redis.call('HSETNX', KEYS[1], 'revokedAt', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'auditOwed', ARGV[2])
end
"""


def revoke_api_key(client: redis.Redis, instance_id: str, key_id: str, who: str) -> ApiKeyInfo | None:
    """Revoke the instance's key with this id, at once, and write it to the instance's audit log; None
    when the instance has no such key. Revoking a revoked key changes nothing (its first revocation time
    stays, and no second entry is written).

    The record (the key digest's hash slot under Redis Cluster) and the audit log (the instance's) are two
    steps: the revocation marks its entry as owed (`auditOwed`, with the entry) in the same write, and
    drops the mark once the entry is in the log; a revocation asked again after a process died between
    the two writes the owed entry then.

    Two revocations may run at once (two operators, or a retry while the first still runs): only the one
    that sets `revokedAt` marks an entry as owed (one script on the record: a later one finding the key
    revoked owes nothing, even if the first already wrote its entry and dropped its mark), and the owed
    entry is written only if the log does not hold it already (`record_entry_once`), so two revocations
    that both read it as owed write it once."""
    digest = client.hget(keys.api_key_index(instance_id), key_id)
    if not isinstance(digest, str):
        return None
    record = keys.api_key(digest)
    if not client.hexists(record, "revokedAt"):
        entry = audit_log.entry(who, "api_key_revoked", {"id": key_id})
        client.eval(_REVOKE, 1, record, now_iso(), entry)
    owed = client.hget(record, "auditOwed")
    if isinstance(owed, str):
        audit_log.record_entry_once(client, instance_id, owed)
        client.hdel(record, "auditOwed")
    fields: list[str | None] = client.hmget(record, ["createdAt", "revokedAt"])  # type: ignore[assignment]
    created, revoked = fields
    return ApiKeyInfo(id=key_id, created_at=created or "", revoked_at=revoked)


KEY_ID_PATTERN = r"^wrw_[A-Za-z0-9_-]{8}$"


def describe(info: ApiKeyInfo) -> dict[str, str | None]:
    """A key as the APIs show it."""
    return {"id": info.id, "createdAt": info.created_at, "revokedAt": info.revoked_at}
