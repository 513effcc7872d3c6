"""The key layout's upgrade for Redis Cluster: the keys that moved under their instance's hash tag.

Issue 17 put an instance's program, draft, versions, audit log, reward index, reward times and analytics
counts under the tag `{instanceId}` (worker/keys.py), so each step that writes them together stays in one
hash slot. Data written before keeps its old names (`wrw:program:inst-1`, `wrw:stats:inst-1:2026-11-20`,
...); `upgrade` renames each to its new name (`wrw:program:{inst-1}`, `wrw:stats:{inst-1}:2026-11-20`).

Issue 17's second step moved the instance's storefront choice and its own outbox under `{instanceId}` too
(a save writes both with the audit entry in one MULTI); the outbox's entry in the relay's index
(`keys.OUTBOX_INDEX`) follows its key. A member's cached Wix loyalty account moved under the member's tag
(a redemption drops it in its own MULTI): a short-lived copy, so the old ones are deleted, not renamed.

The console's points change now marks its action under the instance's tag (`keys.console_action`): each
member action mark (`wrw:{instanceId:contactId}:action:<id>`) is copied there too, with its expiry, so a
form posted before the upgrade and again after is still done once.

Run it once on the single Redis, with the service stopped, before starting this version (and before moving
the data to a cluster: a RENAME cannot cross slots there). It is idempotent; a key whose new name exists
already is left alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

from worker import keys
from worker.identifiers import InvalidIdentifier, is_instance_id

# The prefixes whose next part is the instance id; `wrw:program:` last (it is a prefix of no other here,
# but `wrw:program-draft:` etc. are matched by their own).
MOVED_PREFIXES = (
    "wrw:program:",
    "wrw:program-draft:",
    "wrw:program-versions:",
    "wrw:audit-log:",
    "wrw:reward-index:",
    "wrw:reward-times:",
    "wrw:stats:",
    "wrw:storefront-choice:",
    "wrw:instance-outbox:",
)
# Short-lived copies in an old layout: deleted (the next read fetches from Wix), never renamed.
DROPPED_PATTERNS = ("wrw:cache:loyalty-account:*",)


class LayoutError(Exception):
    """The upgrade cannot run against this store."""


@dataclass
class Upgrade:
    renamed: int = 0
    dropped: int = 0  # old short-lived copies deleted
    marks_copied: int = 0  # member action marks copied under the instance's tag
    left: list[str] = field(default_factory=list)  # old keys whose new name was taken


def new_name(key: str) -> str | None:
    """The key's name in the new layout, or None when it is not an old-layout key."""
    for prefix in MOVED_PREFIXES:
        if not key.startswith(prefix):
            continue
        rest = key.removeprefix(prefix)
        instance_id, colon, tail = rest.partition(":")
        if not is_instance_id(instance_id):  # already `{instanceId}`, or not ours
            return None
        return f"{prefix}{{{instance_id}}}{colon}{tail}"
    return None


def upgrade(client: redis.Redis, batch: int = 1000) -> Upgrade:
    """Rename every old-layout key to its new name (RENAMENX: an existing new key is never overwritten)."""
    if isinstance(client, RedisCluster):
        raise LayoutError("run the layout upgrade on the single Redis, before moving its data to a cluster")
    result = Upgrade()
    for prefix in MOVED_PREFIXES:
        for key in list(client.scan_iter(match=f"{prefix}*", count=batch)):
            target = new_name(str(key))
            if target is None:
                continue
            if client.renamenx(key, target):
                result.renamed += 1
                _reindex(client, str(key), target)
            else:
                result.left.append(str(key))
    for key in list(client.scan_iter(match="wrw:{*}:action:*", count=batch)):
        result.marks_copied += _copy_action_mark(client, str(key))
    for pattern in DROPPED_PATTERNS:
        for key in list(client.scan_iter(match=pattern, count=batch)):
            result.dropped += int(client.delete(key))  # type: ignore[arg-type]
    return result


def _reindex(client: redis.Redis, old: str, new: str) -> None:
    """A renamed outbox keeps its place in the relay's index (so its intents are still relayed)."""
    score: float | None = client.zscore(keys.OUTBOX_INDEX, old)  # type: ignore[assignment]
    if score is not None:
        with client.pipeline() as pipe:
            pipe.zadd(keys.OUTBOX_INDEX, {new: score})
            pipe.zrem(keys.OUTBOX_INDEX, old)
            pipe.execute()


def _copy_action_mark(client: redis.Redis, key: str) -> int:
    """Copy one member action mark to `keys.console_action` (SET NX, its expiry kept); 1 when copied."""
    tag, _, action_id = key.removeprefix("wrw:{").partition("}:action:")
    instance_id, _, contact_id = tag.rpartition(":")
    try:
        if key != keys.member_action(instance_id, contact_id, action_id):
            return 0
        target = keys.console_action(instance_id, action_id)
    except InvalidIdentifier:  # not one of ours
        return 0
    ttl = int(client.ttl(key))  # type: ignore[arg-type]
    value = client.get(key)
    if value is None:
        return 0
    return 1 if client.set(target, str(value), nx=True, ex=ttl if ttl > 0 else None) else 0
