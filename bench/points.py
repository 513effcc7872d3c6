"""`make bench`, points: events per second through the event task's processing with points caps and tier
multipliers on, beside the same without, interleaved in one run.

Each event is a paid order of one of 100 members (a fresh order each time) processed by `process_event`
as the worker does (normalize, the program's rules, the points rule's earn, the journal), the earns kept
by a recorded dispatcher instead of Celery. "With" is a program whose points rule has tier multipliers
(the members' tiers in their cached loyalty accounts), a member cap, a global budget and an open bonus
window; "without" is the same rule bare. The difference is the multiplier stage's tier read and the Lua
reservation per earn.

Writes only keys of its own instances and deletes them at the end (REDIS_URL's database, or an embedded
Redis when REDIS_URL is not set).
"""

from __future__ import annotations

import argparse
import json
import os
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

from tests import wix_samples  # noqa: E402
from worker import keys  # noqa: E402
from worker.dispatch import RecordedDispatcher  # noqa: E402
from worker.events.processing import process_event  # noqa: E402
from worker.infra.embedded_redis import EmbeddedRedis  # noqa: E402
from worker.infra.redis_client import sync_client  # noqa: E402
from worker.store.journal import EventJournal  # noqa: E402
from worker.store.progress import ProgressStore  # noqa: E402

CAPPED = "bench-points-capped"
PLAIN = "bench-points-plain"
MEMBERS = 100
RULE: dict[str, Any] = {"on": "order_paid", "points": 1, "per": 1}


def programs(now: datetime) -> dict[str, dict[str, Any]]:
    window = {
        "id": "bench-window",
        "multiplier": 2,
        "startsAt": (now - timedelta(days=1)).isoformat(),
        "endsAt": (now + timedelta(days=1)).isoformat(),
    }
    capped = {
        **RULE,
        "tierMultipliers": {"gold": 1.5, "silver": 1.2},
        "maxPerPeriod": 1_000_000,
        "period": "monthly",
        "budget": {"points": 2_000_000_000, "period": "monthly"},
    }
    return {
        CAPPED: {"pointsRules": [capped], "bonusWindows": [window]},
        PLAIN: {"pointsRules": [RULE]},
    }


def seed_tiers(client: redis.Redis) -> None:
    for n in range(MEMBERS):
        account = {"id": f"acc-{n}", "contactId": f"member-{n}", "tier": {"id": ("gold", "silver")[n % 2]}}
        client.set(keys.loyalty_account_copy(CAPPED, f"member-{n}"), json.dumps(account), ex=3600)


def process_orders(client: redis.Redis, instance_id: str, count: int) -> float:
    """Events per second: `count` paid orders processed one after another."""
    journal = EventJournal(client, 3600)
    follow_ups = RecordedDispatcher()
    payload = wix_samples.payment_status_updated()
    order = payload["actionEvent"]["body"]["order"]
    order["appliedDiscounts"] = []
    order["priceSummary"]["total"]["amount"] = "42.00"
    started = time.perf_counter()
    for n in range(count):
        event_id = str(uuid.uuid4())
        payload["id"] = event_id
        payload["eventTime"] = datetime.now(UTC).isoformat()
        order["id"] = str(uuid.uuid4())
        order["buyerInfo"]["contactId"] = f"member-{n % MEMBERS}"
        process_event(
            journal,
            client,
            event_type="wix.ecom.v1.order_payment_status_updated",
            instance_id=instance_id,
            event_id=event_id,
            data=json.dumps(payload),
            our_app_id=None,
            claim_ttl_seconds=3600,
            follow_ups=follow_ups,
        )
    elapsed = time.perf_counter() - started
    assert len(follow_ups.earns) == count, "every order earns"
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500, help="events per round (3 rounds each way)")
    args = parser.parse_args()
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-points-")), persistent=False)
        url = embedded.start()
    client = sync_client(url)
    capped, plain = [], []
    try:
        store = ProgressStore(client)
        for instance_id, document in programs(datetime.now(UTC)).items():
            store.save_program(instance_id, document)
        seed_tiers(client)
        for _ in range(3):  # interleaved, so drift on a shared machine hits both alike
            capped.append(process_orders(client, CAPPED, args.events))
            plain.append(process_orders(client, PLAIN, args.events))
    finally:
        for site in (CAPPED, PLAIN):
            for pattern in keys.instance_key_patterns(site):
                batch = list(client.scan_iter(match=pattern, count=1000))
                for start in range(0, len(batch), 500):
                    client.delete(*batch[start : start + 500])
        if embedded is not None:
            embedded.stop()
    with_rate, without_rate = statistics.median(capped), statistics.median(plain)
    rounds_with, rounds_without = (", ".join(f"{r:.0f}" for r in rates) for rates in (capped, plain))
    print(f"points: paid orders through process_event, {MEMBERS} members, {args.events} per round")
    print(f"  with caps, budget, tiers, bonus window: {with_rate:7.0f} events/s  ({rounds_with})")
    print(f"  without (the bare points rule):         {without_rate:7.0f} events/s  ({rounds_without})")
    print(f"  with / without: {with_rate / without_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
