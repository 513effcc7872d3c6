"""Everything in a Redis database as text, for tests that grep it for what must not be there."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import redis

# A Celery task message keeps its arguments base64-encoded in `body` (the journal keeps queued messages).
_BODY = re.compile(r'\\"body\\":\s*\\"([A-Za-z0-9+/=]+)\\"')


def _value(client: redis.Redis, key: str) -> Any:
    kind = client.type(key)
    if kind == "string":
        try:
            return client.get(key)
        except UnicodeDecodeError:  # binary, as a HyperLogLog is: shown as text with the bytes escaped
            raw = client.execute_command("GET", key, NEVER_DECODE=True)
            return raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else None
    if kind == "hash":
        return client.hgetall(key)
    if kind == "set":
        return sorted(client.smembers(key))  # type: ignore[arg-type]
    if kind == "zset":
        return client.zrange(key, 0, -1)
    if kind == "list":
        return client.lrange(key, 0, -1)
    return None


def dump(client: redis.Redis) -> str:
    """Every key and its value (keys sorted), then every Celery message body found in them, decoded."""
    text = "\n".join(
        f"{key} {json.dumps(_value(client, key), sort_keys=True)}"
        for key in sorted(client.scan_iter(count=1000))
    )
    bodies = [base64.b64decode(body).decode("utf-8", "replace") for body in _BODY.findall(text)]
    return text + "\n" + "\n".join(bodies)
