"""The one place that makes Redis clients, so every client has bounded timeouts and tests can swap them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import NoBackoff
from redis.cluster import ClusterPipeline, RedisCluster
from redis.commands.cluster import READ_COMMANDS
from redis.retry import Retry

from worker.infra.amqp_tls import amqps_for_celery
from worker.infra.redis_health import describe_broker_problems, is_cluster_node
from worker.infra.redis_sentinel import (
    AsyncFollowingMasterConnection,
    FollowingMasterConnection,
    is_sentinel_url,
    parse_sentinel_url,
)
from worker.settings import Settings, SettingsError

# The receiver must answer 503 within a second when Redis is gone, so its calls fail fast.
FAST_TIMEOUT = 0.5
# The web app's other routes (admin, records, widget) do a few round trips: each gets a second, one try.
WEB_TIMEOUT = 1.0


def require_redis_url(settings: Settings) -> str:
    """The store's URL (STORE_URL, else REDIS_URL): every client of the store and the journal uses it.
    A Redis Cluster store with the broker on the same URL is refused (`check_store_cluster`)."""
    if not settings.store_address:
        raise SettingsError(
            "REDIS_URL is not set: `make run` starts an embedded Redis; elsewhere point REDIS_URL at a server"
        )
    check_store_cluster(settings)
    check_sentinel_settings(settings)
    if (settings.broker_address or "").startswith("amqps://"):
        amqps_for_celery(settings.broker_address or "")  # its TLS parameters, one line if unknown
    return settings.store_address


def check_store_cluster(settings: Settings) -> None:
    """kombu has no Redis Cluster transport: with `STORE_CLUSTER=true` the broker must be another Redis or
    RabbitMQ (README "The store on Redis Cluster")."""
    if settings.store_cluster and settings.broker_address == settings.store_address:
        raise SettingsError(
            "STORE_CLUSTER=true but the broker is the store's Redis Cluster: Celery's broker cannot be a "
            "Redis Cluster; set BROKER_URL to a single Redis (redis://) or RabbitMQ (amqp://), and STORE_URL "
            "to a node of the cluster"
        )


def check_broker_server(settings: Settings) -> list[str]:
    """A Redis broker of its own (BROKER_URL naming another Redis than the store's) holds the tasks of
    queued events until they ran: it is checked at start as the store is, and what puts them at risk is
    returned as sentences to log. A node of a Redis Cluster (the store's or any other) is refused: kombu has
    no cluster transport, and every push to a key of another node's slots would fail. RabbitMQ's quorum
    queues are durable by their kind; a broker that does not answer is named, not refused."""
    broker = settings.broker_address
    if not broker or broker == settings.store_address or settings.broker_is_amqp:
        return []
    client = sync_client(broker, timeout=2.0, retries=False)
    try:
        if is_cluster_node(client):
            raise SettingsError(
                "BROKER_URL names a node of a Redis Cluster: Celery's broker cannot be a Redis Cluster; set "
                "BROKER_URL to a single Redis (redis://), a Sentinel set (sentinel://) or RabbitMQ (amqp://)"
            )
        return describe_broker_problems(client)
    finally:
        client.close()


def sync_client(url: str, *, timeout: float = 5.0, retries: bool = True) -> redis.Redis:
    """A client for the worker, the CLI and the web app (answers are strings). Without `retries`, a
    failed call fails at once (redis-py otherwise tries three more times, seconds apart): the web app
    answers 503 and its client tries again."""
    if is_sentinel_url(url):
        return sentinel_sync_client(url, timeout=timeout, retries=retries)
    options = {} if retries else {"retry": Retry(NoBackoff(), 0)}
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        **options,
    )


def async_client(url: str) -> redis.asyncio.Redis:
    """A client for the receiver's request path: one try, then the caller answers 503.

    No `socket_timeout`: redis-py enforces it with `asyncio.wait_for` on every read and write (a new task
    each time on Python 3.11); the receiver bounds each whole call with one `asyncio.timeout` instead.
    """
    if is_sentinel_url(url):
        return sentinel_async_client(url)
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=FAST_TIMEOUT,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
    )
    return client


def async_cluster_client(url: str) -> redis.asyncio.cluster.RedisCluster:
    """The receiver's client of a Redis Cluster store, with `async_client`'s policy: one try (no retry on a
    connection error, no backoff), and the caller bounds each whole call with its own timeout. A MOVED or
    ASK answer (a slot moving between nodes) is still followed: that is routing, not a retry."""
    client: redis.asyncio.cluster.RedisCluster = redis.asyncio.cluster.RedisCluster.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=FAST_TIMEOUT,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
    )
    return client


def store_async_client(settings: Settings) -> redis.asyncio.Redis:
    """The receiver's client of the store as the settings say: one Redis (`async_client`) or, with
    `STORE_CLUSTER=true`, a Redis Cluster through any of its nodes (`async_cluster_client`). Typed as
    `redis.asyncio.Redis`: what the receiver calls on it exists on both (worker.web.event_queue and
    `/readyz` tell them apart where they must)."""
    url = require_redis_url(settings)
    if settings.store_cluster:
        return async_cluster_client(url)  # type: ignore[return-value]
    return async_client(url)


class StorePipeline(ClusterPipeline):
    """A cluster pipeline that can run writes once its MULTI committed (`after_commit`): an instance's
    analytics counts, which live in the instance's slot, after a member's step (worker/store/stats.py)."""

    def __init__(self, client: RedisCluster, **options: Any) -> None:
        super().__init__(**options)
        self._client = client
        self._after_commit: list[Callable[[RedisCluster], object]] = []

    def after_commit(self, write: Callable[[RedisCluster], object]) -> None:
        self._after_commit.append(write)

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:  # type: ignore[override]
        """A Lua call in the pipeline, routed by its keys like any command (redis-py's cluster pipeline
        refuses EVAL outright); in a MULTI its keys must share the MULTI's slot, as every command's must."""
        return self.execute_command("EVAL", script, numkeys, *keys_and_args)  # type: ignore[no-untyped-call]

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        writes, self._after_commit = self._after_commit, []
        answers: list[Any] = super().execute(raise_on_error)
        for write in writes:
            write(self._client)
        return answers

    def reset(self) -> None:
        super().reset()  # type: ignore[no-untyped-call]
        self._after_commit = []


class StoreCluster(RedisCluster):
    """redis-py's cluster client, with `pipeline()` a MULTI/EXEC by default as on a single Redis: code that
    means one atomic step gets one (and redis-py refuses it when its keys span hash slots), instead of
    the cluster client's default of a plain, non-atomic batch."""

    def pipeline(self, transaction: bool | None = True, shard_hint: object = None) -> StorePipeline:
        if shard_hint:
            raise redis.RedisError("shard_hint is not supported in cluster mode")
        return StorePipeline(
            self,
            nodes_manager=self.nodes_manager,
            commands_parser=self.commands_parser,
            startup_nodes=self.nodes_manager.startup_nodes,
            result_callbacks=self.result_callbacks,
            cluster_response_callbacks=self.cluster_response_callbacks,
            read_from_replicas=self.read_from_replicas,
            load_balancing_strategy=self.load_balancing_strategy,
            reinitialize_steps=self.reinitialize_steps,
            retry=self.retry,
            lock=self._lock,
            transaction=transaction,
        )

    def _execute_pipeline_by_slot(
        self, command: str, slots_to_args: Mapping[int, Iterable[Any]]
    ) -> list[Any]:
        """redis-py's multi-key commands (a DEL of keys in many slots) sent slot by slot on a plain pipeline:
        redis-py asks `pipeline()` for it, which is a MULTI here."""
        replicas = self.read_from_replicas and command in READ_COMMANDS
        pipe = self.pipeline(transaction=False)
        for slot, slot_args in slots_to_args.items():
            node = self.nodes_manager.get_node_from_slot(slot, replicas)
            pipe.execute_command(command, *slot_args, target_nodes=[node])  # type: ignore[no-untyped-call]
        return pipe.execute()


def cluster_client(url: str, *, timeout: float = 5.0) -> StoreCluster:
    """A cluster client from the URL of any one node (it learns the others); answers are strings."""
    return StoreCluster.from_url(  # type: ignore[no-any-return, no-untyped-call]
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )


def store_client(settings: Settings, *, timeout: float = 5.0, retries: bool = True) -> redis.Redis:
    """The store's client as the settings say: one Redis, or (`STORE_CLUSTER=true`) a Redis Cluster through
    any of its nodes. Typed as `redis.Redis`: the store calls only the commands both share."""
    url = require_redis_url(settings)
    if settings.store_cluster:
        return cluster_client(url, timeout=timeout)  # type: ignore[return-value]
    return sync_client(url, timeout=timeout, retries=retries)


def check_sentinel_settings(settings: Settings) -> None:
    """A `sentinel://` store or broker URL of the documented form (worker/infra/redis_sentinel.py), and
    not a store that is both a Sentinel set and a Cluster: else a SettingsError, one line, at start-up."""
    for setting, url in (("STORE_URL", settings.store_address), ("BROKER_URL", settings.broker_address)):
        if is_sentinel_url(url):
            parse_sentinel_url(url or "", setting if url != settings.redis_url else "REDIS_URL")
    if settings.store_cluster and is_sentinel_url(settings.store_address):
        raise SettingsError("STORE_CLUSTER=true and a sentinel:// store URL: a store is one or the other")


def sentinel_sync_client(url: str, *, timeout: float = 5.0, retries: bool = True) -> redis.Redis:
    """`sync_client` for a Redis that Sentinel manages: each new connection asks the sentinels which server
    is the master, and a connection to a server that is no longer the master (READONLY) fails like a lost
    one, so the next call finds the new master. Same timeouts and retry policy as `sync_client`."""
    address = parse_sentinel_url(url)
    options = {} if retries else {"retry": Retry(NoBackoff(), 0)}
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels),
        sentinel_kwargs=address.sentinel_kwargs(timeout),
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        address.master,
        connection_class=FollowingMasterConnection,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        **address.redis_options(),
        **options,
    )
    return client


# How long the receiver's journal write waits for a replica to confirm it (WAIT), within its 0.5 s call.
REPLICA_WAIT_MS = 200


class ReplicatedScripts(redis.asyncio.Redis):
    """The receiver's client on a Sentinel set: each Lua call (the journal-and-queue step) is followed, on the
    same connection in the same round trip, by `WAIT 1`, and fails unless a replica has the write. So a 200
    means two servers hold the event: a master SIGKILLed right after its answer loses nothing that was
    acknowledged, and a master cut off from its replicas (the old one, after a switch-over) acknowledges
    nothing. A write the master kept but no replica confirmed is answered 503; Wix's redelivery is then a
    duplicate, or journaled again on the new master."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() not in ("EVAL", "EVALSHA"):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        async with self.pipeline(transaction=False) as pipe:
            pipe.execute_command(*args, **options)
            pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
            answer, replicas = await pipe.execute()
        if int(replicas) < 1:
            raise redis.ConnectionError("no replica confirmed the write in time")
        return answer


def sentinel_async_client(url: str) -> redis.asyncio.Redis:
    """`async_client` for a Redis that Sentinel manages: one try (a failover in progress is a 503), the
    sentinels asked with the receiver's fast timeout, each Lua call confirmed by a replica."""
    address = parse_sentinel_url(url)
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels),
        sentinel_kwargs=address.sentinel_kwargs(FAST_TIMEOUT),
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        address.master,
        redis_class=ReplicatedScripts,
        connection_class=AsyncFollowingMasterConnection,
        decode_responses=True,
        socket_connect_timeout=FAST_TIMEOUT,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
        **address.redis_options(),
    )
    return client
