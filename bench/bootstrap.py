"""`make bench`, bootstrap: contacts given a loyalty account per minute, against what the rate limit allows.

The fake Wix enforces Wix's 200 requests a minute per instance and our workers share the same budget
(a 61-second window, see worker/wix/rate_limit.py). Each contact costs two calls (is there an account?
open one). The fastest any client could go is one full window per 200 calls after the first 200, so
the figure is that least possible time over the time the job took (the goal: at least 0.9). One
worker (two processes) runs the job.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

INSTANCE = "bench-bootstrap-instance"
APP_ID, APP_SECRET = "bench-app", "bench-secret"
CALLS_PER_CONTACT = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=250)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wrw-bench-bootstrap-"))
    redis_server = EmbeddedRedis(work / "redis", persistent=False)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = redis_server.start()
        port = free_port()
        fake = f"http://127.0.0.1:{port}"
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker.wix.fake", "--port", str(port), "--app-id", APP_ID,
                 "--app-secret", APP_SECRET, "--private-key", str(work / "key.pem")],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{fake}/_fake/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the fake Wix did not start")
            time.sleep(0.2)
        httpx.post(
            f"{fake}/_fake/instances/{INSTANCE}/contacts/bulk", json={"count": args.contacts}, timeout=30
        )
        env = {
            **os.environ,
            "REDIS_URL": url,
            "WIX_APP_ID": APP_ID,
            "WIX_APP_SECRET": APP_SECRET,
            "WIX_API_BASE": fake,
            "LOG_LEVEL": "WARNING",
            "CELERY_VISIBILITY_TIMEOUT": "600",
        }
        env.pop("SENTRY_DSN", None)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "worker", "--queues=bulk",
                 "--loglevel=WARNING"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )  # fmt: skip
        time.sleep(3)
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "worker", "jobs", "run", "bootstrap", "--instance", INSTANCE],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        record = json.loads(run.stdout[run.stdout.index("{") :])
        calls = httpx.get(f"{fake}/_fake/calls", timeout=5).json()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(15)
        redis_server.stop()
    made = int(calls["total"])  # every call the fake Wix saw
    fastest = ((made - 1) // 200) * 61.0  # the first 200 at once, then a window per 200 more
    contacts_per_minute = record["done"] / elapsed * 60
    print(f"bootstrap: {record['done']} accounts opened for {record['total']} contacts in {elapsed:.0f} s")
    print(f"  {made} Wix calls; the limit allows them in {fastest:.0f} s at the fastest")
    pace = fastest / elapsed
    print(f"  {contacts_per_minute:.0f} contacts/min; pace against the limit: {pace:.2f}  (goal >= 0.9)")
    print(f"  Wix answered 429 {sum(calls.get('rateLimited', {}).values())} times")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
