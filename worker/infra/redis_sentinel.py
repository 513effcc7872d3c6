"""A Redis that Sentinel manages, named by one URL that the store, the broker and RedBeat all read.

The form is kombu's (`sentinel://h1:26379;sentinel://h2:26379;...`: every sentinel, `;`-separated), with
the master's name, the database and the Redis password on the first sentinel:

    sentinel://:password@h1:26379/0?master_name=mymaster;sentinel://h2:26379;sentinel://h3:26379

Sentinels that ask for a password of their own (`requirepass` in sentinel.conf) get it from
`sentinel_password=` beside the master's name (percent-encoded, e.g. `%3B` for `;`); it is sent to the
sentinels only, never to the master, and kombu's URL does not carry it (a transport option does).

One string carries everything, so any client factory given the URL alone can resolve the master, and the
receiver can tell that BROKER_URL and STORE_URL are the same Redis by comparing them. kombu itself wants
the master's name as a transport option: `kombu_url` is the URL without it (celeryconfig.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio.sentinel
import redis.sentinel
from redis.credentials import UsernamePasswordCredentialProvider

from worker.settings import SettingsError

SCHEME = "sentinel://"
DEFAULT_PORT = 26379
_MASTER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def is_sentinel_url(url: str | None) -> bool:
    return (url or "").startswith(SCHEME)


@dataclass(frozen=True)
class SentinelAddress:
    """Where the sentinels listen and which master of theirs (and which database of it) is meant."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    username: str | None
    password: str | None = field(repr=False)
    kombu_url: str = field(repr=False)  # as kombu reads it: no query; every sentinel with the database
    sentinel_password: str | None = field(default=None, repr=False)  # the sentinels' own (requirepass)

    def sentinel_kwargs(self, timeout: float) -> dict[str, Any]:
        """How a client talks to the sentinels themselves: its timeouts, and their password if they ask."""
        options: dict[str, Any] = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
        if self.sentinel_password:
            # Not as `password`: redis-py's MasterNotFoundError quotes each sentinel client's connection
            # arguments, which would put the password in a log line or a Sentry event.
            options["credential_provider"] = UsernamePasswordCredentialProvider(
                password=self.sentinel_password
            )
        return options

    def redis_options(self) -> dict[str, Any]:
        """The master's database and credentials, as redis-py's connection arguments."""
        options: dict[str, Any] = {"db": self.db}
        if self.username:
            options["username"] = self.username
        if self.password:
            options["password"] = self.password
        return options


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_sentinel_url(url: str, setting: str = "STORE_URL") -> SentinelAddress:
    """The address a `sentinel://` URL names; a SettingsError naming `setting` (never the password) when
    it is not of the documented form."""
    parts = [part.strip() for part in url.split(";") if part.strip()]
    sentinels: list[tuple[str, int]] = []
    for index, part in enumerate(parts):
        if not part.startswith(SCHEME):
            raise SettingsError(f"{setting}: every sentinel is written sentinel://host:port, `;`-separated")
        pieces = urlsplit(part)
        try:
            port = pieces.port or DEFAULT_PORT
        except ValueError:
            raise SettingsError(f"{setting}: sentinel {index + 1} has no valid port") from None
        if not pieces.hostname:
            raise SettingsError(f"{setting}: sentinel {index + 1} has no host")
        if index > 0 and (pieces.query or pieces.path.strip("/") or pieces.password or pieces.username):
            raise SettingsError(
                f"{setting}: the master's name, the database and the password go on the first sentinel only"
            )
        sentinels.append((pieces.hostname, port))
    first = urlsplit(parts[0]) if parts else None
    if first is None:
        raise SettingsError(f"{setting}: no sentinel in the URL")
    names = parse_qs(first.query).get("master_name", [])
    if len(names) != 1 or not _MASTER_NAME.fullmatch(names[0]):
        raise SettingsError(
            f"{setting}: name the master Sentinel watches with ?master_name=NAME on the first sentinel "
            "(letters, digits, `_.-`), e.g. sentinel://h1:26379/0?master_name=mymaster;sentinel://h2:26379"
        )
    query = parse_qs(first.query, keep_blank_values=True)
    unknown = set(query) - {"master_name", "sentinel_password"}
    if unknown:
        raise SettingsError(f"{setting}: unknown parameter(s) {', '.join(sorted(unknown))}")
    sentinel_passwords = query.get("sentinel_password", [])
    if sentinel_passwords and (len(sentinel_passwords) != 1 or not sentinel_passwords[0]):
        raise SettingsError(f"{setting}: sentinel_password= is given once, not empty")
    path = first.path.strip("/")
    if not (path == "" or path.isdigit()):
        raise SettingsError(f"{setting}: the database after the first sentinel is a number (/0)")
    # kombu moves to the next sentinel's URL when one fails and then reads the database and credentials
    # from that URL alone: each carries them.
    userinfo = first.netloc.rsplit("@", 1)[0] + "@" if "@" in first.netloc else ""
    db = int(path or 0)
    kombu_url = ";".join(f"{SCHEME}{userinfo}{_netloc(host, port)}/{db}" for host, port in sentinels)
    return SentinelAddress(
        sentinels=tuple(sentinels),
        master=names[0],
        db=db,
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        kombu_url=kombu_url,
        sentinel_password=sentinel_passwords[0] if sentinel_passwords else None,
    )


# After a failover the old master keeps running for a while (Sentinel demotes it some seconds later) and
# would acknowledge the writes of clients still connected to it, writes its demotion then throws away. So a
# connection asks the sentinels, at most once a second, whether its server is still the master, and moves
# before sending when it is not; and a master that refuses writes because it lost its replicas
# (`min-replicas-to-write`, README "Redis Sentinel") is left like a lost connection.
MASTER_CHECK_SECONDS = 1.0
_NO_LONGER_WRITABLE = ("NOREPLICAS", "UNBLOCKED")  # UNBLOCKED: a blocked BRPOP as its server was demoted


def _stale_master(pool: Any, error: redis.ResponseError) -> bool:
    return bool(getattr(pool, "is_master", False)) and str(error).startswith(_NO_LONGER_WRITABLE)


def _same_server(host: str, port: int, address: Any) -> bool:
    return bool(address) and (str(address[0]), int(address[1])) == (str(host), int(port))


class FollowingMasterConnection(redis.sentinel.SentinelManagedConnection):
    """redis-py's Sentinel connection (it asks the sentinels again when its server answers READONLY), which
    also leaves a server the sentinels no longer name (checked before sending, at most once a second) and
    one that answers NOREPLICAS: that call fails like a lost connection, which every caller already
    handles (a 503, a task retried, kombu reconnecting); the next goes to the master the sentinels name."""

    _checked_at = 0.0

    def connect_to(self, address: Any) -> None:
        super().connect_to(address)  # type: ignore[no-untyped-call]
        self._checked_at = time.monotonic()

    def _master_moved(self) -> bool:
        if self._sock is None or not self.connection_pool.is_master:
            return False
        if time.monotonic() - self._checked_at < MASTER_CHECK_SECONDS:
            return False
        self._checked_at = time.monotonic()
        try:
            address = self.connection_pool.get_master_address()
        except redis.RedisError:  # the sentinels unreachable: nothing says the master moved
            return False
        return not _same_server(self.host, self.port, address)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self._master_moved():
            self.disconnect()  # type: ignore[no-untyped-call]
            self.connect()  # type: ignore[no-untyped-call]  # through the sentinels, not the same server
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.ResponseError as exc:
            if not _stale_master(self.connection_pool, exc):
                raise
            self.disconnect()  # type: ignore[no-untyped-call]
            raise redis.ConnectionError("the master refuses writes (NOREPLICAS); asking Sentinel") from exc


class AsyncFollowingMasterConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """`FollowingMasterConnection` for the receiver's asyncio client."""

    _checked_at = 0.0

    async def connect_to(self, address: Any) -> None:
        await super().connect_to(address)  # type: ignore[no-untyped-call]
        self._checked_at = time.monotonic()

    async def _master_moved(self) -> bool:
        if not self.is_connected or not self.connection_pool.is_master:
            return False
        if time.monotonic() - self._checked_at < MASTER_CHECK_SECONDS:
            return False
        self._checked_at = time.monotonic()
        try:
            address = await self.connection_pool.get_master_address()
        except redis.RedisError:
            return False
        return not _same_server(self.host, self.port, address)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if await self._master_moved():
            await self.disconnect()
            await self.connect()  # type: ignore[no-untyped-call]
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except redis.ResponseError as exc:
            if not _stale_master(self.connection_pool, exc):
                raise
            await self.disconnect()
            raise redis.ConnectionError("the master refuses writes (NOREPLICAS); asking Sentinel") from exc
