"""The points sync loop, all real: our receiver and a Celery worker on real Redis, the fake Wix, and a fake
external loyalty system (an HTTP server in this process) that echoes every message it gets back to us.

An external earn reaches Wix once and the Wix webhook it causes is not sent back out; a Wix-side manual
adjustment reaches the external system once and its echo changes nothing: the loop ends after one hop.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.integration.conftest import (
    ADMIN,
    APP_ID,
    FakeWixProcess,
    run_job_over_http,
    service_stack,
    wait_for,
)
from tests.integration.shop import wix_env
from worker import keys
from worker.infra.embedded_redis import free_port
from worker.sync.standard_webhooks import StandardWebhook
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000c301"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EMAIL = "jane.sync@example.com"


@dataclass
class ExternalSystem:
    """Verifies what we send, keeps it, answers 200, then sends the same transaction back to us."""

    our_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    echo_answers: list[httpx.Response] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""

    def send(self, body: dict[str, Any], msg_id: str | None = None) -> httpx.Response:
        """POST a signed message to our `/sync/v1/points`, as the external system does."""
        raw = json.dumps(body).encode()
        headers = StandardWebhook(SECRET).headers(msg_id or f"msg_ext_{uuid.uuid4().hex}", raw)
        return httpx.post(f"{self.our_url}/sync/v1/points", content=raw, headers=headers, timeout=5)

    def echo(self, message: dict[str, Any]) -> None:
        data = message["data"]
        body = {
            "instanceId": data["instanceId"],
            "transactionId": data["transaction"]["id"],
            "amount": data["transaction"]["amount"],
            "email": data["email"],
        }
        self.echo_answers.append(self.send(body))


@pytest.fixture
def external() -> Iterator[ExternalSystem]:
    system = ExternalSystem()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                StandardWebhook(SECRET).verify(body, dict(self.headers.items()))
            except Exception as exc:
                system.refused.append(str(exc))
                self.send_response(401)
                self.end_headers()
                return
            message = json.loads(body)
            system.received.append({"headers": dict(self.headers.items()), **message})
            self.send_response(200)
            self.end_headers()
            threading.Thread(target=system.echo, args=(message,), daemon=True).start()

        def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    system.url = f"http://127.0.0.1:{port}/hooks/wix"
    yield system
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def stack(fake_wix: FakeWixProcess, real_redis, redis_url, external: ExternalSystem):  # type: ignore[no-untyped-def]
    """Receiver and one worker, both directions of the sync configured; one contact, bootstrapped."""
    fake_wix.control("POST", "reset")
    contact_id = str(uuid.uuid4())
    fake_wix.control("POST", f"instances/{INSTANCE}/contacts", json={"id": contact_id, "email": EMAIL})
    env = wix_env(fake_wix, redis_url, EXTERNAL_SYNC_URL=external.url, EXTERNAL_SYNC_SECRET=SECRET)
    with service_stack(env) as running:
        external.our_url = running.base_url
        assert (
            run_job_over_http(running.base_url, INSTANCE, {"name": "bootstrap"}, 30)["status"] == "succeeded"
        )
        yield running.base_url, contact_id, running.workers[0]


def transactions(fake_wix: FakeWixProcess) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{INSTANCE}/transactions")["transactions"])


def account_of(fake_wix: FakeWixProcess, contact_id: str) -> dict[str, Any]:
    accounts = fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]
    [account] = [account for account in accounts if account["contactId"] == contact_id]
    return dict(account)


def post_points_updated(fake_wix: FakeWixProcess, base: str, account: dict[str, Any]) -> str:
    """Sign and post `account_points_updated` for the account as Wix would; answers the event id."""
    event_id = str(uuid.uuid4())
    payload = {
        "id": event_id,
        "entityFqdn": "wix.loyalty.v1.account",
        "slug": "points_updated",
        "entityId": account["id"],
        "eventTime": account["updatedDate"],
        "triggeredByAnonymizeRequest": False,
        "actionEvent": {"body": {"account": account}},
    }
    key = load_pem_private_key(fake_wix.private_key.read_bytes(), password=None)
    token = sign_webhook(key, "wix.loyalty.v1.account_points_updated", INSTANCE, payload)  # type: ignore[arg-type]
    response = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert response.json() == {"status": "queued"}
    return event_id


def settled(base: str, event_id: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{base}/admin/v1/instances/{INSTANCE}/events/{event_id}", headers=ADMIN, timeout=5)
    return answer.json() if answer.status_code == 200 and answer.json()["status"] != "queued" else None


def pushes(real_redis) -> int:  # type: ignore[no-untyped-def]
    return int(real_redis.hget(keys.TASK_OUTCOMES, "sync.push_points_update|succeeded") or 0)


class TestSyncLoop:
    def test_both_sides_echo_and_the_loop_ends_after_one_hop(
        self, fake_wix, stack, external, real_redis
    ) -> None:
        """External earn → Wix once, not sent back; Wix manual adjustment → external once, its echo inert."""
        base, contact_id, _ = stack

        # 1. The external system earns 40 points for the member it knows by email.
        answer = external.send(
            {
                "instanceId": INSTANCE,
                "transactionId": "ext-earn-1",
                "amount": 40,
                "description": "Store card",
                "email": EMAIL.upper(),
                "externalId": "cust-1",
            }
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["contactId"] == contact_id
        earned = wait_for(lambda: transactions(fake_wix), 20, "the earn to reach Wix")
        assert [(t["transactionType"], t["amount"], t["idempotencyKey"]) for t in earned] == [
            ("EARN", 40, "ext-earn-1")
        ]
        assert earned[0]["earnInfo"]["appId"] == APP_ID

        # 2. Wix tells us about it, as it would, without naming the transaction (no `latestTransaction`,
        #    wix-facts.md §8): the push task reads the account's transactions, finds only ours, sends none.
        account = account_of(fake_wix, contact_id)
        assert "latestTransaction" not in account
        before = pushes(real_redis)
        first = post_points_updated(fake_wix, base, account)
        record = wait_for(lambda: settled(base, first), 20, "Wix's points_updated to be settled")
        assert record["status"] == "processed"
        wait_for(lambda: pushes(real_redis) > before, 20, "the push task to look and send nothing")

        # 3. A site owner adjusts the balance by hand in Wix (the Wix Loyalty app): it goes out once.
        manual_id = dashboard_adjustment(fake_wix, contact_id, 5, "Goodwill")
        second = post_points_updated(fake_wix, base, account_of(fake_wix, contact_id))
        wait_for(lambda: external.received, 20, "the manual adjustment to reach the external system")
        # One worker runs the queue in order: a push for step 2, had there been one, would have come first.
        [message] = external.received
        assert message["type"] == "loyalty.points_updated"
        assert message["data"]["transaction"]["id"] == manual_id
        assert message["data"]["transaction"]["appId"] == WIX_LOYALTY_APP_ID
        assert (message["data"]["email"], message["data"]["externalId"]) == (EMAIL, "cust-1")
        assert message["data"]["contactId"] == contact_id
        assert settled(base, second)["status"] == "processed"  # type: ignore[index]

        # 4. The external system echoes it back (same transaction id): answered, and nothing changes.
        wait_for(lambda: external.echo_answers, 10, "the external system's echo to be answered")
        [echo] = external.echo_answers
        assert (echo.status_code, echo.json()["status"]) == (200, "echo")
        assert [t["id"] for t in transactions(fake_wix)] == [earned[0]["id"], manual_id]
        assert account_of(fake_wix, contact_id)["points"]["balance"] == 45
        assert external.refused == []

    def test_a_redelivered_points_change_is_not_sent_twice(
        self, fake_wix, stack, external, real_redis
    ) -> None:
        """Another event about the same Wix transaction: the push runs again and posts nothing more."""
        base, contact_id, _ = stack
        dashboard_adjustment(fake_wix, contact_id, 3, "")
        account = account_of(fake_wix, contact_id)
        post_points_updated(fake_wix, base, account)
        wait_for(lambda: external.received, 20, "the change to reach the external system")
        before = pushes(real_redis)
        post_points_updated(fake_wix, base, account)  # a new event id, the same transaction
        wait_for(lambda: pushes(real_redis) > before, 20, "the second push task to run")
        assert len(external.received) == 1


def dashboard_adjustment(fake_wix: FakeWixProcess, contact_id: str, amount: int, description: str) -> str:
    """The site owner changes the contact's balance in Wix's dashboard (the Wix Loyalty app's appId)."""
    path = f"instances/{INSTANCE}/accounts/{account_of(fake_wix, contact_id)['id']}/adjust"
    answer = fake_wix.control("POST", path, json={"amount": amount, "description": description})
    return str(answer["transactionId"])
