"""The purge of a removed site's data, `INSTANCE_RETENTION_DAYS` after its removal (beat, daily).

Every key of the instance goes: the patterns of `keys.instance_key_patterns` (its members' hash tag, its
journal, sync mapping, program, caches, Wix token, job marks, ...), found with SCAN and unlinked a batch at
a time, then its API keys. Before each batch the instance is asked again whether it is still removed: a
reinstall stops the purge at once, and what is left stays. Running it again is harmless (what is gone is
not found again). The registry entry stays, marked `purgedAt`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import redis

from worker import keys
from worker.store import instances

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
API_KEYS = "wrw:apikey:*"


class PurgeCanceled(Exception):
    """The app was installed again on the site while its data was being purged."""


def purge_due(
    client: redis.Redis, *, retention_days: int, now: datetime, batch_size: int = BATCH_SIZE
) -> dict[str, int]:
    """Purge every instance removed more than `retention_days` ago; how many keys went, by instance."""
    purged: dict[str, int] = {}
    for instance_id in instances.removed_before(client, now - timedelta(days=retention_days)):
        count = purge_instance(client, instance_id, now=now, batch_size=batch_size)
        if count is not None:
            purged[instance_id] = count
    return purged


def purge_instance(
    client: redis.Redis, instance_id: str, *, now: datetime, batch_size: int = BATCH_SIZE
) -> int | None:
    """Delete every key of a removed instance: how many went, or None when it is installed (again)."""
    try:
        deleted = 0
        for pattern in keys.instance_key_patterns(instance_id):
            found: Iterable[str] = (
                client.scan_iter(match=pattern, count=1000) if "*" in pattern else [pattern]
            )
            deleted += _unlink_in_batches(client, instance_id, found, batch_size)
        deleted += _unlink_in_batches(client, instance_id, _api_keys(client, instance_id), batch_size)
        _forget_outboxes(client, instance_id)
        client.srem(keys.SITE_SYNC_SECRETS, instance_id)  # its secret went with its site settings
    except PurgeCanceled:
        logger.info("purge stopped: the app was installed again", extra={"instance_id": instance_id})
        return None
    instances.mark_purged(client, instance_id, now)
    logger.info("removed site's data purged", extra={"instance_id": instance_id, "keys": deleted})
    return deleted


def _unlink_in_batches(client: redis.Redis, instance_id: str, found: Iterable[str], batch_size: int) -> int:
    deleted, batch = 0, []
    for key in found:
        batch.append(key)
        if len(batch) >= batch_size:
            deleted += _unlink(client, instance_id, batch)
            batch = []
    if batch:
        deleted += _unlink(client, instance_id, batch)
    return deleted


def _unlink(client: redis.Redis, instance_id: str, batch: list[str]) -> int:
    if not instances.is_removed(client, instance_id):
        raise PurgeCanceled(instance_id)
    return int(client.unlink(*batch))  # type: ignore[arg-type]


def _api_keys(client: redis.Redis, instance_id: str) -> list[str]:
    """The instance's API keys (stored by digest: each key's record names its instance)."""
    found = []
    for key in client.scan_iter(match=API_KEYS, count=1000):
        if client.hget(key, "instanceId") == instance_id:
            found.append(key)
    return found


def _forget_outboxes(client: redis.Redis, instance_id: str) -> None:
    """The relay's index no longer lists the instance's outboxes (their keys are gone)."""
    for pattern in (f"wrw:{{{instance_id}:*", f"wrw:sync:{{{instance_id}}}:*"):
        stale = [member for member, _ in client.zscan_iter(keys.OUTBOX_INDEX, match=pattern)]
        if stale:
            client.zrem(keys.OUTBOX_INDEX, *stale)
