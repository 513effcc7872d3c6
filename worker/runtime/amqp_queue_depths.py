"""How many messages wait on each Celery queue on RabbitMQ, for `/metrics` (worker/runtime/queue_metrics.py).

A passive `queue.declare` answers a queue's `message_count`: its ready messages, not those a worker holds
unacknowledged, as the Redis broker's list length counts. RabbitMQ's management plugin is not needed (and
is often not enabled). The oldest message's age has no such answer without taking the message, so that
gauge is the Redis broker's only.

One kombu connection (py-amqp, blocking: `/metrics` runs in a thread) is kept between scrapes, bounded by
its connect, read and write timeouts, and opened again after any failure; one scrape at a time uses it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from kombu.connection import Connection

from worker.infra.amqp_tls import amqps_for_celery


class AmqpQueueDepths:
    def __init__(self, url: str, timeout: float = 1.0) -> None:
        self._url = url
        self._timeout = timeout
        self._connection: Any = None  # a kombu Connection (untyped)
        self._lock = threading.Lock()  # scrapes run in the web server's threads; a connection is not shared

    def depths(self, queues: Iterable[str]) -> dict[str, int]:
        """Each queue's ready messages; raises when RabbitMQ does not answer (or a queue does not exist)."""
        with self._lock:
            return self._depths(queues)

    def _depths(self, queues: Iterable[str]) -> dict[str, int]:
        try:
            if self._connection is None:
                url, tls = (
                    amqps_for_celery(self._url) if self._url.startswith("amqps://") else (self._url, False)
                )
                self._connection = Connection(  # type: ignore[no-untyped-call]  # kombu is untyped
                    url,
                    ssl=tls,
                    connect_timeout=self._timeout,
                    transport_options={"read_timeout": self._timeout, "write_timeout": self._timeout},
                )
            with self._connection.channel() as channel:
                return {
                    queue: int(channel.queue_declare(queue=queue, passive=True).message_count)
                    for queue in queues
                }
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing to save
                connection.close()
