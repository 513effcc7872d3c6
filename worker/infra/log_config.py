"""Logging: one JSON object a line in production, readable lines in development.

Instance id, event id and task id ride along from contextvars, bound by the receiver and by the
worker's task signals. Nothing here ever logs a token: callers log ids, never bodies or headers.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

instance_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("instance_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_CONTEXT = (("instance_id", instance_id_var), ("event_id", event_id_var), ("task_id", task_id_var))
_STANDARD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "color_message",
}


def bind(**values: str | None) -> None:
    for name, var in _CONTEXT:
        if name in values:
            var.set(values[name])


def clear() -> None:
    for _, var in _CONTEXT:
        var.set(None)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {name: var.get() for name, var in _CONTEXT if var.get() is not None}
    fields.update(
        {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES and not k.startswith("_")}
    )
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        if extras:
            line = f"{line} [{extras}]"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class RedactQueryStrings(logging.Filter):
    """uvicorn's access log line without the query string (`?token=...` would put a secret in the log):
    the path stays, the query becomes `?[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path = args[2].partition("?")[0]
            record.args = (args[0], args[1], f"{path}?[redacted]", args[3], args[4])
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else ReadableFormatter())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactQueryStrings) for existing in access.filters):
        access.addFilter(RedactQueryStrings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
