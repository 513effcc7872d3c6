"""`make bench`, end to end: webhooks per second from the receiver to the event journal with one worker.

Serves the receiver (one uvicorn process) and one Celery worker (prefork, two processes, as `make run`
starts it) on their own embedded Redis, applies DESIGN.md's example program (so each paid order feeds a
streak and a challenge through the engine), and posts signed `order_payment_status_updated` webhooks for
100 customers from 32 concurrent connections while the worker is stopped (a Python client on the same
two cores: the receiver's own figure is `bench/webhooks.py`'s). Then it starts the worker and times the
queue's drain until every event's journal record is settled: the worker's throughput, end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import wix_samples  # noqa: E402
from tests.unit.engine.test_recording import BASE_PROGRAM  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from worker.infra.redis_client import sync_client  # noqa: E402
from worker.store.progress import ProgressStore  # noqa: E402
from worker.wix.webhook_signing import new_private_key, public_pem, sign_webhook  # noqa: E402

INSTANCE = "bench-instance"


def webhook(key, n: int) -> str:  # type: ignore[no-untyped-def]
    payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = str(uuid.uuid4())
    order["buyerInfo"]["contactId"] = f"contact-{n % 100}"
    return sign_webhook(key, "wix.ecom.v1.order_payment_status_updated", INSTANCE, payload, lifetime=3600)


async def post_all(base: str, tokens: list[str], connections: int) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def sender() -> None:
            while not queue.empty():
                token = queue.get_nowait()
                for attempt in range(20):  # a 503 (the queue did not answer in time) is sent again
                    response = await client.post("/webhooks/wix", content=token)
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.05 * (attempt + 1))
                assert response.status_code == 200, response.text

        await asyncio.gather(*(sender() for _ in range(connections)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=5000)
    args = parser.parse_args()
    redis_server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-pipeline-")), persistent=False)
    url = redis_server.start()
    key = new_private_key()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": url,
        "WIX_PUBLIC_KEY": public_pem(key),
        "LOG_LEVEL": "WARNING",
        "PORT": str(port),
    }
    env.pop("SENTRY_DSN", None)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        store = sync_client(url)
        ProgressStore(store).save_program(INSTANCE, BASE_PROGRAM)
        tokens = [webhook(key, n) for n in range(args.webhooks)]
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker", "web"], cwd=ROOT, env=env, start_new_session=True
            )
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.2)
        started = time.perf_counter()
        asyncio.run(post_all(base, tokens, 32))
        accepted = time.perf_counter() - started
        started = time.perf_counter()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    "--queues=events",
                    "--loglevel=WARNING",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 300
        while True:
            settled = sum(
                1
                for key_name in store.scan_iter(match=f"wrw:journal:{INSTANCE}:*", count=1000)
                if store.hget(key_name, "status") != "queued"
            )
            if settled >= args.webhooks:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {settled} of {args.webhooks} events settled in time")
            time.sleep(0.2)
        total = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        redis_server.stop()
    print(f"pipeline: {args.webhooks} webhooks, 32 connections, one worker (2 processes), example program")
    print(f"  queued by the receiver (Python client): {args.webhooks / accepted:8.0f} /s")
    print(f"  settled by one worker (start-up included): {args.webhooks / total:8.0f} /s  ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
