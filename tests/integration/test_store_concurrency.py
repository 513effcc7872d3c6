"""Several processes logging for one member at once, against real Redis: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

from tests.integration.conftest import ROOT
from worker.dev.programs import BASE_PROGRAM
from worker.store.progress import ProgressStore

WRITER = """
import json, sys
from datetime import UTC, datetime
from worker.engine.logs import accept_log
from worker.store.progress import ProgressStore
from worker.infra.redis_client import sync_client

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ProgressStore(sync_client(url))
program = store.program("inst-1")
challenge = program.challenge("spend-500")
fresh = 0
for uid in [f"{name}-{n}" for n in range(count)] + ["shared-order"]:
    now = datetime.now(UTC)
    log = accept_log(challenge, contact_id="c1", activity_id="order_paid", activity_value="1.10",
                     activity_at=now, unique_identifier=uid, now=now)
    fresh += not store.record("inst-1", program, challenge, log, now).duplicate
print(json.dumps({"fresh": fresh}))
"""


def test_parallel_writers_lose_nothing(real_redis, redis_url) -> None:
    """Four processes, 30 logs each plus one identifier they all send: 121 logs counted, once each."""
    store = ProgressStore(real_redis)
    store.save_program("inst-1", BASE_PROGRAM)
    env = {**os.environ, "REDIS_URL": redis_url}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, redis_url, f"w{n}", "30"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    try:
        outputs = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    for writer, (_, errors) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, errors
    fresh = [json.loads(out)["fresh"] for out, _ in outputs]
    assert sum(fresh) == 4 * 30 + 1  # the shared identifier counted for exactly one writer
    state = store.member_state("inst-1", "c1", "challenge", "spend-500")
    assert len(state.logs) == 121
    assert len({log.uniqueIdentifier for log in state.logs}) == 121
    assert sum(log.activityValue for log in state.logs) == Decimal("133.10")
