"""Where one webhook's time goes in the receiver, stage by stage, measured in this process.

`bench/webhooks.py` prints this table after its wrk phases; `python bench/receiver_stages.py` prints it
alone (REDIS_URL's server, database `--db`, which is flushed). Every stage runs over the same distinct
signed webhooks, the best of a few rounds (the machine is shared: the best round is the least disturbed),
so each figure is microseconds of one core per webhook:

- the RS256 check alone (cryptography), the floor of any verification;
- the rest of verification: PyJWT's base64url segments, the header and claims JSON, the claim checks;
- the envelope: the `data` and `data.data` JSON levels (the third level, the claims, is PyJWT's);
- the Celery task message and the journal record built for the Lua call;
- the Lua call (EVALSHA) one event a call, and per event when 32 share a call (the group commit);
- the whole request through the ASGI app without HTTP (the receiver's fast path), one at a time and 32 at
  a time, beside the bare endpoint (bench/bare_app.py) the same way.

With a RabbitMQ broker (`--broker amqp://...`, a vhost to use: its `events` queue is purged), also what
RabbitMQ itself needs, a bare aiormq confirm loop (one publish awaited at a time, and 32 in flight),
beside the receiver's publisher (worker/runtime/amqp_publisher.py) one event a publish and 32 a publish,
and the whole request with the broker on RabbitMQ, one at a time and 32 at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.utils import base64url_decode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.asgi_scope import http_scope  # noqa: E402
from tests.wix_samples import payment_status_updated  # noqa: E402
from worker import keys  # noqa: E402
from worker.web.event_queue import QUEUE, EventQueue, prepare  # noqa: E402
from worker.wix.envelope import parse_envelope  # noqa: E402
from worker.wix.tokens import TokenVerifier  # noqa: E402
from worker.wix.webhook_signing import new_private_key, public_pem, sign_webhook  # noqa: E402

EVENT_TYPE = "wix.ecom.v1.order_payment_status_updated"
INSTANCE_ID = "bench0000-0000-4000-8000-000000000000"
GROUP = 32
ROUNDS = 5


@dataclass(frozen=True)
class Timing:
    """Microseconds per webhook: of this process's CPU, and of the clock (which adds waiting for Redis)."""

    cpu: float
    wall: float

    def __sub__(self, other: Timing) -> Timing:
        return Timing(self.cpu - other.cpu, self.wall - other.wall)

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.cpu + other.cpu, self.wall + other.wall)


@dataclass(frozen=True)
class Stage:
    name: str
    micros: Timing
    part_of_request: bool  # a slice of "whole request, one at a time" (the shares add up to it)


class _Rounds:
    """The best (least disturbed) of several rounds, CPU and clock each."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def __enter__(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.cpu.append(time.process_time() - self._cpu)
        self.wall.append(time.perf_counter() - self._wall)

    @property
    def best(self) -> Timing:
        return Timing(min(self.cpu) / self.count * 1e6, min(self.wall) / self.count * 1e6)


def _best(run: Callable[[], None], count: int, rounds: int) -> Timing:
    measured = _Rounds(count)
    for _ in range(rounds):
        with measured:
            run()
    return measured.best


def _tokens(private_key: rsa.RSAPrivateKey, count: int) -> list[bytes]:
    return [
        sign_webhook(
            private_key, EVENT_TYPE, INSTANCE_ID, payment_status_updated(event_id=str(uuid.uuid4()))
        ).encode("ascii")
        for _ in range(count)
    ]


class _Asgi:
    """Posts one body to an ASGI app as uvicorn would, without a socket; returns the status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, body: bytes) -> int:
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        scope = http_scope("POST", "/webhooks/wix", headers)
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status

    async def each(self, bodies: Iterable[bytes], group: int) -> None:
        """Post every body, `group` at a time; every answer must be a 200."""
        batch: list[bytes] = []
        for body in bodies:
            batch.append(body)
            if len(batch) == group:
                await self._all(batch)
                batch = []
        if batch:
            await self._all(batch)

    async def _all(self, bodies: list[bytes]) -> None:
        statuses = await asyncio.gather(*(self.post(body) for body in bodies))
        if any(status != 200 for status in statuses):
            raise RuntimeError(f"an in-process webhook was answered {sorted(set(statuses))}")


async def _lifespan_started(app: Any) -> Callable[[], Awaitable[None]]:
    """Run the app's lifespan start-up; returns what shuts it down."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, answers.put))
    started = await asyncio.wait_for(answers.get(), 30)
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")

    async def stop() -> None:
        await queue.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)

    return stop


def _baseline_publisher(tree: Path) -> Any:
    """The publisher class of another checkout (e.g. main's aio-pika one), loaded from its file: it takes
    the same Redis-form messages, so the two are timed over the same events in this one process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "baseline_amqp_publisher", tree / "worker" / "runtime" / "amqp_publisher.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AmqpPublisher


async def _measure_amqp(
    broker_url: str,
    redis_url: str,
    tokens: list[bytes],
    envelopes: list[Any],
    count: int,
    rounds: int,
    baseline_tree: Path | None = None,
) -> list[Stage]:
    """The RabbitMQ stages (see the module's docstring)."""
    import aiormq
    from pamqp import commands as spec

    from worker.runtime.amqp_publisher import QUORUM, AmqpPublisher
    from worker.settings import Settings
    from worker.web.app import create_app

    store = redis.Redis.from_url(redis_url)
    connection = await aiormq.connect(broker_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.queue_declare("events", durable=True, arguments=QUORUM)
    messages = [prepare(envelope)[2] for envelope in envelopes]
    body = b"x" * len(messages[0])

    async def bare(group: int) -> None:
        async def one() -> None:
            await channel.basic_publish(
                body,
                routing_key="events",
                properties=spec.Basic.Properties(delivery_mode=2),
                mandatory=True,
            )

        for _ in range(0, count, group):
            await asyncio.gather(*(one() for _ in range(group)))

    publisher = AmqpPublisher(broker_url, ["events"])

    async def publish(group: int, publisher: Any = publisher) -> None:
        for start in range(0, count, group):
            await publisher.publish(messages[start : start + group])

    async def best(run: Callable[[], Awaitable[None]]) -> Timing:
        measured = _Rounds(count)
        for _ in range(rounds):
            store.flushdb()
            await channel.queue_purge("events")
            with measured:
                await run()
        return measured.best

    bare_one, bare_group = await best(lambda: bare(1)), await best(lambda: bare(GROUP))
    ours_one, ours_group = await best(lambda: publish(1)), await best(lambda: publish(GROUP))
    await publisher.close()
    baseline: list[Stage] = []
    if baseline_tree is not None:
        old = _baseline_publisher(baseline_tree)(broker_url, ["events"])
        old_one = await best(lambda: publish(1, old))
        old_group = await best(lambda: publish(GROUP, old))
        await old.close()
        baseline = [
            Stage("RabbitMQ: the baseline tree's publisher, one event a publish", old_one, False),
            Stage(f"RabbitMQ: the baseline tree's publisher, {GROUP} a publish, per event", old_group, False),
        ]

    app = create_app(Settings(broker_url=broker_url))  # type: ignore[call-arg]
    stop = await _lifespan_started(app)
    whole_one = await best(lambda: _Asgi(app).each(tokens, 1))
    whole_group = await best(lambda: _Asgi(app).each(tokens, GROUP))
    await stop()
    await channel.queue_purge("events")
    await connection.close()
    store.flushdb()
    store.close()
    return [
        Stage("RabbitMQ: bare aiormq confirmed publish, one at a time", bare_one, False),
        Stage("RabbitMQ: the receiver's publisher, one event a publish", ours_one, False),
        Stage(f"RabbitMQ: bare aiormq, {GROUP} in flight, per event", bare_group, False),
        Stage(f"RabbitMQ: the receiver's publisher, {GROUP} a publish, per event", ours_group, False),
        *baseline,
        Stage("RabbitMQ broker: whole request, one at a time", whole_one, False),
        Stage(f"RabbitMQ broker: whole request, {GROUP} at a time", whole_group, False),
    ]


async def _measure(
    redis_url: str, count: int, rounds: int, broker_url: str | None = None, baseline_tree: Path | None = None
) -> list[Stage]:
    private_key = new_private_key()
    public_key = private_key.public_key()
    os.environ |= {"REDIS_URL": redis_url, "WIX_PUBLIC_KEY": public_pem(private_key), "WIX_APP_ID": "bench"}
    store = redis.Redis.from_url(redis_url)
    tokens = _tokens(private_key, count)  # fresh again whenever the database is flushed
    verifier = TokenVerifier(public_key)

    def rsa_only() -> None:
        for token in tokens:
            signing_input, _, signature = token.rpartition(b".")
            public_key.verify(base64url_decode(signature), signing_input, padding.PKCS1v15(), hashes.SHA256())

    def verify() -> None:
        for token in tokens:
            verifier.verify(token)

    rsa_us = _best(rsa_only, count, rounds)
    verify_us = _best(verify, count, rounds)
    claims = [verifier.verify(token) for token in tokens]
    pairs = list(zip(claims, tokens, strict=True))
    envelope_us = _best(lambda: [parse_envelope(c, t) for c, t in pairs] and None, count, rounds)
    envelopes = [parse_envelope(c, t) for c, t in pairs]
    prepare_us = _best(lambda: [prepare(e) for e in envelopes] and None, count, rounds)

    client = redis.asyncio.Redis.from_url(redis_url)
    queue = EventQueue(client, 3600)

    async def enqueue_all(group: int) -> None:
        if group == 1:  # one at a time, awaited in this task (a task each would be timed as the enqueue's)
            for envelope in envelopes:
                if await queue.enqueue(envelope) != "queued":
                    raise RuntimeError("an event was not queued")
            return
        for start in range(0, count, group):
            outcomes = await asyncio.gather(*(queue.enqueue(e) for e in envelopes[start : start + group]))
            if set(outcomes) != {"queued"}:
                raise RuntimeError(f"an event was not queued: {sorted(set(outcomes))}")

    async def best_fresh(run: Callable[[], Awaitable[None]]) -> Timing:
        measured = _Rounds(count)
        for _ in range(rounds):
            store.flushdb()
            with measured:
                await run()
        return measured.best

    # The Lua call: an enqueue without its message building (measured above).
    lua_one = await best_fresh(lambda: enqueue_all(1)) - prepare_us
    lua_group = await best_fresh(lambda: enqueue_all(GROUP)) - prepare_us
    # Its parts, for reference: the same EVALSHA sent bare (no group commit around it), and an LPUSH of
    # the same message (what the bare endpoint's Redis call costs the client); one call at a time.
    prepared = [prepare(e) for e in envelopes]
    await client.execute_command("SCRIPT", "LOAD", queue._source)

    async def evalsha_each() -> None:
        for record_key, instance_key, message, record in prepared:
            await client.execute_command(
                "EVALSHA",
                queue._sha,
                4,
                record_key,
                instance_key,
                keys.QUEUED_EVENTS,
                QUEUE,
                message,
                record,
            )

    async def lpush_each() -> None:
        for _, _, message, _ in prepared:
            await client.lpush(QUEUE, message)

    evalsha_one = await best_fresh(evalsha_each)
    lpush_one = await best_fresh(lpush_each)
    await client.aclose()

    from worker.web.app import create_app  # reads the environment set above

    app = create_app()
    stop = await _lifespan_started(app)
    whole_one = await best_fresh(lambda: _Asgi(app).each(tokens, 1))
    whole_group = await best_fresh(lambda: _Asgi(app).each(tokens, GROUP))
    await stop()

    sys.path.insert(0, str(ROOT / "bench"))
    import bare_app

    bare_stop = await _lifespan_started(bare_app.app)
    bare_one = await best_fresh(lambda: _Asgi(bare_app.app).each(tokens, 1))
    bare_group = await best_fresh(lambda: _Asgi(bare_app.app).each(tokens, GROUP))
    await bare_stop()
    store.flushdb()
    store.close()

    parts = [
        Stage("RS256 signature check (cryptography)", rsa_us, True),
        Stage(
            "rest of verification (PyJWT: base64url, header + claims JSON, exp/iat)", verify_us - rsa_us, True
        ),
        Stage("envelope: data + data.data JSON levels", envelope_us, True),
        Stage("Celery message + journal record", prepare_us, True),
        Stage("Lua enqueue, one event a call (EVALSHA round trip)", lua_one, True),
    ]
    named = sum((stage.micros for stage in parts), Timing(0, 0))
    amqp = (
        await _measure_amqp(broker_url, redis_url, tokens, envelopes, count, rounds, baseline_tree)
        if broker_url
        else []
    )
    return [
        *parts,
        Stage("the rest (ASGI, body, response, metrics, logging context)", whole_one - named, True),
        Stage("whole request, one at a time", whole_one, False),
        Stage("for reference: the enqueue's EVALSHA sent bare, one a call", evalsha_one, False),
        Stage("for reference: an LPUSH of the message, one a call", lpush_one, False),
        Stage(f"Lua enqueue, per event when {GROUP} share a call", lua_group, False),
        Stage(f"whole request, {GROUP} at a time", whole_group, False),
        Stage("bare endpoint (read body, LPUSH), one at a time", bare_one, False),
        Stage(f"bare endpoint, {GROUP} at a time", bare_group, False),
        *amqp,
    ]


def measure(
    redis_url: str,
    count: int = 400,
    rounds: int = ROUNDS,
    broker_url: str | None = None,
    baseline_tree: Path | None = None,
) -> list[Stage]:
    """The stages, measured against the Redis at `redis_url` (its database is flushed); with
    `broker_url` (amqp://) the RabbitMQ stages too, and with `baseline_tree` that checkout's publisher."""
    return asyncio.run(_measure(redis_url, count, rounds, broker_url, baseline_tree))


def print_stages(stages: list[Stage]) -> None:
    whole = next(stage.micros for stage in stages if stage.name == "whole request, one at a time")
    print(
        f"\n{'time of one webhook, stage by stage (in process, no HTTP; µs a webhook)':72}"
        f" | {'CPU':>6} {'share':>5} | {'clock':>6} {'share':>5}"
    )
    print("-" * 102)
    for stage in stages:
        cpu, wall = stage.micros.cpu, stage.micros.wall
        if stage.part_of_request:
            shares = (f"{cpu / whole.cpu:5.0%}", f"{wall / whole.wall:5.0%}")
        else:
            shares = ("", "")
        print(f"{stage.name:72} | {cpu:6.1f} {shares[0]:>5} | {wall:6.1f} {shares[1]:>5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--db", type=int, default=14, help="REDIS_URL's database to flush and use")
    parser.add_argument("--count", type=int, default=400, help="webhooks per round (default 400)")
    parser.add_argument("--broker", default=None, help="amqp://...: also the RabbitMQ stages on this vhost")
    parser.add_argument(
        "--baseline-tree", type=Path, default=None, help="with --broker: also time this checkout's publisher"
    )
    args = parser.parse_args(argv)
    from bench.webhooks import with_db  # only when run alone

    url = with_db(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), args.db)
    print_stages(measure(url, args.count, broker_url=args.broker, baseline_tree=args.baseline_tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
