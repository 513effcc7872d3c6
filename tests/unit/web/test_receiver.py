"""The webhook receiver: verify, validate, enqueue, answer (fakeredis; real Redis in integration)."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from tests import wix_samples
from tests.asgi_scope import http_scope
from tests.conftest import INSTANCE_ID
from worker import keys
from worker.settings import Settings
from worker.web.app import create_app
from worker.wix.webhook_signing import new_private_key, sign_webhook


@pytest.fixture
def settings(public_key_pem: str) -> Settings:
    return Settings(redis_url="redis://unused", wix_public_key=public_key_pem, admin_token="admin-secret")


@pytest.fixture
def client(settings, fake_async, fake_store) -> TestClient:
    return TestClient(create_app(settings, async_redis=fake_async, store=fake_store))


def queued_messages(store: fakeredis.FakeRedis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in store.lrange("events", 0, -1)]


def task_call(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert args == []
    return message["headers"]["task"], kwargs


def post(client: TestClient, token: str | bytes) -> Any:
    return client.post("/webhooks/wix", content=token, headers={"content-type": "text/plain"})


class TestAccepted:
    def test_a_signed_event_is_queued_as_a_celery_task(self, client, fake_store, private_key) -> None:
        """A valid webhook is answered 200 queued, with exactly one task on `events`."""
        payload = wix_samples.payment_status_updated()
        token = sign_webhook(
            private_key,
            "wix.ecom.v1.order_payment_status_updated",
            INSTANCE_ID,
            payload,
            identity={"identityType": "APP", "appId": "x"},
        )
        response = post(client, token)
        assert response.status_code == 200
        assert response.json() == {"status": "queued"}
        [message] = queued_messages(fake_store)
        name, kwargs = task_call(message)
        assert name == "events.process_wix_event"
        assert message["properties"]["delivery_info"]["routing_key"] == "events"
        assert kwargs["event_type"] == "wix.ecom.v1.order_payment_status_updated"
        assert kwargs["instance_id"] == INSTANCE_ID
        assert kwargs["event_id"] == payload["id"]
        assert json.loads(kwargs["data"]) == payload
        assert json.loads(kwargs["identity"]) == {"identityType": "APP", "appId": "x"}
        assert "janedoe" not in message["headers"]["kwargsrepr"]

    def test_the_journal_says_queued(self, client, fake_store, private_key) -> None:
        """The event's journal record exists as soon as it is queued."""
        payload = wix_samples.order_approved()
        post(client, sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload))
        record = fake_store.hgetall(keys.event_record(INSTANCE_ID, payload["id"]))
        assert record["status"] == "queued"
        assert record["eventType"] == "wix.ecom.v1.order_approved"
        assert fake_store.ttl(keys.event_record(INSTANCE_ID, payload["id"])) > 7 * 24 * 3600

    def test_the_admin_api_shows_a_queued_event(self, client, private_key) -> None:
        """Before any worker ran, the operator already sees the event as queued."""
        payload = wix_samples.order_approved()
        post(client, sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload))
        path = f"/admin/v1/instances/{INSTANCE_ID}/events/{payload['id']}"
        assert client.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert (
            client.get(
                f"/admin/v1/instances/other-instance/events/{payload['id']}",
                headers={"authorization": "Bearer admin-secret"},
            ).status_code
            == 404
        )
        record = client.get(path, headers={"authorization": "Bearer admin-secret"}).json()
        assert record["status"] == "queued"
        assert record["eventId"] == payload["id"]
        assert record["instanceId"] == INSTANCE_ID

    def test_the_same_event_twice_is_queued_once(self, client, fake_store, private_key) -> None:
        """A redelivery (even re-signed) answers duplicate and queues nothing more."""
        payload = wix_samples.checkout_completed()
        first = post(
            client, sign_webhook(private_key, "wix.ecom.v1.checkout_completed", INSTANCE_ID, payload)
        )
        # Wix may re-sign a redelivery: a different token carrying the same event id.
        resigned = sign_webhook(
            private_key, "wix.ecom.v1.checkout_completed", INSTANCE_ID, payload, lifetime=900
        )
        again = post(client, resigned)
        assert first.json() == {"status": "queued"}
        assert again.status_code == 200
        assert again.json() == {"status": "duplicate"}
        assert len(queued_messages(fake_store)) == 1

    def test_an_unhandled_event_type_is_ignored_and_counted(self, client, fake_store, private_key) -> None:
        """An authentic event of a type we do not handle: 200 ignored, nothing queued, counted."""
        token = sign_webhook(private_key, "wix.ecom.v1.order_updated", INSTANCE_ID, {"id": "evt-x"})
        response = post(client, token)
        assert response.json() == {"status": "ignored"}
        assert queued_messages(fake_store) == []
        metrics = client.get("/metrics").text
        assert 'wix_webhooks_total{event_type="other",outcome="ignored"} 1.0' in metrics

    @pytest.mark.parametrize("event_type", sorted(wix_samples.HANDLED))
    def test_every_handled_type_is_queued(self, client, fake_store, private_key, event_type) -> None:
        """Each event type of DESIGN.md's table goes on the queue."""
        payload = wix_samples.HANDLED[event_type]()
        response = post(client, sign_webhook(private_key, event_type, INSTANCE_ID, payload))
        assert response.json() == {"status": "queued"}
        assert len(queued_messages(fake_store)) == 1


class TestRefused:
    def test_a_missing_body_is_401(self, client, fake_store) -> None:
        """No token at all: 401 in the contract's error shape, nothing queued."""
        response = post(client, b"")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
        assert queued_messages(fake_store) == []

    def test_a_foreign_signature_is_401(self, client, fake_store) -> None:
        """A token signed by another key: 401, nothing queued, nothing journaled."""
        payload = wix_samples.order_approved()
        response = post(
            client, sign_webhook(new_private_key(), "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
        )
        assert response.status_code == 401
        assert response.json()["error"]["details"] == {"reason": "bad_signature"}
        assert fake_store.keys("*") == []

    @pytest.mark.parametrize(
        "claims",
        [
            {"iat": 1, "exp": 9999999999},
            {"data": "not json"},
            {"data": json.dumps(["a list"])},
            {"data": json.dumps({"instanceId": "i", "data": "{}"})},
            {"data": json.dumps({"eventType": "wix.ecom.v1.order_approved", "data": "{}"})},
            {"data": json.dumps({"eventType": "wix.ecom.v1.order_approved", "instanceId": "i"})},
            {
                "data": json.dumps(
                    {"eventType": "wix.ecom.v1.order_approved", "instanceId": "i", "data": "{]"}
                )
            },
            {
                "data": json.dumps(
                    {"eventType": "wix.ecom.v1.order_approved", "instanceId": "i", "data": "{}"}
                )
            },
            {"data": json.dumps({"eventType": "wix.ecom.v1.order_approved", "instanceId": "i", "data": 5})},
            # Ids that would break out of their Redis keys: the instance's `:` and `{`, the event's `}`.
            *(
                {
                    "data": json.dumps(
                        {"eventType": "wix.ecom.v1.order_approved", "instanceId": site, "data": inner}
                    )
                }
                for site, inner in [
                    ("a:b", json.dumps({"id": "e-1"})),
                    ("{a}", json.dumps({"id": "e-1"})),
                    ("i", json.dumps({"id": "e}:x"})),
                ]
            ),
        ],
    )
    def test_an_authentic_token_not_in_wix_shape_is_400(
        self, client, fake_store, private_key, claims
    ) -> None:
        """Signed by the right key but not a Wix envelope: 400 saying what is wrong."""
        import time

        import jwt

        fresh = {**claims, "exp": int(time.time()) + 300}  # a token must say how old it may be
        response = post(client, jwt.encode(fresh, private_key, algorithm="RS256"))
        assert response.status_code == 400
        body = response.json()["error"]
        assert body["code"] == "invalid_payload"
        assert body["message"]
        assert fake_store.keys("*") == []  # nothing queued, nothing journaled

    def test_a_body_over_one_mebibyte_is_413(self, client, fake_store) -> None:
        """An oversized body is refused with 413 before it is verified."""
        response = post(client, b"a" * (1024 * 1024 + 1))
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
        assert queued_messages(fake_store) == []

    def test_a_declared_length_over_the_limit_is_413_without_reading(self, client) -> None:
        """The Content-Length alone is enough to refuse."""
        response = client.post(
            "/webhooks/wix", content=b"x", headers={"content-length": str(5 * 1024 * 1024)}
        )
        assert response.status_code == 413

    def test_redis_down_is_503_and_nothing_is_marked_seen(
        self, client, fake_server, fake_store, private_key
    ) -> None:
        """If the queue cannot take the event, 503 so Wix delivers again; later it is accepted."""
        payload = wix_samples.order_approved()
        token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload)
        fake_server.connected = False
        response = post(client, token)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        fake_server.connected = True
        assert fake_store.keys("*") == []
        assert post(client, token).json() == {"status": "queued"}

    def test_no_public_key_configured_is_503(self, fake_async, fake_store, private_key) -> None:
        """Without the app's key nothing can be verified: 503, so Wix keeps the event."""
        client = TestClient(
            create_app(Settings(redis_url="redis://unused"), async_redis=fake_async, store=fake_store)
        )
        token = sign_webhook(
            private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, wix_samples.order_approved()
        )
        response = post(client, token)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "not_configured"


class TestOperations:
    def test_healthz(self, client) -> None:
        """The process answers."""
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_readyz_follows_redis(self, client, fake_server) -> None:
        """Ready while Redis answers, 503 when it does not."""
        assert client.get("/readyz").status_code == 200
        fake_server.connected = False
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"

    def test_metrics_count_outcomes_and_task_outcomes(self, client, fake_store, private_key) -> None:
        """Webhooks by type and outcome, enqueue latency, and the workers' task outcomes."""
        payload = wix_samples.order_approved()
        post(client, sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, payload))
        post(client, b"garbage")
        fake_store.hincrby(keys.TASK_OUTCOMES, "events.process_wix_event|succeeded", 3)
        text = client.get("/metrics").text
        assert 'wix_webhooks_total{event_type="wix.ecom.v1.order_approved",outcome="queued"} 1.0' in text
        assert 'wix_webhooks_total{event_type="unknown",outcome="unauthorized"} 1.0' in text
        assert "wix_webhook_enqueue_seconds_count 1.0" in text
        assert 'celery_tasks_total{outcome="succeeded",task="events.process_wix_event"} 3.0' in text

    def test_the_start_up_heap_is_kept_out_of_gc_passes_while_serving(
        self, settings, fake_async, fake_store
    ) -> None:
        """Once started, the app's start-up objects are frozen (no full GC pass walks them: the p99's
        long tail), and handed back to the collector at shutdown."""
        app = create_app(settings, async_redis=fake_async, store=fake_store)
        with TestClient(app) as serving:
            assert gc.get_freeze_count() > 10_000
            assert serving.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0

    def test_unknown_routes_use_the_error_shape(self, client) -> None:
        """A 404 is JSON in the contract's shape too."""
        response = client.get("/nope")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_a_bug_on_the_webhook_path_is_a_logged_500_in_the_error_shape(
        self, settings, fake_async, fake_store, private_key, caplog
    ) -> None:
        """The webhook path is answered ahead of FastAPI's error middleware; a failure of our own there
        is still a 500 `internal_error` (not the exception's text) and an error in the log, which is
        what Sentry reports."""
        app = create_app(settings, async_redis=fake_async, store=fake_store)

        async def broken(envelope: object) -> str:
            raise RuntimeError("kaboom")

        app.state.receiver.queue.enqueue = broken
        token = sign_webhook(
            private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, wix_samples.order_approved()
        )
        with caplog.at_level("ERROR", logger="worker.web.receiver"):
            response = post(TestClient(app, raise_server_exceptions=False), token)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "kaboom" not in response.text
        logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
        assert any(isinstance(error, RuntimeError) for error in logged)


class TestPlainAsgi:
    """The receiver answers on the ASGI messages themselves, as uvicorn hands them over."""

    @staticmethod
    def call(app: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        scope = http_scope("POST", "/webhooks/wix", [(b"content-type", b"text/plain")])
        incoming = list(messages)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        return sent

    def test_a_body_in_several_chunks_is_queued(self, settings, fake_async, fake_store, private_key) -> None:
        """A webhook whose body arrives in pieces is put together and queued, with a JSON 200."""
        app = create_app(settings, async_redis=fake_async, store=fake_store)
        token = sign_webhook(
            private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, wix_samples.order_approved()
        ).encode()
        pieces = [token[:100], token[100:2000], token[2000:]]
        messages = [
            {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
            for n, piece in enumerate(pieces)
        ]
        start, body = self.call(app, messages)
        assert start["status"] == 200
        assert dict(start["headers"]) == {b"content-type": b"application/json", b"content-length": b"19"}
        assert json.loads(body["body"]) == {"status": "queued"}
        assert len(queued_messages(fake_store)) == 1

    def test_chunks_past_the_limit_are_413(self, public_key_pem, fake_async, fake_store) -> None:
        """Without a Content-Length, the body is refused as soon as the chunks pass the limit."""
        small = Settings(redis_url="redis://unused", wix_public_key=public_key_pem, webhook_max_bytes=1000)
        app = create_app(small, async_redis=fake_async, store=fake_store)
        messages = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2
        start, body = self.call(app, messages)
        assert start["status"] == 413
        assert json.loads(body["body"])["error"]["code"] == "too_large"
        assert queued_messages(fake_store) == []

    def test_a_client_gone_before_its_body_is_not_answered(self, settings, fake_async, fake_store) -> None:
        """A connection closed mid-body gets no answer and queues nothing (nor is it a server error)."""
        app = create_app(settings, async_redis=fake_async, store=fake_store)
        assert self.call(app, [{"type": "http.request", "body": b"eyJ", "more_body": True}]) == []
        assert queued_messages(fake_store) == []
