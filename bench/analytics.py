"""`make bench`, analytics: how fast the overview answers, and what counting costs a log.

1. The overview of a site with 100,000 members and a year of history: the counter keys a year of activity
   leaves (a day hash per day with the programme's 10 items' fields, a HyperLogLog per day and stage, of
   about 5,000 members a day out of the 100,000) are written directly, then `overview(days=90)` is timed.
2. Logs per second through the store's record path with counting and without, interleaved in one run:
   "without" is the same WATCH/MULTI with the counts left out (the bench replaces `stats.log_counts` with
   empty counts; the service has no such switch).

Writes only keys of its own instances and deletes them at the end (REDIS_URL's database, or an embedded
Redis when REDIS_URL is not set).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from worker import keys  # noqa: E402
from worker.analytics.overview import overview  # noqa: E402
from worker.dev.programs import challenge, coupon, milestone, points, program, streak  # noqa: E402
from worker.engine.logs import accept_log  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis  # noqa: E402
from worker.infra.redis_client import sync_client  # noqa: E402
from worker.store import stats  # noqa: E402
from worker.store.progress import ProgressStore  # noqa: E402

SITE = "bench-analytics-history"
LOGGING_SITE = "bench-analytics-logs"
MEMBERS = 100_000
DAILY_MEMBERS = 5_000
ITEMS = 10


def bench_program() -> dict[str, Any]:
    reward = [milestone("m1", "First", 3, points(10)), milestone("m2", "Second", 6, coupon("5% off", 5))]
    return program(
        streaks=[
            streak(f"s{n}", f"Streak {n}", period="weekly", milestones=reward) for n in range(ITEMS // 2)
        ],
        challenges=[
            challenge(f"c{n}", f"Challenge {n}", completion=1000, period="monthly", milestones=reward)
            for n in range(ITEMS // 2)
        ],
    )


def day_fields(rng: random.Random) -> dict[str, int]:
    """One day's counts, in the fields the service writes (global, by kind, per item)."""
    fields: dict[str, int] = {}
    for name in ("events", "orders", "ordersEngaged", "ordersRedeemed", "logs", "milestones"):
        fields[name] = rng.randint(1_000, 9_000)
    for status in ("created", "issued", "redeemed", "expired", "failed"):
        fields[f"rewardLogs.{status}"] = rng.randint(10, 900)
        for kind in ("coupon", "points"):
            fields[f"rewardLogs.{status}.{kind}"] = rng.randint(5, 450)
    for name in ("streaks.started", "streaks.broken", "streaks.completed", "challenges.completed"):
        fields[name] = rng.randint(10, 500)
    fields["points.rules"], fields["points.rewards"] = rng.randint(1_000, 90_000), rng.randint(100, 9_000)
    fields["revenue.redeemed.USD"], fields["revenue.engaged.USD"] = (
        rng.randint(10**6, 10**8),
        rng.randint(10**7, 10**9),
    )
    for n in range(ITEMS):
        kind, item_id = ("streak", f"s{n}") if n < ITEMS // 2 else ("challenge", f"c{n - ITEMS // 2}")
        for name in (
            "logs",
            "milestones",
            "points",
            "streaks.started",
            "streaks.broken",
            "challenges.completed",
        ):
            fields[stats.item_field(kind, item_id, name)] = rng.randint(1, 900)
        for status in ("created", "issued", "redeemed", "expired", "failed"):
            fields[stats.item_field(kind, item_id, f"rewardLogs.{status}")] = rng.randint(1, 90)
            fields[stats.item_field(kind, item_id, f"rewardLogs.{status}.coupon")] = rng.randint(1, 45)
    return fields


def build_history(client: redis.Redis, today: datetime) -> int:
    """A year of counter keys for SITE; answers how many keys it wrote."""
    rng = random.Random(15)
    stages = ["logged", "milestone", "issued", "redeemed"]
    stages += [stats.item_stage("streak", f"s{n}") for n in range(ITEMS // 2)]
    stages += [stats.item_stage("challenge", f"c{n}") for n in range(ITEMS // 2)]
    # A dozen real HyperLogLogs of a day's members each, copied (DUMP/RESTORE) to every day and stage.
    templates = []
    for n in range(12):
        key = f"bench:hll:{n}"
        members = [stats.member_digest(f"member-{rng.randrange(MEMBERS)}") for _ in range(DAILY_MEMBERS)]
        for start in range(0, len(members), 1000):
            client.pfadd(key, *members[start : start + 1000])
        templates.append(client.dump(key))
        client.delete(key)
    written = 0
    with client.pipeline(transaction=False) as pipe:
        for offset in range(365):
            day = (today - timedelta(days=offset)).date().isoformat()
            pipe.hset(keys.stats_day(SITE, day), mapping=day_fields(rng))  # type: ignore[arg-type]
            for stage in stages:
                pipe.restore(keys.stats_members(SITE, day, stage), 0, rng.choice(templates), replace=True)
            written += 1 + len(stages)
            if offset % 30 == 29:
                pipe.execute()
        pipe.hset(
            keys.stats_alive(SITE),
            mapping={"streaks": 4_000, **{stats.item_stage("streak", f"s{n}"): 800 for n in range(5)}},
        )
        pipe.execute()
    return written + 1


def time_overview(client: redis.Redis, now: datetime, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = overview(client, SITE, 90, now)
        timings.append(time.perf_counter() - started)
    assert len(answer["series"]) == 90 and answer["totals"]["members"] > DAILY_MEMBERS
    return timings


def record_logs(store: ProgressStore, count: int, members: str) -> float:
    """Logs per second through the store's record path, each a fresh uniqueIdentifier on one of 100
    members (new ones each round, so every round starts from the same state sizes), alternating the
    programme's streaks and challenges."""
    bench = store.program(LOGGING_SITE)
    items = [*bench.streaks, *bench.challenges]
    started = time.perf_counter()
    for n in range(count):
        now = datetime.now(UTC)
        item = items[n % len(items)]
        log = accept_log(
            item,
            contact_id=f"{members}-{n % 100}",
            activity_id="order_paid",
            activity_value="1",
            activity_at=now,
            unique_identifier=str(uuid.uuid4()),
            now=now,
        )
        store.record(LOGGING_SITE, bench, item, log, now)
    return count / (time.perf_counter() - started)


def without_counting(*args: Any, **kwargs: Any) -> stats.Counts:
    return stats.Counts(args[0], args[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=int, default=3000, help="logs per round (3 rounds each way)")
    parser.add_argument("--rounds", type=int, default=20, help="overview timings")
    args = parser.parse_args()
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-analytics-")), persistent=False)
        url = embedded.start()
    client = sync_client(url)
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        written = build_history(client, now)
        built = time.perf_counter() - started
        timings = time_overview(client, now, args.rounds)

        store = ProgressStore(client)
        store.save_program(LOGGING_SITE, bench_program())
        store.save_program(SITE, bench_program())
        counted, plain = [], []
        real = stats.log_counts
        for n in range(3):  # interleaved, so drift on a shared machine hits both alike
            counted.append(record_logs(store, args.logs, f"counted{n}"))
            stats.log_counts = without_counting
            try:
                plain.append(record_logs(store, args.logs, f"plain{n}"))
            finally:
                stats.log_counts = real
    finally:
        for site in (SITE, LOGGING_SITE):
            for pattern in keys.instance_key_patterns(site):
                batch = list(client.scan_iter(match=pattern, count=1000))
                for start in range(0, len(batch), 500):
                    client.delete(*batch[start : start + 500])
        if embedded is not None:
            embedded.stop()
    history = f"a year of history ({written:,} counter keys, built in {built:.1f} s)"
    print(f"analytics: a site of {MEMBERS:,} members, {history}")
    print(
        f"  overview(days=90): median {statistics.median(timings) * 1000:6.1f} ms, "
        f"max {max(timings) * 1000:6.1f} ms over {args.rounds} runs"
    )
    with_rate, without_rate = statistics.median(counted), statistics.median(plain)
    rounds_with, rounds_without = (", ".join(f"{r:.0f}" for r in rates) for rates in (counted, plain))
    print(f"  logs recorded with counting:    {with_rate:8.0f} /s  (rounds: {rounds_with})")
    print(f"  logs recorded without counting: {without_rate:8.0f} /s  (rounds: {rounds_without})")
    print(f"  with / without: {with_rate / without_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
