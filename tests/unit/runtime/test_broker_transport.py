"""The broker channel puts back a message it took off a queue when Redis went away before kombu could
record it as unacknowledged (kombu #305): the message is next on its queue, not lost."""

from __future__ import annotations

import json
import threading
import time
from unittest import mock

import fakeredis
import pytest
import redis

from worker.runtime.broker_transport import Channel, Transport, put_back


class TestPutBack:
    def test_it_waits_for_redis_and_puts_the_message_at_the_head(self) -> None:
        """Redis away for a moment: the message goes back once it answers, to the end BRPOP reads."""
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server, decode_responses=True)
        client.lpush("events", "older")
        server.connected = False

        def back_in_half_a_second() -> None:
            time.sleep(0.5)  # not threading.Timer: its timed wait never ends under faketime
            server.connected = True

        threading.Thread(target=back_in_half_a_second, daemon=True).start()
        assert put_back(client, "events", "taken", seconds=5)
        assert client.rpop("events") == "taken"
        assert client.rpop("events") == "older"

    def test_it_gives_up_after_its_time(self) -> None:
        """Redis never back: False, after `seconds`."""
        server = fakeredis.FakeServer()
        server.connected = False
        assert not put_back(fakeredis.FakeRedis(server=server), "events", "taken", seconds=0.3)


class TestChannel:
    def _channel(self, deliver: mock.Mock) -> tuple[Channel, mock.Mock]:
        channel = object.__new__(Channel)
        client = mock.Mock()
        client.parse_response.return_value = (b"events", json.dumps({"body": "x"}).encode())
        channel.client = client  # type: ignore[misc]
        channel.connection = mock.Mock(_deliver=deliver)
        channel.connection_errors = (redis.ConnectionError,)
        channel.sep = "\x06\x16"
        channel._queue_cycle = mock.Mock()
        return channel, client

    def test_a_message_redis_lost_sight_of_is_put_back(self) -> None:
        """Delivery fails on a connection error (the unacked write): RPUSH of the very bytes, error raised."""
        channel, client = self._channel(mock.Mock(side_effect=redis.ConnectionError("gone")))
        with pytest.raises(redis.ConnectionError):
            channel._brpop_read()
        client.rpush.assert_called_once_with("events", json.dumps({"body": "x"}).encode())

    def test_a_delivered_message_is_not_touched(self) -> None:
        """Delivered: nothing pushed back."""
        deliver = mock.Mock()
        channel, client = self._channel(deliver)
        assert channel._brpop_read() is True
        deliver.assert_called_once_with({"body": "x"}, "events")
        client.rpush.assert_not_called()

    def test_celery_uses_it_for_a_redis_broker(self) -> None:
        """The Celery app's broker connections are made with this transport."""
        from worker.runtime.celery_app import app

        with app.connection_for_read() as connection:
            assert connection.transport_cls == "worker.runtime.broker_transport:Transport"
            assert type(connection.transport) is Transport
