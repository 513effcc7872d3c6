"""The AMQP form of a task message the receiver built in kombu's Redis form (worker.runtime.task_messages).

The journal keeps each event's message in the Redis form whatever the broker, so the lost-events sweep
and the receiver send the same bytes either way. On RabbitMQ the Redis form's envelope becomes the AMQP
frame itself: the base64 body the message body, `headers` the AMQP headers (Celery's protocol 2 reads
the task's name, id and retries there), and the properties Celery's own amqp publisher sets.
`properties.delivery_info`, `delivery_tag` and `body_encoding` are the Redis transport's bookkeeping:
RabbitMQ has its own.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class AmqpMessage:
    body: bytes
    headers: dict[str, Any]
    content_type: str
    content_encoding: str
    correlation_id: str
    priority: int
    routing_key: str


def amqp_form(message_text: str) -> AmqpMessage:
    """The AMQP body, headers and properties of a Redis-form task message."""
    message = orjson.loads(message_text)
    properties = message["properties"]
    return AmqpMessage(
        body=binascii.a2b_base64(message["body"]),
        headers=message["headers"],
        content_type=message["content-type"],
        content_encoding=message["content-encoding"],
        correlation_id=properties["correlation_id"],
        priority=properties.get("priority") or 0,
        routing_key=properties["delivery_info"]["routing_key"],
    )
