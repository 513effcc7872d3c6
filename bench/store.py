"""`make bench`, the store: logs recorded per second through the Redis store from one process, beside
the same number of bare Redis round trips (SET) in the same run, against the same Redis.

Each log is a fresh uniqueIdentifier on one of 100 members, for a live monthly sum challenge, so every
record is a real WATCH/GET/GET/MULTI/SET/SET/EXEC step with the engine in between.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.engine.test_recording import BASE_PROGRAM  # noqa: E402
from worker.engine.logs import accept_log  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis  # noqa: E402
from worker.infra.redis_client import sync_client  # noqa: E402
from worker.store.progress import ProgressStore  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=int, default=3000)
    args = parser.parse_args()
    embedded = None
    url = os.environ.get("REDIS_URL")
    if url:
        url = url.rsplit("/", 1)[0] + "/14"
    else:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-store-")), persistent=False)
        url = embedded.start()
    try:
        client = sync_client(url)
        client.flushdb()
        store = ProgressStore(client)
        store.save_program("bench", BASE_PROGRAM)
        program = store.program("bench")
        challenge = program.challenge("spend-500")
        assert challenge is not None

        started = time.perf_counter()
        for n in range(args.logs):
            client.set(f"bench:bare:{n}", "x")
        bare = args.logs / (time.perf_counter() - started)

        started = time.perf_counter()
        for n in range(args.logs):
            now = datetime.now(UTC)
            log = accept_log(
                challenge,
                contact_id=f"member-{n % 100}",
                activity_id="order_paid",
                activity_value="1.5",
                activity_at=now,
                unique_identifier=str(uuid.uuid4()),
                now=now,
            )
            store.record("bench", program, challenge, log, now)
        logs = args.logs / (time.perf_counter() - started)
        client.flushdb()
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"store: {args.logs} logs, one process, {args.logs // 100} logs per member at the end")
    print(f"  bare Redis round trips (SET): {bare:8.0f} /s")
    print(f"  logs recorded through the store: {logs:8.0f} /s")
    print(f"  store / bare: {logs / bare:.2f}  (a log is about 4 round trips plus the engine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
