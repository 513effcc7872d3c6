"""Sentry Crons: every beat job checks in. Real `celery beat` (RedBeat) and a real worker, both with a
SENTRY_DSN pointing at a fake Sentry in this test (an HTTP server keeping the envelopes it is sent).

Beat checks in `in_progress` under the schedule entry's name with the entry's schedule as the monitor's
config; the worker checks in `ok` with the same check-in id when the task succeeds, `error` when it
fails for now. No secret of the service is in any envelope.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli
import pytest

from tests.integration.conftest import ADMIN_TOKEN, Process, service_env, start_worker, wait_for
from worker.infra.redis_client import sync_client

FAST_CONFIG = """
from celery.schedules import crontab
from celeryconfig import *  # noqa: F403
from celeryconfig import beat_schedule as _real

beat_schedule = {
    "expire-rewards": _real["expire-rewards"],  # crontab(minute=20)
    "relay-outbox": _real["relay-outbox"],  # every 60 s
    "flaky-job": {"task": "events.test_flaky", "schedule": crontab(minute="*/5"), "kwargs": {"key": "crons"}},
}
redbeat_key_prefix = "wrw:beat-crons-test:"  # PREFIX
beat_max_loop_interval = 1
"""
APP_SECRET = "wix-app-secret-SENSITIVE"
PREFIX = "wrw:beat-crons-test:"
JOBS = ("expire-rewards", "relay-outbox", "flaky-job")


def last_ran_two_hours_ago(client: Any) -> None:
    """RedBeat stamps a new entry as just run, so its first run would be its next scheduled time: each
    entry is stored as last run two hours ago instead, so beat sends every one at once (RedBeat keeps an
    entry's `meta` when it installs the configured schedule)."""
    past = datetime.now(UTC) - timedelta(hours=2)
    stamp = {"__type__": "datetime", **{f: getattr(past, f) for f in DATETIME_FIELDS}, "timezone": "UTC"}
    placeholder = {"__type__": "crontab", "minute": 0, "hour": "*", "day_of_week": "*"}
    placeholder |= {"day_of_month": "*", "month_of_year": "*"}
    for name in JOBS:
        definition = {"name": name, "task": "x", "args": None, "kwargs": {}, "options": {}}
        definition |= {"schedule": placeholder, "enabled": True}
        client.hset(
            f"{PREFIX}{name}",
            mapping={"definition": json.dumps(definition), "meta": json.dumps({"last_run_at": stamp})},
        )


DATETIME_FIELDS = ("year", "month", "day", "hour", "minute", "second", "microsecond")


class FakeSentry(ThreadingHTTPServer):
    """Keeps every envelope POSTed to `/api/<project>/envelope/`, as (header, [(item header, payload)])."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.raw: list[bytes] = []

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/1"

    def check_ins(self) -> list[dict[str, Any]]:
        """The check-in items of every envelope (an envelope: its header line, then item header and
        payload lines in turn)."""
        found = []
        for body in list(self.raw):
            lines = body.split(b"\n")[1:]
            for header, payload in zip(lines[::2], lines[1::2], strict=False):
                if json.loads(header).get("type") == "check_in":
                    found.append(json.loads(payload))
        return found


class _Handler(BaseHTTPRequestHandler):
    server: FakeSentry

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            body = brotli.decompress(body)
        self.server.raw.append(body)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    server = FakeSentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_each_beat_job_checks_in_with_its_name_and_schedule(
    fake_sentry: FakeSentry, module_redis_url: str, public_key_pem: str, tmp_path: Path
) -> None:
    (tmp_path / "crons_beat_config.py").write_text(FAST_CONFIG)
    client = sync_client(module_redis_url)
    for key in client.scan_iter(match=f"{PREFIX}*"):
        client.delete(key)
    last_ran_two_hours_ago(client)
    client.set("crons:broken", "1")  # the flaky job fails for now: it is retried
    env = service_env(
        module_redis_url,
        public_key_pem,
        SENTRY_DSN=fake_sentry.dsn,
        WIX_APP_SECRET=APP_SECRET,
        CELERY_CONFIG_MODULE="crons_beat_config",
        PYTHONPATH=f"{tmp_path}:{Path(__file__).resolve().parents[2]}",
    )
    worker = start_worker(env)
    beat = Process([sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel=INFO"], env)
    try:

        def statuses() -> dict[str, list[str]]:
            seen: dict[str, list[str]] = {}
            for check_in in fake_sentry.check_ins():
                seen.setdefault(check_in["monitor_slug"], []).append(check_in["status"])
            return seen

        def all_checked_in() -> bool:
            seen = statuses()
            return all("ok" in seen.get(slug, []) for slug in ("expire-rewards", "relay-outbox")) and (
                "error" in seen.get("flaky-job", [])
            )

        try:
            wait_for(all_checked_in, 60, "check-ins for every job")
        except BaseException:
            print(f"envelopes: {len(fake_sentry.raw)} {fake_sentry.raw[:3]!r}")
            print(f"check-ins: {statuses()}\nbeat:\n{beat.tail()}\nworker:\n{worker.tail()}")
            raise
    finally:
        beat.stop()
        worker.stop()
        for key in client.scan_iter(match=f"{PREFIX}*"):
            client.delete(key)
        client.close()

    check_ins = fake_sentry.check_ins()
    by_slug: dict[str, list[dict[str, Any]]] = {}
    for check_in in check_ins:
        by_slug.setdefault(check_in["monitor_slug"], []).append(check_in)
    for slug in JOBS:
        started = [c for c in by_slug[slug] if c["status"] == "in_progress"]
        ended = [c for c in by_slug[slug] if c["status"] != "in_progress"]
        assert started and ended, by_slug[slug]
        assert {c["check_in_id"] for c in ended} <= {c["check_in_id"] for c in started}
    expire = by_slug["expire-rewards"][0]["monitor_config"]
    assert expire["schedule"] == {"type": "crontab", "value": "20 * * * *"}
    assert expire["timezone"] == "UTC"
    relay = by_slug["relay-outbox"][0]["monitor_config"]
    assert relay["schedule"] == {"type": "interval", "value": 1, "unit": "minute"}

    everything = b"".join(fake_sentry.raw)
    for secret in (APP_SECRET, ADMIN_TOKEN, public_key_pem.splitlines()[1]):
        assert secret.encode() not in everything
