"""Celery task messages built directly in the form kombu's Redis transport stores them.

The receiver pushes webhook tasks to Redis itself, in one Lua call that also writes the event's journal
record, instead of calling `apply_async` (about 1 ms of publish machinery per request). The message is
byte-for-byte the shape Celery's own protocol 2 publisher produces (a test compares the two), so the
worker, Flower, retries and routing treat it as any other task.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
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
    task_id = task_id or str(uuid.uuid4())
    body = orjson.dumps([[], kwargs, _EMBED])
    quote = json.dumps
    message = _TEMPLATE % {
        "BODY": '"' + base64.b64encode(body).decode("ascii") + '"',
        "TASK": quote(task_name),
        "ID": quote(task_id),
        "KWARGSREPR": quote(kwargsrepr if kwargsrepr is not None else repr(kwargs)),
        "QUEUE": quote(queue),
        "TAG": quote(str(uuid.uuid4())),
        "SENTAT": repr(time.time()),
    }
    return task_id, message
