"""One beat for the whole deployment: two beat processes started at once send each schedule once.

Real `celery beat` processes with the RedBeat scheduler of celeryconfig.py, on real Redis. A small config
module imports celeryconfig and swaps in a one-second schedule, so a few seconds show the pace.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Process, service_env, wait_for
from worker.infra.redis_client import sync_client

FAST_CONFIG = """
from celeryconfig import *  # noqa: F403

beat_schedule = {
    "tick": {
        "task": "periodic.start_job_everywhere",
        "schedule": 1.0,
        "kwargs": {"name": "expire-rewards"},
    }
}
redbeat_key_prefix = "wrw:beat-test:"
beat_max_loop_interval = 1
redbeat_lock_timeout = 3
"""


def sends(process: Process) -> int:
    return sum("Sending due task tick" in line for line in list(process.output))


@pytest.fixture
def beat_env(module_redis_url: str, public_key_pem: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    (tmp_path / "fast_beat_config.py").write_text(FAST_CONFIG)
    client = sync_client(module_redis_url)
    for key in client.scan_iter(match="wrw:beat-test:*"):
        client.delete(key)
    yield service_env(
        module_redis_url,
        public_key_pem,
        CELERY_CONFIG_MODULE="fast_beat_config",
        PYTHONPATH=f"{tmp_path}:{Path(__file__).resolve().parents[2]}",
    )
    client.close()


def start_beat(env: dict[str, str]) -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel=INFO"], env)


def test_two_beats_started_at_once_send_each_schedule_once(beat_env: dict[str, str]) -> None:
    beats = [start_beat(beat_env), start_beat(beat_env)]
    try:
        wait_for(lambda: sum(map(sends, beats)) >= 1, 30, "a beat to send the first tick")
        started = time.monotonic()
        time.sleep(5)
        counts = [sends(beat) for beat in beats]
        elapsed = time.monotonic() - started
        # One scheduler at a time: one process sends, at the schedule's pace (once a second), not twice.
        assert sorted(counts)[0] == 0, f"both beats sent: {counts}"
        assert sum(counts) <= elapsed + 2, f"{counts} sends in {elapsed:.1f}s"
        assert sum(counts) >= 3, f"only {counts} sends in {elapsed:.1f}s"

        # The holder dies: the other takes over once the lock expires, and the ticks go on.
        holder, standby = (beats[0], beats[1]) if counts[0] else (beats[1], beats[0])
        holder.kill_group()
        before = sends(standby)
        wait_for(lambda: sends(standby) >= before + 2, 20, "the standby beat to take over")
    finally:
        for beat in beats:
            beat.stop()
