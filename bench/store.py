"""`make bench`, the store: logs recorded per second through the Redis store from one process, beside
the same number of bare Redis round trips (SET) in the same run, against the same Redis.

Each log is a fresh uniqueIdentifier on one of 100 members, for a live monthly sum challenge, so every
record is a real WATCH/GET/GET/MULTI/SET/SET/EXEC step with the engine in between.

With `--cluster`, the same operations run on one Redis and on a three-node Redis Cluster
(`STORE_CLUSTER=true`), both started here from the same `redis-server` with the same settings, in
alternating rounds (the best of each is shown, the machine being shared): bare round trips, logs recorded
through the store, and webhooks journaled by the receiver (worker.web.event_queue: groups of concurrent
webhooks of 50 sites, the broker a publisher that takes everything at once, so only the store is timed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.engine.test_recording import BASE_PROGRAM  # noqa: E402
from worker.engine.logs import accept_log  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from worker.infra.redis_client import async_client, async_cluster_client, cluster_client, sync_client  # noqa: E402
from worker.infra.redis_cluster import RedisClusterNodes, binary  # noqa: E402
from worker.store.progress import ProgressStore  # noqa: E402
from worker.web.event_queue import EventQueue  # noqa: E402
from worker.wix.envelope import WebhookEnvelope  # noqa: E402

SITES = 50  # the receiver's webhooks come from this many sites (instances)
GROUP = 200  # webhooks in flight at once (the receiver's group commit batches them)


def bare_round_trips(client: Any, count: int) -> float:
    """SETs per second, one at a time."""
    started = time.perf_counter()
    for n in range(count):
        client.set(f"bench:bare:{n}", "x")
    return count / (time.perf_counter() - started)


def logs_recorded(client: Any, count: int) -> float:
    """Logs per second recorded through the store (a fresh uniqueIdentifier each, on 100 members)."""
    store = ProgressStore(client)
    store.save_program("bench", BASE_PROGRAM)
    program = store.program("bench")
    challenge = program.challenge("spend-500")
    assert challenge is not None
    started = time.perf_counter()
    for n in range(count):
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
    return count / (time.perf_counter() - started)


class _Broker:
    """A broker that holds everything at once: only the store's part of the receiver is timed."""

    async def publish(self, messages: Iterable[str], written: Callable[[], None] | None = None) -> None:
        return None


def _envelope(n: int) -> WebhookEnvelope:
    event_id = str(uuid.uuid4())
    payload = json.dumps({"id": event_id, "n": n})
    return WebhookEnvelope("wix.ecom.v1.order_approved", f"site-{n % SITES:04d}", event_id, payload, None)


def webhooks_journaled(make_client: Callable[[], Any], count: int) -> float:
    """Webhooks per second journaled by the receiver's event queue, `GROUP` in flight at once."""

    async def run() -> float:
        client = make_client()
        queue = EventQueue(client, 3600, timeout=10.0, publisher=_Broker())  # throughput, not the 503 policy
        await queue.enqueue(_envelope(-1))  # connections made, the script loaded
        envelopes = [_envelope(n) for n in range(count)]
        started = time.perf_counter()
        for first in range(0, count, GROUP):
            outcomes = await asyncio.gather(*(queue.enqueue(e) for e in envelopes[first : first + GROUP]))
            assert set(outcomes) == {"queued"}, outcomes
        seconds = time.perf_counter() - started
        await client.aclose()
        return count / seconds

    return asyncio.run(run())


def _single_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """One plain Redis from the cluster nodes' binary, with their settings (no AOF, no snapshots)."""
    server = binary("redis-server")
    assert server is not None
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = sync_client(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    return process, url


def compare(count: int, webhooks: int, rounds: int) -> int:
    """The same operations on one Redis and on a three-node cluster, alternating, best of `rounds`."""
    work = Path(tempfile.mkdtemp(prefix="wrw-bench-cluster-"))
    server, single_url = _single_server(work)
    nodes = RedisClusterNodes(work / "cluster")
    try:
        cluster_url = nodes.start()
        targets: dict[str, dict[str, Any]] = {
            "one Redis": {"sync": lambda: sync_client(single_url), "async": lambda: async_client(single_url)},
            "cluster": {
                "sync": lambda: cluster_client(cluster_url),
                "async": lambda: async_cluster_client(cluster_url),
            },
        }
        operations: list[tuple[str, Callable[[dict[str, Any]], float]]] = [
            ("bare round trips (SET), one at a time", lambda t: _with(t["sync"], bare_round_trips, count)),
            ("logs recorded through the store", lambda t: _with(t["sync"], logs_recorded, count)),
            (
                f"webhooks journaled, {GROUP} at once from {SITES} sites",
                lambda t: webhooks_journaled(t["async"], webhooks),
            ),
        ]
        best: dict[tuple[str, str], float] = {}
        for _ in range(rounds):
            for name, operation in operations:
                for target, clients in targets.items():
                    _flush(single_url, nodes)
                    rate = operation(clients)
                    best[(name, target)] = max(rate, best.get((name, target), 0.0))
    finally:
        nodes.stop()
        server.terminate()
        server.wait(10)
    version = subprocess.run(
        [binary("redis-server") or "", "--version"], capture_output=True, text=True
    ).stdout
    print(
        f"store on one Redis and on a three-node Redis Cluster, same run, best of {rounds} alternating rounds"
    )
    server = version.split()[2] if version else "redis-server"
    print(f"  ({server}: every node and the single server on this machine)")
    print(f"  {'operation':<52} {'one Redis':>11} {'cluster':>11} {'cluster / one':>14}")
    for name, _ in operations:
        single, cluster = best[(name, "one Redis")], best[(name, "cluster")]
        print(f"  {name:<52} {single:>9,.0f}/s {cluster:>9,.0f}/s {cluster / single:>14.2f}")
    return 0


def _with(make: Callable[[], Any], operation: Callable[[Any, int], float], count: int) -> float:
    client = make()
    try:
        return operation(client, count)
    finally:
        client.close()


def _flush(single_url: str, nodes: RedisClusterNodes) -> None:
    client = sync_client(single_url)
    client.flushall()
    client.close()
    nodes.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=int, default=3000)
    parser.add_argument("--cluster", action="store_true", help="one Redis beside a three-node Redis Cluster")
    parser.add_argument("--webhooks", type=int, default=8000, help="webhooks journaled per round (--cluster)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (--cluster)")
    args = parser.parse_args()
    if args.cluster:
        return compare(args.logs, args.webhooks, args.rounds)
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
