"""`make chaos`: exactly once, shown. Webhooks at speed while everything that can fail does; then counts.

    python -m worker.dev.chaos [--webhooks 10000] [--senders 8] [--redelivered 0.2]
        [--kill-pool-every 2] [--kill-worker-every 20] [--redis-restarts 1] [--fault-rate 0.3]

Starts its own world: an embedded Redis (AOF on, a free port), the fake Wix (random faults at
`--fault-rate`: 429, 500, and calls done whose answer is lost), and the service under
`worker.infra.supervisor` (web, a Celery worker, beat), as `make run` does. A program gives each paid order
to a weekly streak (a coupon at the first week) and a spending challenge (points at $100, a coupon at
$250, points at $500), and a point per $10 of each checkout.

It posts signed webhooks from `--senders` connections: each order's payment (one in ten also paid
twice, under another event id, as Wix may send two events about one payment) and its checkout, plus
`--redelivered` of them sent again, all shuffled. A 503 or a lost connection is retried, as Wix
retries. Meanwhile a pool child of the worker is SIGKILLed every `--kill-pool-every` s, the whole
worker (its process group) every `--kill-worker-every` s, and Redis is restarted `--redis-restarts`
times; the supervisor brings the worker back. The chaos goes on until every fault has happened at
least once and the service has settled; what was dead-lettered is replayed once.

The checks are computed from Redis and from what the fake Wix holds, not from the harness's counters:
every event's journal record, each order counted by one event, challenge totals against the distinct
orders, one reward log per milestone reached, each coupon and each points reward once in Wix, each
checkout's points once, every member's balance, each automation trigger once, nothing stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from worker import keys
from worker.dev.programs import challenge, coupon, milestone, points, points_rule, program, rule, streak
from worker.dispatch import QUEUES
from worker.engine.program import parse_program
from worker.infra.embedded_redis import EmbeddedRedis, free_port
from worker.infra.redis_client import cluster_client
from worker.infra.redis_cluster import RedisClusterNodes
from worker.infra.supervisor import Supervisor
from worker.rewards.fulfilment import coupon_code
from worker.store.dead_letters import DeadLetters
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, checkout_completed, payment_status_updated
from worker.wix.fake.webhooks import load_or_create_private_key, write_public_key
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "chaos-instance-0000-4000-8000-000000000001"
APP_ID = "chaos-app-0000-4000-8000-000000000001"
APP_SECRET = "chaos-app-secret"  # noqa: S105  (the fake Wix's, for this run only)
PAID = "wix.ecom.v1.order_payment_status_updated"
CHECKOUT = "wix.ecom.v1.checkout_completed"
CHALLENGE_MILESTONES = (("spent-100", 100, "points", 25), ("spent-250", 250, "coupon", 0),
                        ("spent-500", 500, "points", 100))  # fmt: skip
POINTS_PER_DOLLARS = 10

PROGRAM: dict[str, Any] = program(
    streaks=[
        streak(
            "weekly-shopper",
            "Weekly shopper",
            period="weekly",
            milestones=[milestone("first-week", "A week with an order", 1, coupon("5% off", 5))],
        )
    ],
    challenges=[
        challenge(
            "big-spender",
            "Big spender",
            method="sum",
            window={"startsAt": "2020-01-01T00:00:00Z", "endsAt": "2100-01-01T00:00:00Z"},
            completion=1_000_000,
            milestones=[
                milestone(
                    name,
                    f"${target} spent",
                    target,
                    points(amount) if kind == "points" else coupon("$10 off", money_off=10),
                )
                for name, target, kind, amount in CHALLENGE_MILESTONES
            ],
        )
    ],
    rules=[
        rule("order_paid", streak="weekly-shopper"),
        rule("order_paid", challenge="big-spender", value="order.total"),
    ],
    points_rules=[points_rule("checkout_completed", 1, per=POINTS_PER_DOLLARS)],
)


@dataclass
class Options:
    webhooks: int = 10_000
    senders: int = 8
    redelivered: float = 0.2
    twins: float = 0.1  # orders whose payment comes twice, under two event ids
    contacts: int | None = None  # default: one per 25 webhooks
    kill_pool_every: float = 2.0  # seconds; 0: never
    kill_worker_every: float = 20.0  # seconds; 0: never
    worker_kills: int = 0  # at most this many; 0: no limit
    redis_restarts: int = 1
    fault_rate: float = 0.3
    seed: int = 42
    concurrency: int = 4  # pool processes: the rewards tasks mostly wait on Wix
    visibility_timeout: int = 30
    settle_timeout: float = 1800.0
    work_dir: Path | None = None
    quiet: bool = False
    broker_url: str | None = None  # RabbitMQ (amqp://...) as the broker; default: the run's Redis
    # The store on a three-node Redis Cluster started for the run (STORE_CLUSTER=true); the run's Redis, the
    # one restarted, is then the broker only.
    store_cluster: bool = False


# --- the webhooks ---------------------------------------------------------------------------------


@dataclass
class Order:
    id: str
    contact_id: str
    total: Decimal
    checkout_id: str
    event_ids: list[str] = field(default_factory=list)  # its payment's events (two for a twin)
    checkout_sent: bool = False


@dataclass
class Plan:
    orders: list[Order]
    tokens: list[tuple[str, str]]  # (event id, signed token), shuffled, redeliveries included
    distinct_events: int

    @property
    def contacts(self) -> set[str]:
        return {order.contact_id for order in self.orders}


def plan_webhooks(options: Options, key: RSAPrivateKey) -> Plan:
    """Distinct events (payments, twins, checkouts) up to the share not redelivered, then redeliveries
    of random ones, all shuffled."""
    rng = random.Random(options.seed)  # noqa: S311  (a reproducible run, not a secret)
    redelivered = int(options.webhooks * options.redelivered)
    distinct = options.webhooks - redelivered
    contacts = [f"contact-{n:05d}" for n in range(options.contacts or max(4, options.webhooks // 25))]
    orders: list[Order] = []
    events: list[tuple[str, str]] = []
    now = time.time()
    while len(events) < distinct:
        order = Order(
            id=str(uuid.UUID(int=rng.getrandbits(128))),
            contact_id=rng.choice(contacts),
            total=Decimal(rng.randrange(1000, 9000)) / 100,
            checkout_id=str(uuid.UUID(int=rng.getrandbits(128))),
        )
        orders.append(order)
        kinds = [PAID, CHECKOUT] + ([PAID] if rng.random() < options.twins else [])
        for kind in kinds[: distinct - len(events)]:
            event = EventOptions(
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                order_id=order.id,
                contact_id=order.contact_id,
                total=f"{order.total:.2f}",
                checkout_id=order.checkout_id,
                event_time=now - rng.uniform(0, 60),
            )
            payload = payment_status_updated(event) if kind == PAID else checkout_completed(event)
            if kind == PAID:
                order.event_ids.append(event.event_id)
            else:
                order.checkout_sent = True
            token = sign_webhook(key, kind, INSTANCE, payload, lifetime=6 * 3600)
            events.append((event.event_id, token))
    tokens = events + [rng.choice(events) for _ in range(redelivered)]
    rng.shuffle(tokens)
    orders = [order for order in orders if order.event_ids]  # the last one may have been cut off
    return Plan(orders, tokens, len(events))


@dataclass
class SendStats:
    answers: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    seconds: float = 0.0


async def _send_all(base_url: str, plan: Plan, senders: int, stats: SendStats) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _, token in plan.tokens:
        queue.put_nowait(token)
    limits = httpx.Limits(max_connections=senders)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:

        async def sender() -> None:
            while not queue.empty():
                token = queue.get_nowait()
                while True:  # as Wix does: again until a 200, a little later each time
                    try:
                        response = await client.post("/webhooks/wix", content=token)
                    except httpx.HTTPError:
                        stats.answers["no answer"] += 1
                    else:
                        if response.status_code == 200:
                            stats.answers[response.json().get("status", "200")] += 1
                            break
                        stats.answers[str(response.status_code)] += 1
                        if response.status_code < 500:
                            break  # refused for good: the checks will show what it cost
                    stats.retries += 1
                    await asyncio.sleep(0.25)

        await asyncio.gather(*(sender() for _ in range(senders)))


# --- the chaos ------------------------------------------------------------------------------------


@dataclass
class Chaos:
    pool_kills: int = 0
    worker_kills: int = 0
    redis_restarts: int = 0
    redis_down_seconds: list[float] = field(default_factory=list)


class Agents:
    """Threads that SIGKILL pool children and the worker at their intervals, and restart Redis."""

    def __init__(
        self, supervisor: Supervisor, redis_server: EmbeddedRedis, options: Options, sent: Callable[[], int]
    ) -> None:
        self.supervisor, self.redis_server, self.options = supervisor, redis_server, options
        self.sent = sent
        self.chaos = Chaos()
        self.stop = threading.Event()
        self._rng = random.Random(options.seed + 1)  # noqa: S311
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.options.kill_pool_every > 0:
            self._spawn(self._kill_pool_children)
        if self.options.kill_worker_every > 0:
            self._spawn(self._kill_workers)
        if self.options.redis_restarts > 0:
            self._spawn(self._restart_redis)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def done_once(self) -> bool:
        """Every enabled fault has happened at least once."""
        chaos, options = self.chaos, self.options
        return (
            (options.kill_pool_every <= 0 or chaos.pool_kills > 0)
            and (options.kill_worker_every <= 0 or chaos.worker_kills > 0)
            and chaos.redis_restarts >= options.redis_restarts
        )

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(60)

    def _kill_pool_children(self) -> None:
        import psutil

        while not self.stop.wait(self.options.kill_pool_every):
            pid = self.supervisor.pid_of("worker")
            with suppress(psutil.Error):
                children = psutil.Process(pid).children() if pid else []
                if children:
                    self._rng.choice(children).send_signal(signal.SIGKILL)
                    self.chaos.pool_kills += 1

    def _kill_workers(self) -> None:
        while not self.stop.wait(self.options.kill_worker_every):
            if self.options.worker_kills and self.chaos.worker_kills >= self.options.worker_kills:
                return
            pid = self.supervisor.pid_of("worker")
            if pid:
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # the worker and its pool children, at once
                    self.chaos.worker_kills += 1

    def _restart_redis(self) -> None:
        for n in range(self.options.redis_restarts):
            # Spread evenly over the sending: one restart happens half way through.
            mark = self.options.webhooks * (n + 1) // (self.options.redis_restarts + 1)
            while self.sent() < mark:
                if self.stop.wait(0.05):
                    return
            started = time.monotonic()
            self.redis_server.stop()  # SIGTERM: Redis writes its AOF and exits
            self.redis_server.start(timeout=30)  # the same port and directory: it loads the AOF
            self.chaos.redis_down_seconds.append(time.monotonic() - started)
            self.chaos.redis_restarts += 1


# --- the checks -----------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    expected: int
    found: int

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class Result:
    options: Options
    plan_webhooks: int
    distinct_events: int
    orders: int
    contacts: int
    faults: dict[str, Any] | None
    sending: SendStats
    chaos: Chaos
    settle_seconds: float
    worker_starts: int
    dead_lettered: int
    replayed: int
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> Check:
        [found] = [check for check in self.checks if check.name == name]
        return found

    def table(self) -> str:
        o, s, c = self.options, self.sending, self.chaos
        faults = (
            "off"
            if o.fault_rate <= 0
            else "unavailable (the fake Wix has no random-fault switch)"
            if self.faults is None
            else f"{o.fault_rate:.0%} of Wix calls: "
            + ", ".join(f"{n:,} {kind}" for kind, n in sorted(self.faults.get("counts", {}).items()))
            + f" in {self.faults.get('calls', 0):,} calls"
        )
        down = ", ".join(f"{seconds:.2f} s" for seconds in c.redis_down_seconds) or "-"
        answers = ", ".join(f"{n:,} {answer}" for answer, n in sorted(s.answers.items()))
        lines = [
            f"chaos run: {self.plan_webhooks:,} webhooks ({self.distinct_events:,} distinct events, "
            f"{self.plan_webhooks - self.distinct_events:,} redelivered), {o.senders} senders, "
            f"{self.orders:,} orders, {self.contacts:,} members",
            f"  faults: {faults}",
            f"  killed: {c.pool_kills:,} pool children ({_every(o.kill_pool_every)}), "
            f"{c.worker_kills:,} workers ({_every(o.kill_worker_every)}; {self.worker_starts} starts); "
            f"Redis restarted {c.redis_restarts} (down {down})",
            f"  sent in {s.seconds:.1f} s ({self.plan_webhooks / max(s.seconds, 1e-9):,.0f}/s): {answers}; "
            f"{s.retries:,} retried",
            f"  settled {self.settle_seconds:.1f} s after the last webhook "
            f"({self.distinct_events / max(s.seconds + self.settle_seconds, 1e-9):,.0f} events/s overall); "
            f"dead-lettered {self.dead_lettered}, replayed {self.replayed}",
            "",
            f"  {'check':<58} {'expected':>9} {'found':>9}",
        ]
        for check in self.checks:
            mark = "ok" if check.ok else "FAILED"
            lines.append(f"  {check.name:<58} {check.expected:>9,} {check.found:>9,}  {mark}")
        lines.append("")
        lines.append("exactly once: " + ("yes" if self.ok else "NO"))
        return "\n".join(lines)


def _every(seconds: float) -> str:
    return f"every {seconds:g} s" if seconds > 0 else "never"


def _fake_collection(fake_url: str, name: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{fake_url}/_fake/instances/{INSTANCE}/{name}", timeout=30)
    answer.raise_for_status()
    return list(answer.json()[name])


def _journal(store: redis.Redis, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    with store.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hgetall(keys.event_record(INSTANCE, event_id))
        return dict(zip(event_ids, pipe.execute(), strict=True))


def _expected_points(total: Decimal) -> int:
    return int((total / POINTS_PER_DOLLARS).to_integral_value(rounding=ROUND_FLOOR))


def checks(store: redis.Redis, fake_url: str, plan: Plan, broker: redis.Redis | None = None) -> list[Check]:
    """What Redis and the fake Wix hold, against what the distinct orders call for (`broker`: the Redis
    broker when it is not the store's server)."""
    event_ids = list(dict.fromkeys(event_id for event_id, _ in plan.tokens))
    journal = _journal(store, event_ids)
    statuses = Counter(record.get("status", "missing") for record in journal.values())
    # Which events applied each order's payment logs (one per rule): exactly one event per order.
    applied_by: defaultdict[str, set[str]] = defaultdict(set)
    applied_logs = 0
    for event_id, record in journal.items():
        for entry in json.loads(record.get("logs") or "[]"):
            if entry.get("applied"):
                applied_by[entry["uniqueIdentifier"]].add(event_id)
                applied_logs += 1
    # Each order's two logs (streak, challenge) applied by exactly one event each; a twin may apply one
    # of them and its sibling the other (they race), which still counts the order once.
    order_logs = [
        f"wix:order:{order.id}:order_paid:{target}"
        for order in plan.orders
        for target in ("streak:weekly-shopper", "challenge:big-spender")
    ]
    logs_once = sum(1 for uid in order_logs if len(applied_by.get(uid, ())) == 1)

    by_contact: defaultdict[str, list[Order]] = defaultdict(list)
    for order in plan.orders:
        by_contact[order.contact_id].append(order)
    progress = ProgressStore(store)
    challenge_right = 0
    expected_rewards: dict[tuple[str, str], tuple[str, int]] = {}  # (contact, milestone) -> (kind, points)
    expected_balance: dict[str, int] = {}
    for contact, orders in by_contact.items():
        spent = sum((order.total for order in orders), Decimal(0))
        state = progress.member_state(INSTANCE, contact, "challenge", "big-spender")
        counted = sum((Decimal(str(log.activityValue)) for log in state.logs), Decimal(0))
        if counted == spent and len(state.logs) == len(orders):
            challenge_right += 1
        expected_rewards[(contact, "first-week")] = ("coupon", 0)
        for milestone_id, target, kind, amount in CHALLENGE_MILESTONES:
            if spent >= target:
                expected_rewards[(contact, milestone_id)] = (kind, amount)
        expected_balance[contact] = sum(
            _expected_points(order.total) for order in orders if order.checkout_sent
        ) + sum(amount for (who, _), (_, amount) in expected_rewards.items() if who == contact)

    reward_logs = [log for contact in by_contact for log in progress.member_reward_logs(INSTANCE, contact)]
    per_milestone = Counter((log["contactId"], log["milestoneId"]) for log in reward_logs)
    issued = [log for log in reward_logs if log["status"] == "issued"]
    coupon_logs = [log for log in issued if log["reward"]["type"] == "coupon"]
    points_logs = [log for log in issued if log["reward"]["type"] == "points"]

    coupons = Counter(coupon["specification"]["code"] for coupon in _fake_collection(fake_url, "coupons"))
    transactions = _fake_collection(fake_url, "transactions")
    earned = Counter(t["idempotencyKey"] for t in transactions if t.get("transactionType") == "EARN")
    accounts = {a["contactId"]: a for a in _fake_collection(fake_url, "accounts")}
    reports = Counter(
        (report.get("triggerKey"), (report.get("idempotency") or {}).get("key"))
        for report in _fake_collection(fake_url, "triggerReports")
    )
    with_checkout = [order for order in plan.orders if order.checkout_sent]
    checkout_keys = [f"wrw:checkout_completed:{order.checkout_id}:0" for order in with_checkout]

    queued = _queued(broker or store)
    return [
        Check("events in the journal, each settled processed", len(event_ids), statuses["processed"]),
        Check("order logs applied by exactly one event (twins: one)", len(order_logs), logs_once),
        Check("logs applied: one per order and rule", 2 * len(plan.orders), applied_logs),
        Check("challenge totals equal to the member's distinct orders", len(by_contact), challenge_right),
        Check("reward logs: one per milestone reached", len(expected_rewards), len(reward_logs)),
        Check(
            "reward logs for a milestone reached, none twice",
            len(expected_rewards),
            sum(1 for key in expected_rewards if per_milestone[key] == 1),
        ),
        Check("reward logs issued", len(expected_rewards), len(issued)),
        Check(
            "coupons in Wix: one per coupon reward, no other",
            len(coupon_logs),
            sum(1 for log in coupon_logs if coupons[coupon_code(log["id"])] == 1)
            - (sum(coupons.values()) - len(coupon_logs)),
        ),
        Check(
            "points rewards earned once in Wix",
            len(points_logs),
            sum(1 for log in points_logs if earned[log["id"]] == 1),
        ),
        Check(
            "checkouts' points earned once in Wix",
            len([order for order in with_checkout if _expected_points(order.total) > 0]),
            sum(1 for key in checkout_keys if earned[key] == 1),
        ),
        Check("earn transactions in Wix, none twice", len(earned), sum(1 for n in earned.values() if n == 1)),
        Check(
            "member balances equal to the points they earned",
            len(expected_balance),
            sum(
                1
                for contact, points in expected_balance.items()
                if (accounts.get(contact) or {}).get("points", {}).get("balance", 0) == points
            ),
        ),
        Check(
            "automation triggers reported once (achieved, issued)",
            len(reward_logs) + len(issued),
            sum(
                1
                for (key, _), n in reports.items()
                if key in ("milestone_achieved", "reward_issued") and n == 1
            ),
        ),
        Check(
            "order_paid reported once per paid order (twins and redeliveries: once)",
            len(plan.orders),
            sum(1 for order in plan.orders if reports[("order_paid", f"order_paid:order:{order.id}")] == 1),
        ),
        Check("tasks left queued or unacknowledged", 0, queued),
        Check("dead letters left", 0, len(DeadLetters(store).list())),
    ]


# --- the run --------------------------------------------------------------------------------------


def _wait(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with suppress(httpx.HTTPError, redis.RedisError):
            if condition():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"chaos: gave up after {seconds:g} s waiting for {what}")
        time.sleep(interval)


def _queued(store: redis.Redis) -> int:
    """Tasks waiting in a queue, or taken and not yet acknowledged (kombu's `unacked`)."""
    with store.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        pipe.hlen("unacked")
        return sum(int(n) for n in pipe.execute())


def unsettled(
    store: redis.Redis, event_ids: list[str], contacts: set[str], broker: redis.Redis | None = None
) -> str:
    """What is not settled yet, in one line (said when the run gives up)."""
    with (broker or store).pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        pipe.hlen("unacked")
        *lengths, unacked = pipe.execute()
    with store.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hget(keys.event_record(INSTANCE, event_id), "status")
        statuses = Counter(str(status) for status in pipe.execute())
    progress = ProgressStore(store)
    rewards = Counter(
        log["status"] for contact in contacts for log in progress.member_reward_logs(INSTANCE, contact)
    )
    queues = ", ".join(f"{queue} {n}" for queue, n in zip(QUEUES, lengths, strict=True))
    return (
        f"queues: {queues}, unacked {unacked}; events: {dict(statuses)}; reward logs: {dict(rewards)}; "
        f"dead letters: {store.hlen(keys.DEAD_LETTERS)}"
    )


def settled(
    store: redis.Redis, event_ids: list[str], contacts: set[str], broker: redis.Redis | None = None
) -> bool:
    """No event waits, no task is queued or held, nothing waits in a member's outbox (a task message
    lost to a kill waits there for the relay), no reward log is pending."""
    if _queued(broker or store):
        return False
    with store.pipeline(transaction=False) as pipe:
        for contact in contacts:
            pipe.exists(keys.member_outbox(INSTANCE, contact))
        if any(pipe.execute()):
            return False
    with store.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hget(keys.event_record(INSTANCE, event_id), "status")
        if any(status in (None, "queued") for status in pipe.execute()):
            return False
    progress = ProgressStore(store)
    return not any(
        log["status"] == "pending"
        for contact in contacts
        for log in progress.member_reward_logs(INSTANCE, contact)
    )


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as handle:
        process = subprocess.Popen(  # noqa: S603  (our own fake Wix)
            args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def _worker_up(supervisor: Supervisor, store: redis.Redis, options: Options) -> bool:
    """The worker has its pool and has declared its queues (its consumer is about to take tasks)."""
    import psutil

    pid = supervisor.pid_of("worker")
    if not pid or not _consuming(store, options):
        return False
    with suppress(psutil.Error):
        return len(psutil.Process(pid).children()) >= options.concurrency
    return False


def _consuming(store: redis.Redis, options: Options) -> bool:
    """The worker has declared its queues (Redis) or consumes `events` (RabbitMQ)."""
    if options.broker_url is None:
        return bool(store.exists("_kombu.binding.events"))
    from kombu.connection import Connection

    broker = Connection(options.broker_url)  # type: ignore[no-untyped-call]  # kombu is untyped
    with suppress(Exception), broker as connection, connection.channel() as channel:
        return int(channel.queue_declare(queue="events", passive=True).consumer_count) > 0
    return False


def _switch_faults(fake_url: str, options: Options) -> dict[str, Any] | None:
    """Random faults on; None when this fake Wix has no such switch (it then answers 404 or 4xx)."""
    if options.fault_rate <= 0:
        return None
    answer = httpx.post(
        f"{fake_url}/_fake/faults",
        json={"rate": options.fault_rate, "seed": options.seed, "kinds": ["429", "500", "timeout"]},
        timeout=10,
    )
    if answer.status_code >= 400 or "random" not in answer.json():
        return None
    return dict(answer.json()["random"])


def run(options: Options) -> Result:
    """The whole run: start the world, send, break things, settle, replay, check; stop everything."""
    say: Callable[[str], None] = (lambda _: None) if options.quiet else (lambda text: print(text, flush=True))
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="wrw-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"chaos: logs in {work}")
    key = load_or_create_private_key(work / "wix-key.pem")
    write_public_key(key, work / "wix-key.pub.pem")
    parse_program(PROGRAM)  # a mistake here is the harness's, said at once
    redis_server = EmbeddedRedis(work / "redis", persistent=True)
    redis_url = redis_server.start()
    broker = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    store, cluster, store_url = broker, None, ""
    if options.store_cluster:  # the run's Redis is then the broker only
        cluster = RedisClusterNodes(work / "cluster")
        store_url = cluster.start()
        store = cluster_client(store_url, timeout=10)  # type: ignore[assignment]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENTRY_", "CELERY_", "WIX_", "REDIS", "BROKER_URL", "STORE_URL"))
    }
    fake_port, web_port = free_port(), free_port()
    fake_url, base_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{web_port}"
    service_env = {
        **env,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "REDIS_URL": redis_url,
        "WIX_PUBLIC_KEY_FILE": str(work / "wix-key.pub.pem"),
        "WIX_APP_ID": APP_ID,
        "WIX_APP_SECRET": APP_SECRET,
        "WIX_API_BASE": fake_url,
        "WIX_RATE_LIMIT_PER_MINUTE": "10000",
        "WIX_TIMEOUT_SECONDS": "2",
        "CELERY_VISIBILITY_TIMEOUT": str(options.visibility_timeout),
        "LOG_LEVEL": "WARNING",
        "PORT": str(web_port),
        "WORKER_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        **({"BROKER_URL": options.broker_url} if options.broker_url else {}),
        **({"STORE_URL": store_url, "STORE_CLUSTER": "true"} if cluster is not None else {}),
    }
    processes = {
        "web": f"{sys.executable} -m worker web",
        "worker": f"{sys.executable} -m celery -A worker worker --queues=events,rewards,bulk,periodic "
        f"--concurrency={options.concurrency} --loglevel=WARNING --without-gossip --without-mingle",
        "beat": f"{sys.executable} -m celery -A worker beat --loglevel=WARNING",
    }
    log = (work / "service.log").open("w", encoding="utf-8")
    supervisor = Supervisor(processes, service_env, output=log)
    watcher = threading.Thread(target=supervisor.watch, daemon=True)
    agents: Agents | None = None
    try:
        with _process(
            [sys.executable, "-m", "worker.wix.fake", "--port", str(fake_port), "--app-id", APP_ID,
             "--app-secret", APP_SECRET, "--rate-limit", "0", "--private-key", str(work / "wix-key.pem"),
             "--public-key-out", str(work / "wix-key.pub.pem")],
            env, work / "fake-wix.log",
        ):  # fmt: skip
            _wait(lambda: httpx.get(f"{fake_url}/_fake/health", timeout=1).status_code == 200, 30, "fake Wix")
            ProgressStore(store).save_program(INSTANCE, PROGRAM)
            say(f"chaos: signing {options.webhooks:,} webhooks")
            plan = plan_webhooks(options, key)
            watcher.start()
            _wait(lambda: httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200, 60, "the receiver")
            _wait(lambda: _worker_up(supervisor, broker, options), 90, "the worker")  # then the chaos
            faults = _switch_faults(fake_url, options)
            state = "off" if options.fault_rate <= 0 else "on" if faults else "unavailable"
            say(f"chaos: faults {state}; sending from {options.senders} senders")
            stats = SendStats()
            agents = Agents(supervisor, redis_server, options, lambda: sum(stats.answers.values()))
            agents.start()
            started = time.monotonic()
            asyncio.run(
                asyncio.wait_for(_send_all(base_url, plan, options.senders, stats), options.settle_timeout)
            )
            stats.seconds = time.monotonic() - started
            say(f"chaos: sent in {stats.seconds:.1f} s; waiting for the service to settle")
            event_ids = list(dict.fromkeys(event_id for event_id, _ in plan.tokens))
            contacts = plan.contacts
            sent_at = time.monotonic()

            def calm() -> bool:
                return (
                    agents is not None and agents.done_once() and settled(store, event_ids, contacts, broker)
                )

            try:
                _wait(calm, options.settle_timeout, "the service to settle under chaos", interval=1)
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}: {unsettled(store, event_ids, contacts, broker)}") from None
            agents.join()
            _wait(
                lambda: settled(store, event_ids, contacts, broker), 120, "the service to settle", interval=1
            )
            time.sleep(2)  # anything still in flight shows itself
            _wait(
                lambda: settled(store, event_ids, contacts, broker), 120, "the service to settle", interval=1
            )
            settle_seconds = time.monotonic() - sent_at
            fault_counts = None
            if faults is not None:
                fault_counts = httpx.get(f"{fake_url}/_fake/faults", timeout=10).json().get("random", faults)
                httpx.delete(f"{fake_url}/_fake/faults", timeout=10)
            dead = DeadLetters(store).list()
            if dead:
                say(f"chaos: {len(dead)} dead letters; replaying them once")
                subprocess.run(
                    [sys.executable, "-m", "worker", "dlq", "replay", "--all"],
                    env=service_env, check=True, capture_output=True, timeout=60,
                )  # fmt: skip

                def replayed() -> bool:
                    if not settled(store, event_ids, contacts, broker):
                        return False
                    logs = [
                        log
                        for contact in contacts
                        for log in ProgressStore(store).member_reward_logs(INSTANCE, contact)
                    ]
                    return all(log["status"] == "issued" for log in logs)

                _wait(replayed, 120, "the replayed dead letters to settle", interval=1)
            return Result(
                options=options,
                plan_webhooks=len(plan.tokens),
                distinct_events=plan.distinct_events,
                orders=len(plan.orders),
                contacts=len(contacts),
                faults=fault_counts,
                sending=stats,
                chaos=agents.chaos,
                settle_seconds=settle_seconds,
                worker_starts=supervisor.starts("worker"),
                dead_lettered=len(dead),
                replayed=len(dead),
                checks=checks(store, fake_url, plan, broker),
            )
    finally:
        if agents is not None:
            agents.join()
        supervisor.stop()
        watcher.join(10)
        log.close()
        store.close()
        broker.close()
        if cluster is not None:
            cluster.stop()
        redis_server.stop()


def main(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m worker.dev.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=defaults.webhooks)
    parser.add_argument("--senders", type=int, default=defaults.senders)
    parser.add_argument("--redelivered", type=float, default=defaults.redelivered, help="share sent again")
    parser.add_argument("--contacts", type=int, help="members (default: one per 25 webhooks)")
    parser.add_argument("--kill-pool-every", type=float, default=defaults.kill_pool_every, help="s; 0: never")
    parser.add_argument(
        "--kill-worker-every", type=float, default=defaults.kill_worker_every, help="s; 0: never"
    )
    parser.add_argument("--worker-kills", type=int, default=0, help="at most this many (0: no limit)")
    parser.add_argument("--redis-restarts", type=int, default=defaults.redis_restarts)
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="pool processes")
    parser.add_argument("--visibility-timeout", type=int, default=defaults.visibility_timeout)
    parser.add_argument("--settle-timeout", type=float, default=defaults.settle_timeout)
    parser.add_argument("--broker-url", help="a RabbitMQ broker (amqp://...); default: the run's Redis")
    parser.add_argument(
        "--store-cluster",
        action="store_true",
        help="the store on a three-node Redis Cluster of the run's own",
    )
    parser.add_argument("--work-dir", type=Path, help="logs and Redis data (default: a new temporary one)")
    args = parser.parse_args(argv)
    options = Options(**{name: value for name, value in vars(args).items()})
    result = run(options)
    print(result.table())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
