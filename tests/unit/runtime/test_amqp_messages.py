"""The receiver's AMQP message as it goes on the wire (pamqp's header frame, encoded and decoded back),
field by field against the message Celery's own `send_task` builds for the same task (kombu's
`prepare_message`, caught before its transport sends it)."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import kombu.transport.memory
import pamqp.frame
import pytest
from kombu import Connection
from pamqp.header import ContentHeader

from worker.runtime.amqp_messages import amqp_form
from worker.runtime.amqp_publisher import properties
from worker.runtime.celery_app import app
from worker.runtime.task_messages import SENT_AT, build_task_message

TASK = "events.process_wix_event"
SENTRYS = ("sentry", "baggage", "headers")
KWARGS = {"event_type": "t", "instance_id": "i", "event_id": "é-1", "data": '{"x": "%s"}', "identity": None}


def celerys(task_id: str) -> dict[str, Any]:
    """The message `send_task` would publish for TASK(**KWARGS) on `events`."""
    sent: list[dict[str, Any]] = []

    def basic_publish(_channel: Any, message: dict[str, Any], *_: Any, **__: Any) -> None:
        sent.append(message)

    with (
        mock.patch.object(kombu.transport.memory.Channel, "basic_publish", basic_publish),
        Connection("memory://") as connection,
    ):
        app.send_task(
            TASK, kwargs=KWARGS, task_id=task_id, connection=connection, queue="events", ignore_result=True
        )
    [message] = sent
    # Sentry's Celery integration (set up by another test in this process) adds its tracing headers: not
    # part of the task message a worker needs.
    for name in [name for name in message["headers"] if name.startswith(SENTRYS)]:
        del message["headers"][name]
    return message


def on_the_wire(text: str) -> tuple[Any, bytes, str]:
    """Our header frame marshalled by pamqp and read back; the body; the routing key."""
    message = amqp_form(text)
    frame = pamqp.frame.marshal(
        ContentHeader(body_size=len(message.body), properties=properties(message, "m-1")), 1
    )
    _, _, header = pamqp.frame.unmarshal(frame)
    assert isinstance(header, ContentHeader)
    return header.properties, message.body, message.routing_key


class TestReceiversMessageIsCelerys:
    def test_headers_properties_and_body_match_send_task(self) -> None:
        """Every header a worker reads (task, id, retries, eta, ...), the properties Celery sets, and the
        body's args, kwargs and embed, as `send_task` has them; the routing key is the queue."""
        task_id, text = build_task_message(TASK, KWARGS, queue="events")
        theirs = celerys(task_id)
        ours, body, routing_key = on_the_wire(text)

        assert routing_key == "events"
        assert sorted(ours.headers) == sorted(theirs["headers"])
        for name, value in theirs["headers"].items():
            if name == "timelimit":  # Celery's configured limits; ours leave them to the worker's config
                continue
            if name == SENT_AT:  # whole seconds: pamqp would send a float as 32 bits (a minute off)
                assert ours.headers[name] == pytest.approx(value, abs=1.5)
                continue
            assert ours.headers[name] == value, name
        assert ours.content_type == theirs["content-type"]
        assert ours.content_encoding == theirs["content-encoding"]
        assert ours.delivery_mode == theirs["properties"]["delivery_mode"] == 2  # persistent
        assert ours.priority == theirs["properties"]["priority"]
        assert ours.correlation_id == theirs["properties"]["correlation_id"] == task_id
        assert json.loads(body) == json.loads(theirs["body"])

    def test_the_message_id_is_the_publishers_own(self) -> None:
        """aiormq matches a returned (unroutable) message to its publish by message_id."""
        _, text = build_task_message(TASK, KWARGS, queue="events")
        assert properties(amqp_form(text), "wrw-1-ab-7").message_id == "wrw-1-ab-7"
