"""`make bench`, preview before publishing: a dry-run over 100,000 journaled events (a draft and the live
program replayed side by side), beside the time to just read the same records out of Redis (SCAN and
HMGET, nothing decoded) and to read and decode them, in the same run, against the same Redis.

The records are written as the worker leaves them (`processed`, with the normalized order_paid event), in
pipelines, for one throwaway instance: 1,000 members paying over 30 days. With `REDIS_URL` set, that
database is used and only the bench instance's keys are removed at the end; unset, an embedded Redis.
Each figure is the best of `--rounds` runs (3): on a shared machine, other work only ever adds time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker import keys  # noqa: E402
from worker.dev.programs import BASE_PROGRAM, points_rule, rule  # noqa: E402
from worker.engine.program import parse_program  # noqa: E402
from worker.events.preview import dry_run, read_events  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis  # noqa: E402
from worker.infra.redis_client import sync_client  # noqa: E402

INSTANCE = "bench-dry-run"
LIVE = {
    **BASE_PROGRAM,
    "rules": [
        rule("order_paid", streak="weekly-shopper"),
        rule("order_paid", challenge="spend-500", value="order.total"),
    ],
    "pointsRules": [points_rule("order_paid", 1, 10)],
}
T = TypeVar("T")


def draft_document() -> dict[str, object]:
    """The live program with every milestone's target halved (what a merchant would preview)."""
    draft = json.loads(json.dumps(LIVE))
    for item in draft["streaks"] + draft["challenges"]:
        for milestone in item.get("milestones", []):
            milestone["milestoneTargetValue"] = max(1, int(milestone["milestoneTargetValue"]) // 2)
    return draft


def write_records(client: object, count: int, members: int) -> None:
    """`count` processed order_paid records, written in pipelines of 1,000."""
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / count
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for n in range(count):
        event_id = f"ev-{n:07d}"
        normalized = {
            "name": "order_paid",
            "instanceId": INSTANCE,
            "eventId": event_id,
            "occurredAt": (start + step * n).isoformat(),
            "contactId": f"member-{n % members}",
            "order": {"id": f"order-{n}", "total": {"amount": str(20 + n % 90), "currency": "EUR"}},
        }
        pipe.hset(
            keys.event_record(INSTANCE, event_id),
            mapping={
                "status": "processed",
                "instanceId": INSTANCE,
                "eventId": event_id,
                "eventType": "wix.ecom.v1.order_payment_status_updated",
                "source": "webhook",
                "normalized": json.dumps(normalized, separators=(",", ":")),
                "logs": "[]",
            },
        )
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()


def read_raw(client: object) -> int:
    """SCAN and HMGET every record, nothing decoded: the floor any replay stands on."""
    read = 0
    batch: list[str] = []
    for key in client.scan_iter(match=keys.event_records_of(INSTANCE), count=1000):  # type: ignore[attr-defined]
        batch.append(key)
        if len(batch) == 1000:
            read += _hmget(client, batch)
            batch = []
    return read + _hmget(client, batch)


def _hmget(client: object, batch: list[str]) -> int:
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for key in batch:
        pipe.hmget(key, ["status", "normalized"])
    return len(pipe.execute())


def remove(client: object) -> None:
    """The bench instance's records, unlinked 1,000 at a time."""
    batch: list[str] = []
    for key in client.scan_iter(match=keys.event_records_of(INSTANCE), count=1000):  # type: ignore[attr-defined]
        batch.append(key)
        if len(batch) == 1000:
            client.unlink(*batch)  # type: ignore[attr-defined]
            batch = []
    if batch:
        client.unlink(*batch)  # type: ignore[attr-defined]


def best_of(rounds: int, run: Callable[[], T]) -> tuple[float, T]:
    """The shortest of `rounds` runs (the machine's other work only ever adds time) and the last answer."""
    best, answer = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        answer = run()
        best = min(best, time.perf_counter() - started)
    assert answer is not None
    return best, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best of this many runs")
    args = parser.parse_args()
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-dry-run-")), persistent=False)
        url = embedded.start()
    client = sync_client(url)
    live, draft = parse_program(LIVE), parse_program(draft_document())
    try:
        started = time.perf_counter()
        write_records(client, args.events, args.members)
        written = time.perf_counter() - started
        read_seconds, raw = best_of(args.rounds, lambda: read_raw(client))
        decode_seconds, (events, _) = best_of(args.rounds, lambda: read_events(client, INSTANCE, args.events))
        dry_seconds, answer = best_of(
            args.rounds, lambda: dry_run(client, INSTANCE, live, draft, max_events=args.events)
        )
    finally:
        remove(client)
        if embedded is not None:
            embedded.stop()
    assert raw == len(events) == answer["events"] == args.events, (raw, len(events), answer["events"])
    assert answer["stopped"] is False
    current, drafted = answer["current"], answer["draft"]
    rate = args.events / dry_seconds
    print(f"dry-run: {args.events} journaled order_paid events, {args.members} members")
    print(f"  each figure the best of {args.rounds} runs")
    print(f"  written in pipelines of 1,000:              {written:6.2f} s")
    print(f"  read them (SCAN + HMGET, nothing decoded):  {read_seconds:6.2f} s")
    print(f"  read and decode them (the dry-run's reads): {decode_seconds:6.2f} s")
    print(f"  dry-run, live and draft side by side:       {dry_seconds:6.2f} s  ({rate:,.0f} events/s)")
    print(f"  dry-run / read: {dry_seconds / read_seconds:.1f}x")
    print(f"  dry-run / read and decode: {dry_seconds / decode_seconds:.1f}x")
    print(f"  reward logs: live {current['rewardLogs']}, draft {drafted['rewardLogs']}")
    print(f"  points: live {current['points']}, draft {drafted['points']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
