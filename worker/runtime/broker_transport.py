"""kombu's Redis transport, with a message it took off a queue put back when it could not record it.

kombu takes a message with BRPOP and then, in a second call, records it in `unacked` (from where the
visibility timeout brings it back if the worker dies). When Redis goes away between the two calls (a
restart, a failover, a dropped connection), the message is in neither place, and it is lost: kombu
#305, celery #4354; `make chaos` loses one task in a few runs, restarting Redis once. This channel puts
such a message back at the head of its queue as soon as Redis answers again; if the recording had in
fact succeeded, the task may run twice, which the service's idempotent tasks absorb.

(A worker SIGKILLed in that gap still loses the message; for webhook events the journal has it, see
worker.runtime.lost_events.) Celery uses this transport for `redis://` brokers
(celeryconfig.broker_transport).
"""

from __future__ import annotations

import logging
import time
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from worker.infra.redis_sentinel import FollowingMasterConnection

logger = logging.getLogger(__name__)

PUT_BACK_SECONDS = 60.0  # how long to keep trying while Redis is away


def put_back(
    client: redis.Redis, queue_key: str, item: bytes | str, seconds: float = PUT_BACK_SECONDS
) -> bool:
    """RPUSH the raw message back on the queue's list (BRPOP takes from the right: it is next), trying
    until Redis answers or `seconds` pass; True when it is back."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.rpush(queue_key, item)
            return True
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            queue_key, item = dest__item
            dest = bytes_to_str(queue_key).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                self.connection._deliver(loads(bytes_to_str(item)), dest)
            except self.connection_errors:
                # Taken off the queue, maybe not recorded as unacknowledged: put it back.
                back = put_back(self.client, bytes_to_str(queue_key), item)
                logger.warning(
                    "Redis went away while a message was being taken: %s",
                    "put back on its queue" if back else "COULD NOT PUT IT BACK (lost)",
                    extra={"queue": dest},
                )
                raise
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # kombu's own reset, as in its code
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """The channel above on a Redis that Sentinel manages (a failover is exactly when Redis goes away
    between the two calls): kombu's Sentinel discovery, this module's put-back, and a connection that
    leaves a master that lost its replicas (worker/infra/redis_sentinel.py) instead of failing on it."""

    connection_class = FollowingMasterConnection


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
