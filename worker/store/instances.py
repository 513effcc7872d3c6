"""The instance registry: every Wix site that installed the app, whether it still has it, and what its
install did (the Wix loyalty program status read then, the embedded script).

One hash per instance (`keys.instance`): `status` (`installed` or `removed`), `installedAt`,
`installedVia` (`AppInstalled`, or `first_event` for a site that installed the app before the registry
existed), `removedAt`, `statusTs` (the epoch seconds of the event that set `status`: a late install or
removal older than it changes nothing), `purgedAt`, `lastEventAt`, `embedding` (JSON: `{"embedded": true,
"parameters", "at"}` or `{"embedded": false, "error", "at"}`), `wixProgramStatus` and `wixProgramReadAt`.
The rest of the code asks one question, `is_removed` (one HGET); the receiver asks it inside its own Lua
call (worker/web/event_queue.py).

The instance's hash and the two indexes (every instance, the removed ones) live in different hash slots
under Redis Cluster, so no step writes them together: each write to an index is idempotent (ZADD NX, ZREM)
and is sent again by the same call's retry (a redelivered event, the purge's next run); a reader skips an
index entry whose hash is not there yet.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.engine.timestamps import utc_stamp

INSTALLED = "installed"
REMOVED = "removed"
FIRST_EVENT = "first_event"
APP_INSTALLED = "AppInstalled"

# KEYS: the instance's hash. ARGV: the event time (ISO), its epoch seconds. Stamps lastEventAt (never
# backwards: events arrive out of order); an instance never seen
# before is recorded as installed by this first event. Returns the status it had before ("" when unknown).
_TOUCH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('HSET', KEYS[1], 'status', 'installed', 'installedAt', ARGV[1], 'installedVia', 'first_event',
             'statusTs', ARGV[2])
  status = ''
end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastEventTs') or '-1')
if tonumber(ARGV[2]) > last then
  redis.call('HSET', KEYS[1], 'lastEventAt', ARGV[1], 'lastEventTs', ARGV[2])
end
return status
"""


class InstanceRemoved(Exception):
    """The app was removed from this site: its keys, tokens and actions no longer work."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"the app was removed from the site of instance {instance_id!r}")
        self.instance_id = instance_id


def status(client: redis.Redis, instance_id: str) -> str | None:
    """`installed`, `removed`, or None for an instance the registry has never seen."""
    value = client.hget(keys.instance(instance_id), "status")
    return value if isinstance(value, str) else None


def is_removed(client: redis.Redis, instance_id: str) -> bool:
    """True once the app was removed from the instance's site (and not installed again): one HGET."""
    return status(client, instance_id) == REMOVED


def require_installed(client: redis.Redis, instance_id: str) -> None:
    """InstanceRemoved when the app was removed from the site; nothing otherwise."""
    if is_removed(client, instance_id):
        raise InstanceRemoved(instance_id)


def touch(client: redis.Redis, instance_id: str, at: datetime) -> str:
    """Note an event of the instance; the status it had before (`""`: unknown until now, and recorded as
    installed by this event)."""
    with client.pipeline(transaction=False) as pipe:  # one round trip, in this order
        pipe.zadd(keys.INSTANCES, {instance_id: at.timestamp()}, nx=True)  # the index entry first
        pipe.eval(_TOUCH, 1, keys.instance(instance_id), utc_stamp(at), str(at.timestamp()))
        answer = pipe.execute()[1]
    return answer if isinstance(answer, str) else ""


# KEYS: the instance's hash. ARGV: the new status, the change's time (ISO), its epoch seconds, how it was
# installed. Installs and removals arrive out of order (a late redelivery, a retried task): a change older
# than the one the status holds (`statusTs`) changes nothing and answers "stale"; otherwise the status it
# had before ("" when unknown).
_SET_STATUS = """
local current = tonumber(redis.call('HGET', KEYS[1], 'statusTs') or '-1')
if tonumber(ARGV[3]) < current then
  return 'stale'
end
local before = redis.call('HGET', KEYS[1], 'status') or ''
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'statusTs', ARGV[3])
if ARGV[1] == 'installed' then
  redis.call('HSET', KEYS[1], 'installedAt', ARGV[2], 'installedVia', ARGV[4])
  redis.call('HDEL', KEYS[1], 'purgedAt')
else
  redis.call('HSET', KEYS[1], 'removedAt', ARGV[2])
  redis.call('HSETNX', KEYS[1], 'installedAt', ARGV[2])
end
return before
"""


class StaleChange(Exception):
    """An install or removal older than the site's last one: it arrived late and changes nothing."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"a late {status} of instance {instance_id!r}, older than the site's last change")
        self.instance_id = instance_id


def _set_status(client: redis.Redis, instance_id: str, status: str, at: datetime, via: str = "") -> str:
    answer = client.eval(
        _SET_STATUS, 1, keys.instance(instance_id), status, utc_stamp(at), str(at.timestamp()), via
    )
    if answer == "stale":
        raise StaleChange(instance_id, status)
    return answer if isinstance(answer, str) else ""


def record_installed(client: redis.Redis, instance_id: str, at: datetime, via: str = APP_INSTALLED) -> bool:
    """The app is installed on the site (again): True when it was removed before (a reinstall, which
    cancels the purge of its data). StaleChange when the site's last removal is newer than `at`.

    The hash first, then the indexes: a crash between leaves the site in the removed index, where the purge
    finds it installed and deletes nothing, until the task's retry (same event) removes the entry."""
    before = _set_status(client, instance_id, INSTALLED, at, via)
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.INSTANCES, {instance_id: at.timestamp()}, nx=True)
        pipe.zrem(keys.REMOVED_INSTANCES, instance_id)
        pipe.execute()
    return before == REMOVED


def record_removed(client: redis.Redis, instance_id: str, at: datetime) -> None:
    """The app is removed from the site: from now on `is_removed`; its data waits for the purge.
    StaleChange when the site was installed (again) after `at`."""
    _set_status(client, instance_id, REMOVED, at)  # removed first, then the purge's index
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.INSTANCES, {instance_id: at.timestamp()}, nx=True)
        pipe.zadd(keys.REMOVED_INSTANCES, {instance_id: at.timestamp()})
        pipe.execute()


def record_embedding(
    client: redis.Redis,
    instance_id: str,
    at: datetime,
    *,
    parameters: dict[str, str] | None = None,
    error: str | None = None,
    disabled: bool = False,
) -> None:
    """What became of the embedded script: embedded with `parameters` (and `disabled`: switched off on
    the console's Storefront page), or not, and why."""
    embedding: dict[str, Any] = (
        {"embedded": True, "parameters": parameters, "at": utc_stamp(at)}
        if error is None
        else {"embedded": False, "error": error, "at": utc_stamp(at)}
    )
    if disabled and error is None:
        embedding["disabled"] = True
    client.hset(keys.instance(instance_id), "embedding", json.dumps(embedding, separators=(",", ":")))


def record_wix_program(client: redis.Redis, instance_id: str, program_status: str, at: datetime) -> None:
    """The site's Wix loyalty program status, as read at install."""
    client.hset(
        keys.instance(instance_id),
        mapping={"wixProgramStatus": program_status, "wixProgramReadAt": utc_stamp(at)},
    )


def mark_purged(client: redis.Redis, instance_id: str, at: datetime) -> None:
    """The removed instance's data is gone; its registry entry stays (status `removed`, `purgedAt`)."""
    client.hset(keys.instance(instance_id), "purgedAt", utc_stamp(at))
    client.zrem(keys.REMOVED_INSTANCES, instance_id)


def get(client: redis.Redis, instance_id: str) -> dict[str, Any] | None:
    """The instance's registry entry (`embedding` decoded), or None when it was never seen."""
    raw = client.hgetall(keys.instance(instance_id))
    if not isinstance(raw, dict) or not raw:
        return None
    return _entry(instance_id, raw)


def _entry(instance_id: str, raw: dict[str, str]) -> dict[str, Any]:
    embedding = raw.get("embedding")
    return {
        "instanceId": instance_id,
        "status": raw.get("status"),
        "installedAt": raw.get("installedAt"),
        "installedVia": raw.get("installedVia"),
        "removedAt": raw.get("removedAt"),
        "purgedAt": raw.get("purgedAt"),
        "lastEventAt": raw.get("lastEventAt"),
        "wixProgramStatus": raw.get("wixProgramStatus"),
        "wixProgramReadAt": raw.get("wixProgramReadAt"),
        "embedding": json.loads(embedding) if embedding else None,
    }


def page(client: redis.Redis, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Instances in install order, `limit` from `offset`, and how many there are."""
    ids = client.zrange(keys.INSTANCES, offset, offset + limit - 1) if limit > 0 else []
    total = client.zcard(keys.INSTANCES)
    with client.pipeline(transaction=False) as pipe:
        for instance_id in ids:  # type: ignore[union-attr]
            pipe.hgetall(keys.instance(instance_id))
        raws = pipe.execute()
    entries = [_entry(i, raw) for i, raw in zip(ids, raws, strict=True) if raw]  # type: ignore[arg-type]
    return entries, int(total)  # type: ignore[arg-type]


def removed_before(client: redis.Redis, moment: datetime, limit: int = 100) -> list[str]:
    """Removed instances whose removal is older than `moment` (the purge's candidates), oldest first."""
    ids = client.zrangebyscore(keys.REMOVED_INSTANCES, "-inf", moment.timestamp(), start=0, num=limit)
    return [i for i in ids if isinstance(i, str)]  # type: ignore[union-attr]
