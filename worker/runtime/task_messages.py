"""Celery task messages built directly in the form kombu's Redis transport stores them.

The receiver pushes webhook tasks to Redis itself, in one Lua call that also writes the event's journal
record, instead of calling `apply_async` (about 1 ms of publish machinery per request). The message is
byte-for-byte the shape Celery's own protocol 2 publisher produces (a test compares the two), so the
worker, Flower, retries and routing treat it as any other task.
"""

from __future__ import annotations

import binascii
import json
import os
import socket
import time
from typing import Any

import orjson

# A header of our own: when the message was put on its queue (epoch seconds), stamped on every message
# Celery publishes too (worker/runtime/sent_at.py), so `/metrics` can tell the age of a queue's oldest.
SENT_AT = "wrw_sent_at"
_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _template() -> str:
    """The message with every per-message value left as a %-placeholder, serialized once."""
    message = {
        "body": "@BODY@",
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": "@TASK@",
            "id": "@ID@",
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],  # the worker applies its configured task_time_limit
            "root_id": "@ID@",
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": "@KWARGSREPR@",
            "origin": _ORIGIN,
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
            SENT_AT: "@SENTAT@",
        },
        "properties": {
            "correlation_id": "@ID@",
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "@QUEUE@"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": "@TAG@",
        },
    }
    text = json.dumps(message, separators=(",", ":")).replace("%", "%%")
    for name in ("BODY", "TASK", "ID", "KWARGSREPR", "QUEUE", "TAG", "SENTAT"):
        text = text.replace(f'"@{name}@"', f"%({name})s")
    return text


_TEMPLATE = _template()


def build_task_message(
    task_name: str,
    kwargs: dict[str, Any],
    *,
    queue: str,
    kwargsrepr: str | None = None,
    task_id: str | None = None,
) -> tuple[str, str]:
    """The task id and the JSON text to LPUSH onto `queue` for `task_name(**kwargs)`."""
    task_id = task_id or _uuid4()
    body = orjson.dumps([[], kwargs, _EMBED])
    message = _TEMPLATE % {
        "BODY": '"' + binascii.b2a_base64(body, newline=False).decode("ascii") + '"',
        "TASK": _quote(task_name),
        "ID": _quote(task_id),
        "KWARGSREPR": _quote(kwargsrepr if kwargsrepr is not None else repr(kwargs)),
        "QUEUE": _quote(queue),
        "TAG": '"' + _uuid4() + '"',  # a uuid needs no escaping
        "SENTAT": repr(time.time()),
    }
    return task_id, message


def _uuid4() -> str:
    """`str(uuid.uuid4())`, as Celery makes task ids, without building a `UUID` object (a fifth of the
    time; two a webhook)."""
    octets = bytearray(os.urandom(16))
    octets[6] = octets[6] & 0x0F | 0x40  # version 4
    octets[8] = octets[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = octets.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _quote(text: str) -> str:
    """`text` as a JSON string (orjson: a tenth of json.dumps's call overhead on the request path)."""
    return orjson.dumps(text).decode()
