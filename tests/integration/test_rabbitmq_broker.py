"""The pipeline on RabbitMQ (BROKER_URL=amqp://, quorum queues; the store and journal stay in Redis):
signed webhooks over HTTP, the receiver's confirmed publishes, a real Celery worker; and a receiver that
dies between its journal write and its publish loses no event and doubles none."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from kombu import Connection, Queue

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from tests.integration.conftest import (
    ADMIN,
    CHAOS_CLIENT_SOCKETS,
    Process,
    service_env,
    service_stack,
    start_web,
    wait_for,
)
from tests.integration.rabbitmq import kill_a_receiver_awaiting_its_confirm, rabbitmq_vhost
from worker import keys
from worker.dev.chaos import Options, run
from worker.infra.redis_client import sync_client
from worker.runtime.amqp_publisher import QUORUM, AmqpPublisher
from worker.runtime.celery_app import app
from worker.runtime.kombu_broker_queues import KombuBrokerQueues
from worker.runtime.lost_events import requeue_lost_events
from worker.runtime.task_messages import build_task_message
from worker.wix.webhook_signing import sign_webhook

EVENT_TYPE = "wix.ecom.v1.order_payment_status_updated"


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with rabbitmq_vhost() as url:
        yield url


def _token(private_key, event_id: str) -> str:  # type: ignore[no-untyped-def]
    payload = wix_samples.payment_status_updated(event_id=event_id)
    return sign_webhook(private_key, EVENT_TYPE, INSTANCE_ID, payload)


def _post(base_url: str, token: str, timeout: float = 5) -> httpx.Response:
    return httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=timeout)


def _status(base_url: str, event_id: str) -> str | None:
    answer = httpx.get(
        f"{base_url}/admin/v1/instances/{INSTANCE_ID}/events/{event_id}", headers=ADMIN, timeout=5
    )
    return answer.json().get("status") if answer.status_code == 200 else None


def _runs(worker: Process, task_id: str) -> int:
    """How many times the worker ran the task to its end."""
    return sum(1 for line in list(worker.output) if task_id in line and "succeeded" in line)


def _queue_types(broker_url: str) -> dict[str, str]:
    vhost = broker_url.rsplit("/", 1)[1]
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", vhost, "name", "type", "--quiet", "--no-table-headers"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return dict(line.split() for line in listed.splitlines() if line.strip())


class TestPipelineOnRabbitMQ:
    def test_each_webhook_is_processed_once_and_a_redelivery_is_a_duplicate(
        self, module_redis_url, public_key_pem, private_key, broker_url
    ) -> None:
        """20 distinct webhooks and a redelivery of 5 of them: all processed, each task run once, the
        redeliveries answered `duplicate`; the queues are quorum queues."""
        store = sync_client(module_redis_url)
        env = service_env(module_redis_url, public_key_pem, BROKER_URL=broker_url)
        with service_stack(env) as stack:
            events = [str(uuid.uuid4()) for _ in range(20)]
            for event_id in events:
                assert _post(stack.base_url, _token(private_key, event_id)).json() == {"status": "queued"}
            for event_id in events:
                wait_for(lambda e=event_id: _status(stack.base_url, e) == "processed", 30, "processing")
            for event_id in events[:5]:
                assert _post(stack.base_url, _token(private_key, event_id)).json() == {"status": "duplicate"}
            time.sleep(1)  # a wrongly sent redelivery would run meanwhile
            [worker] = stack.workers
            for event_id in events:
                task_id = store.hget(keys.event_record(INSTANCE_ID, event_id), "taskId")
                assert _runs(worker, str(task_id)) == 1, event_id
        assert _queue_types(broker_url)["events"] == "quorum"


class TestReceiverDiesBetweenJournalAndPublish:
    def test_the_event_is_sent_again_by_the_sweep_and_runs_once(
        self, module_redis_url, public_key_pem, private_key, broker_url
    ) -> None:
        """The receiver reaches RabbitMQ through a proxy that goes quiet; it journals the event, its
        publish waits for a confirm, and it is SIGKILLed there. The event is `queued` and on no queue;
        the lost-events sweep sends it, a worker runs it once; Wix's redelivery is then a duplicate."""
        store = sync_client(module_redis_url)
        store.flushdb()
        event_id = str(uuid.uuid4())
        record_key = keys.event_record(INSTANCE_ID, event_id)
        kill_a_receiver_awaiting_its_confirm(
            broker_url,
            lambda proxied: start_web(service_env(module_redis_url, public_key_pem, BROKER_URL=proxied)),
            _token(private_key, event_id),
            lambda: bool(store.exists(record_key)),
        )
        assert store.hget(record_key, "status") == "queued"
        with Connection(broker_url) as connection:
            assert KombuBrokerQueues(connection).backlog("events") == 0  # the publish never arrived

        env = service_env(module_redis_url, public_key_pem, BROKER_URL=broker_url)
        with service_stack(env) as stack, Connection(broker_url) as connection:
            sent = requeue_lost_events(
                store, stale_after=0, now=time.time(), broker=KombuBrokerQueues(connection)
            )
            assert sent == 1
            wait_for(lambda: _status(stack.base_url, event_id) == "processed", 30, "the resent event")
            assert _post(stack.base_url, _token(private_key, event_id)).json() == {"status": "duplicate"}
            assert (
                requeue_lost_events(
                    store, stale_after=0, now=time.time(), broker=KombuBrokerQueues(connection)
                )
                == 0
            )
            time.sleep(1)
            [worker] = stack.workers
            assert _runs(worker, str(store.hget(record_key, "taskId"))) == 1


class TestTaskMessageOnRabbitMQ:
    def test_the_receivers_message_is_the_one_celery_publishes(self, broker_url) -> None:
        """Celery's own send_task and the receiver's publisher, each to a queue of the test's vhost, read
        back with basic_get: the same headers (Celery's protocol 2), properties and body."""
        kwargs = {"event_type": "t", "instance_id": "i", "event_id": "e", "data": "{}", "identity": None}
        with Connection(broker_url) as connection:
            app.send_task(
                "events.process_wix_event", kwargs=kwargs, ignore_result=True, connection=connection,
                queue=Queue("shape-celery", routing_key="shape-celery", queue_arguments=QUORUM),
            )  # fmt: skip
            _, text = build_task_message("events.process_wix_event", kwargs, queue="shape-ours")
            publisher = AmqpPublisher(broker_url, ["shape-ours"])

            async def publish() -> None:
                await publisher.publish([text])
                await publisher.close()

            asyncio.run(publish())
            channel = connection.channel()
            celerys = channel.basic_get("shape-celery", no_ack=True)
            ours = channel.basic_get("shape-ours", no_ack=True)
        assert celerys is not None and ours is not None
        theirs_headers = {
            name: value
            for name, value in celerys.headers.items()
            if not name.startswith(("sentry", "baggage", "headers")) and name != "timelimit"
        }
        ours_headers = {name: value for name, value in ours.headers.items() if name != "timelimit"}
        assert sorted(ours_headers) == sorted(theirs_headers)
        for name in ("task", "lang", "retries", "eta", "expires", "argsrepr", "ignore_result", "stamps"):
            assert ours_headers[name] == theirs_headers[name], name
        assert ours.headers["id"] == ours.headers["root_id"] == ours.properties["correlation_id"]
        for name in ("content_type", "content_encoding", "delivery_mode", "priority"):
            assert ours.properties.get(name) == celerys.properties.get(name), name
        assert json.loads(ours.body) == json.loads(celerys.body)


class TestChaosOnRabbitMQ:
    @CHAOS_CLIENT_SOCKETS
    def test_300_webhooks_under_chaos_are_processed_exactly_once(self, tmp_path) -> None:
        """`make chaos`, reduced, with RabbitMQ as the broker (a vhost of its own): pool children and the
        worker SIGKILLed, the store's Redis restarted, Wix failing 30% of calls; exactly once, everywhere."""
        options = Options(
            webhooks=300, kill_pool_every=2, kill_worker_every=10, worker_kills=1, redis_restarts=1,
            fault_rate=0.3, visibility_timeout=20, concurrency=4, settle_timeout=240, work_dir=tmp_path,
            quiet=True,
        )  # fmt: skip
        with rabbitmq_vhost() as url:
            result = run(replace(options, broker_url=url))
        print(result.table())
        assert result.chaos.worker_kills == 1
        assert result.chaos.redis_restarts == 1
        assert result.ok, result.table()
