"""The audit log of one instance: who changed what, when (the merchant console shows it and appends to
it for every state change). Newest first, trimmed to `MAX_ENTRIES`; an entry's details never keep a
value whose name says it is a secret, and are bounded in size.

`record` writes at once; `record_entry_once` writes an entry made beforehand unless the log holds it
already (an entry owed after a crash, which two processes may settle at once); `append` adds the same
write to a caller's MULTI, so a state change and its entry land together or not at all. The log is
under the instance's tag `{instanceId}`: a MULTI in a member's slot (`{instanceId:contactId}`) adds it
with `append_after_member_step`, which on a Redis Cluster writes it right after that MULTI commits
instead (see the function).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys

MAX_ENTRIES = 1000
MAX_DETAILS_CHARS = 4096
MAX_WHO_CHARS = 200
ACTION = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SECRET_NAME = re.compile(r"token|secret|password|authorization|api[-_]?key|cookie", re.IGNORECASE)
REDACTED = "[redacted]"


class InvalidAuditEntry(ValueError):
    """An action name or actor the audit log does not take."""


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): REDACTED if _SECRET_NAME.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def entry(who: str, action: str, details: dict[str, Any] | None, now: float | None = None) -> str:
    """One entry as stored: secrets named as such are redacted, oversized details replaced by a note."""
    if not ACTION.fullmatch(action):
        raise InvalidAuditEntry(f"an audit action is lower_snake_case, at most 64: {action[:100]!r}")
    if not who or len(who) > MAX_WHO_CHARS:
        raise InvalidAuditEntry(f"who is 1 to {MAX_WHO_CHARS} characters")
    scrubbed = json.dumps(_scrub(details or {}), default=str)
    if len(scrubbed) > MAX_DETAILS_CHARS:
        scrubbed = json.dumps({"truncated": True, "chars": len(scrubbed)})
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC).isoformat()
    return json.dumps({"at": at, "who": who, "action": action, "details": json.loads(scrubbed)})


def append(pipe: redis.client.Pipeline, instance_id: str, raw_entry: str) -> None:
    """Queue one entry (from `entry`) and the trim on a caller's pipeline."""
    key = keys.audit_log(instance_id)
    pipe.lpush(key, raw_entry)
    pipe.ltrim(key, 0, MAX_ENTRIES - 1)


def record_entry(client: redis.Redis, instance_id: str, raw_entry: str) -> None:
    """Append one entry made beforehand (`entry`) at once, with its trim."""
    with client.pipeline() as pipe:
        append(pipe, instance_id, raw_entry)
        pipe.execute()


_APPEND_ONCE = """
if redis.call('LPOS', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
"""


def record_entry_once(client: redis.Redis, instance_id: str, raw_entry: str) -> bool:
    """Append one entry made beforehand (`entry`, so its time to the microsecond makes it unique) unless
    the log holds it already, with its trim, in one step: whoever settles an entry owed after a crash
    may race another doing the same, and the entry lands once. Answers whether it was written. (An
    entry trimmed out of the log since would be written again: 1000 newer entries between two writers
    of the same entry, milliseconds apart.)"""
    written = client.eval(_APPEND_ONCE, 1, keys.audit_log(instance_id), raw_entry, str(MAX_ENTRIES))
    return bool(written)


def record(
    client: redis.Redis, instance_id: str, who: str, action: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Append one entry to the instance's audit log (atomically with its trim); returns the entry."""
    raw = entry(who, action, details)
    with client.pipeline() as pipe:
        append(pipe, instance_id, raw)
        pipe.execute()
    return json.loads(raw)  # type: ignore[no-any-return]


def recent(client: redis.Redis, instance_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` entries (at most MAX_ENTRIES), newest first."""
    count = max(0, min(limit, MAX_ENTRIES))
    if count == 0:
        return []
    raws: list[str] = client.lrange(keys.audit_log(instance_id), 0, count - 1)  # type: ignore[assignment]
    return [json.loads(raw) for raw in raws]


def rewrite(client: redis.Redis, instance_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Replace each entry by `change(entry)` (the erasure scrubs a member out), atomically against
    concurrent appends (WATCH); answers how many entries changed."""
    key = keys.audit_log(instance_id)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raws: list[str] = pipe.lrange(key, 0, -1)  # type: ignore[assignment]
                entries = [json.loads(raw) for raw in raws]
                changed = [change(entry) for entry in entries]
                count = sum(1 for new, old in zip(changed, entries, strict=True) if new != old)
                pipe.multi()
                if count:
                    pipe.delete(key)
                    pipe.rpush(key, *[json.dumps(entry) for entry in changed])
                pipe.execute()
                return count
            except redis.WatchError:
                continue


def append_after_member_step(pipe: redis.client.Pipeline, instance_id: str, raw_entry: str) -> None:
    """Queue one entry for a MULTI in a member's slot: inside it on one Redis; on a Redis Cluster, where
    the log is in another slot, as the write right after the MULTI commits (`StorePipeline.after_commit`,
    worker/infra/redis_client.py), and only if it commits. A process killed between the two loses the
    entry (never doubles it, never writes one for a step that did not happen): the same trade as a
    member's analytics counts (worker/store/stats.py)."""
    after_commit = getattr(pipe, "after_commit", None)
    if after_commit is None:
        append(pipe, instance_id, raw_entry)
        return

    def write(client: redis.Redis) -> None:
        with client.pipeline() as own:
            append(own, instance_id, raw_entry)
            own.execute()

    after_commit(write)
