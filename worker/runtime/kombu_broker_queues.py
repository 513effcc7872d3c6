"""The lost-events sweep's view of a RabbitMQ broker, through the Celery app's own kombu connection."""

from __future__ import annotations

from typing import Any

from worker.runtime.amqp_messages import amqp_form


class KombuBrokerQueues:
    """`backlog` is the queue's count of ready messages (a passive declare); what a worker holds is
    RabbitMQ's to give back, so `held` is empty; `send` publishes with the broker's confirm."""

    def __init__(self, connection: Any) -> None:  # a kombu Connection (untyped)
        self.connection = connection

    def backlog(self, queue: str) -> int:
        with self.connection.channel() as channel:
            declared: Any = channel.queue_declare(queue=queue, passive=True)
            return int(declared.message_count)

    def held(self) -> str:
        return ""

    def send(self, queue: str, message: str) -> None:
        parts = amqp_form(message)
        with self.connection.Producer() as producer:
            producer.publish(
                parts.body,
                routing_key=queue,
                exchange="",
                headers=parts.headers,
                content_type=parts.content_type,
                content_encoding=parts.content_encoding,
                correlation_id=parts.correlation_id,
                priority=parts.priority,
                delivery_mode=2,
                retry=True,
            )
