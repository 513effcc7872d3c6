"""The receiver's RabbitMQ publisher: one persistent channel, publisher confirms, a batch in one write.

aiormq (the asyncio AMQP client under aio-pika) because the receiver is asyncio: on a confirming channel
each publish has a future that RabbitMQ's `basic.ack` resolves (the message is on its queue, written to the
quorum's majority), `basic.nack` fails and `basic.return` (nothing would route it: `mandatory`) fails too.
kombu's and py-amqp's publishers block their thread for each confirm; Celery's `apply_async` per request
measured ~800 req/s here with p99 100-240 ms.

A batch (the receiver's group commit, worker/web/event_queue.py) goes to the socket as one write: every
message's publish, header and body frames marshalled into one buffer, its delivery tags taken in order
under the channel's lock, exactly as aiormq's own `basic_publish` takes them one at a time. aiormq's
`basic_publish` writes and drains each message on its own (a syscall and an event-loop turn per message,
most of the receiver's cost per event on RabbitMQ); aio-pika adds its message objects on top. The
confirms, returns and a closing channel's rejection of what is in flight stay aiormq's own bookkeeping.

The queues are declared as Celery declares them (durable, quorum), so a receiver started before any
worker still has somewhere to put events. A channel or connection that broke (or a publish that failed
or was given up on) is opened again by the next publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast

import aiormq
import aiormq.abc
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from worker.runtime.amqp_messages import AmqpMessage, amqp_form
from worker.runtime.task_messages import SENT_AT

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
PERSISTENT = 2


def properties(message: AmqpMessage, message_id: str) -> spec.Basic.Properties:
    """The AMQP properties Celery's own publisher sets (a test compares them with `send_task`'s), and a
    `message_id` of the publisher's own, by which aiormq matches a returned message to its publish.

    pamqp encodes a float in a header table as a 32-bit float (py-amqp, Celery's client, as a double):
    an epoch time would be off by up to a minute, so `wrw_sent_at` goes as whole seconds (an integer)."""
    headers = message.headers
    stamp = headers.get(SENT_AT)
    if isinstance(stamp, float):
        headers = {**headers, SENT_AT: int(stamp)}
    return spec.Basic.Properties(
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=headers,
        delivery_mode=PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        message_id=message_id,
    )


class BrokerUnavailable(ConnectionError):
    """RabbitMQ did not take a batch (unreachable, nack, return, a connection lost before the confirms)."""


def _forget(message_ids: dict[str, int], message_id: str, _: asyncio.Future[Any]) -> None:
    """Once confirmed (or failed), a publish can no longer come back as a return: drop its id."""
    message_ids.pop(message_id, None)


class AmqpPublisher:
    def __init__(self, url: str, queues: Iterable[str], connect_timeout: float = 0.5) -> None:
        self._url = url
        self._queues = tuple(queues)
        self._connect_timeout = connect_timeout
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._channel: aiormq.Channel | None = None
        self._probe: aiormq.abc.AbstractChannel | None = None  # readiness's round trips, off the publish lock
        self._opening = asyncio.Lock()
        self._id_prefix = f"wrw-{os.getpid()}-{os.urandom(4).hex()}-"

    async def _open(self) -> aiormq.Channel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._opening:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            await self.close()
            async with asyncio.timeout(self._connect_timeout):
                connection = await aiormq.connect(self._url)
            try:
                async with asyncio.timeout(self._connect_timeout):
                    channel = cast(aiormq.Channel, await connection.channel(publisher_confirms=True))
                    for name in self._queues:
                        await channel.queue_declare(name, durable=True, arguments=QUORUM)
                    probe = await connection.channel(publisher_confirms=False)
            except BaseException:
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            self._connection, self._channel, self._probe = connection, channel, probe
            return channel

    async def connect(self) -> None:
        """Open the channel now (start-up) rather than on the first webhook; a broker not there yet is
        tried again by the first publish."""
        with contextlib.suppress(Exception):
            await self._open()

    async def check(self) -> None:
        """Readiness: the channel is open (or opens within the connect timeout) and RabbitMQ answers a
        passive declare of the first queue on the connection's second channel (so a broker that went
        quiet is caught, and the publish channel's lock is not held by the round trip). Raises otherwise,
        and then the next publish starts on a fresh connection. The caller bounds the wait."""
        try:
            await self._open()
            assert self._probe is not None
            for name in self._queues[:1]:
                await self._probe.queue_declare(name, passive=True)
        except BaseException:
            await self.close()
            raise

    async def publish(self, messages: Iterable[str], written: Callable[[], None] | None = None) -> None:
        """Publish Redis-form task messages; returns once RabbitMQ confirmed every one, raises otherwise:
        `BrokerUnavailable` (a ConnectionError, the receiver's 503) for a nack, a return or a broken
        connection, from aiormq's own error. `written` is called once the batch's frames are queued for
        the socket, before the confirms are awaited: the receiver's next batch is journaled and written
        while this one waits for RabbitMQ (whose confirms wait for the quorum's disk writes)."""
        channel = await self._open_or_fail()
        try:
            confirmations = await self._write(channel, [amqp_form(text) for text in messages])
            if written is not None:
                written()
            await asyncio.gather(*confirmations)
        except BaseException as exc:
            # A nack, a return, a broken channel or a caller that gave up: start on a fresh channel.
            await self.close()
            if isinstance(exc, Exception):
                raise BrokerUnavailable(f"RabbitMQ did not confirm: {exc!r}") from exc
            raise

    async def _open_or_fail(self) -> aiormq.Channel:
        try:
            return await self._open()
        except Exception as exc:  # refused, a handshake error, the connect bound (TimeoutError)
            raise BrokerUnavailable(f"RabbitMQ could not be reached: {exc!r}") from exc

    async def _write(self, channel: aiormq.Channel, messages: list[AmqpMessage]) -> list[asyncio.Future[Any]]:
        """Marshal every message's frames into one buffer and queue it for aiormq's writer; the futures
        that RabbitMQ's confirms resolve. Under `channel.lock`, as aiormq's own `basic_publish`, so the
        delivery tags reach the socket in the order they were taken. Any failure here leaves tags taken
        and never sent: `publish` then closes the connection, which rejects every pending confirm."""
        frames: list[Any] = []
        confirmations: list[asyncio.Future[Any]] = []
        size = channel.max_content_size
        async with channel.lock:
            for message in messages:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                message_id = f"{self._id_prefix}{tag}"
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                channel.message_id_delivery_tag[message_id] = tag
                confirmation.add_done_callback(partial(_forget, channel.message_id_delivery_tag, message_id))
                confirmations.append(confirmation)
                body = message.body
                frames += (
                    spec.Basic.Publish(exchange="", routing_key=message.routing_key, mandatory=True),
                    ContentHeader(body_size=len(body), properties=properties(message, message_id)),
                )
                frames += (ContentBody(body[at : at + size]) for at in range(0, len(body), size))
            await channel.write_queue.put(ChannelFrame.marshall(channel_number=channel.number, frames=frames))
        return confirmations

    async def close(self) -> None:
        connection, self._connection, self._channel, self._probe = self._connection, None, None, None
        if connection is not None and not connection.is_closed:
            # Closing a broken connection: nothing to save, and a broker gone quiet never answers the
            # close, so it is bounded too (the receiver's next batch must not wait behind it).
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._connect_timeout):
                    await connection.close()
