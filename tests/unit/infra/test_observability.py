"""Logs carry instance and event ids and never a token; Sentry gets no bodies and no auth headers."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient

from tests import wix_samples
from tests.conftest import INSTANCE_ID
from worker.events.processing import process_event
from worker.infra import log_config
from worker.infra.error_reporting import scrub_event
from worker.settings import Settings
from worker.store.journal import EventJournal
from worker.web.app import create_app
from worker.wix.webhook_signing import new_private_key, sign_webhook


@pytest.fixture
def json_lines() -> list[str]:
    """Everything logged during the test, formatted as production formats it."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(log_config.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)
    log_config.clear()


class TestLogs:
    def test_worker_logs_are_json_with_instance_and_event_ids(self, fake_store, json_lines) -> None:
        """One JSON object a line, carrying the ids bound for the task."""
        payload = wix_samples.order_approved()
        log_config.bind(instance_id=INSTANCE_ID, event_id=payload["id"], task_id="task-1")
        process_event(
            EventJournal(fake_store, 60),
            fake_store,
            claim_ttl_seconds=60,
            event_type="wix.ecom.v1.order_approved",
            instance_id=INSTANCE_ID,
            event_id=payload["id"],
            data=json.dumps(payload),
            our_app_id=None,
        )
        entries = [json.loads(line) for line in json_lines if "event processed" in line]
        assert entries, json_lines
        assert entries[0]["instance_id"] == INSTANCE_ID
        assert entries[0]["event_id"] == payload["id"]
        assert entries[0]["task_id"] == "task-1"
        assert entries[0]["level"] == "info"

    def test_tokens_never_reach_the_logs(self, fake_async, fake_store, public_key_pem, json_lines) -> None:
        """Neither a refused nor an accepted webhook's token appears in any log line."""
        settings = Settings(redis_url="redis://unused", wix_public_key=public_key_pem, _env_file=None)
        client = TestClient(create_app(settings, async_redis=fake_async, store=fake_store))
        foreign = sign_webhook(new_private_key(), "wix.ecom.v1.order_approved", INSTANCE_ID, {"id": "x"})
        client.post("/webhooks/wix", content=foreign)
        assert json_lines
        signature = foreign.rsplit(".", 1)[1]
        assert not any(signature in line or foreign[:40] in line for line in json_lines)


class TestSentry:
    def test_bodies_and_auth_headers_are_scrubbed(self) -> None:
        """A webhook body is a JWT and an Authorization header is a key: neither is sent."""
        event = {
            "request": {
                "data": "eyJhbGciOi...",
                "headers": {"Authorization": "Bearer secret", "Content-Type": "text/plain"},
                "cookies": {"session": "s"},
            }
        }
        scrubbed = scrub_event(event, {})
        assert "data" not in scrubbed["request"]
        assert "cookies" not in scrubbed["request"]
        assert scrubbed["request"]["headers"] == {"Authorization": "[Filtered]", "Content-Type": "text/plain"}

    def test_an_error_report_carries_no_token(self, fake_async, fake_store, private_key) -> None:
        """With SENTRY_DSN set, an error during a request is reported without its body or auth header."""
        import sentry_sdk
        from sentry_sdk.transport import Transport

        from worker.infra.error_reporting import init_sentry

        class Capture(Transport):
            def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
                super().__init__(options)
                self.sent: list[bytes] = []

            def capture_envelope(self, envelope) -> None:  # type: ignore[no-untyped-def]
                self.sent.append(envelope.serialize())

        capture = Capture()
        settings = Settings(sentry_dsn="https://key@127.0.0.1:9/1", _env_file=None)  # type: ignore[call-arg]
        try:
            assert init_sentry(settings, transport=capture)
            client = sentry_sdk.get_client()
            assert {"fastapi", "celery"} <= set(client.integrations)
            app = create_app(settings, async_redis=fake_async, store=fake_store)

            @app.post("/boom")
            async def boom() -> None:
                raise RuntimeError("kaboom")

            token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE_ID, {"id": "x"})
            api_key = f"key-{uuid.uuid4().hex}"  # made at run time: source lines are sent as context
            response = TestClient(app, raise_server_exceptions=False).post(
                "/boom", content=token, headers={"authorization": f"Bearer {api_key}"}
            )
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "internal_error"
            sentry_sdk.flush()
            sent = b"".join(capture.sent)
            assert b"kaboom" in sent
            assert token.encode() not in sent
            assert token.rsplit(".", 1)[1].encode() not in sent
            assert api_key.encode() not in sent
        finally:
            sentry_sdk.init()  # back to no DSN: nothing is sent by later tests
