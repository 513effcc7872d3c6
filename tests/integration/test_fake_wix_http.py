"""The fake Wix as a real process (`python -m worker.wix.fake`), spoken to over HTTP, and its
`send-webhook` command posting signed events to a receiver: a tiny local server, then our own."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.conftest import (
    APP_ID,
    ROOT,
    FakeWixProcess,
    service_stack,
)
from worker.infra.embedded_redis import free_port

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000f101"
CONTACT = "24de6f0b-60ce-4faa-9138-2e39f1415615"


@pytest.fixture(autouse=True)
def fresh(fake_wix: FakeWixProcess) -> None:
    fake_wix.control("POST", "reset")


def send_webhook(fake_wix: FakeWixProcess, to: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "worker.wix.fake", "send-webhook", "--to", to,
            "--instance", INSTANCE, "--private-key", str(fake_wix.private_key), *options,
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class TestTheProcess:
    def test_it_says_where_it_listens_and_writes_its_public_key(self, fake_wix: FakeWixProcess) -> None:
        """The start-up lines name the address and the public key file, which holds the served key."""
        assert fake_wix.process.saw(f"listening on {fake_wix.base_url}")
        assert fake_wix.process.saw(f"public key: {fake_wix.public_key}")
        served = httpx.get(f"{fake_wix.base_url}/_fake/public-key", timeout=5).text
        assert fake_wix.public_key.read_text() == served
        assert served.startswith("-----BEGIN PUBLIC KEY-----")

    def test_a_reward_round_trip_over_http(self, fake_wix: FakeWixProcess) -> None:
        """Token, account, earn twice with one key, coupon, report: each recorded once, every answer id'd."""
        headers = fake_wix.app_headers(INSTANCE)
        with httpx.Client(base_url=fake_wix.base_url, headers=headers, timeout=5) as wix:
            account = wix.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT}).json()["account"]
            earn = {"amount": 50, "description": "streak", "appId": APP_ID, "idempotencyKey": "reward-log-1"}
            first = wix.post(f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points", json=earn)
            second = wix.post(f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points", json=earn)
            spec = {
                "name": "Streak reward", "code": "RL-1", "startTime": 1714521600000,
                "usageLimit": 1, "scope": {"namespace": "stores"}, "percentOffRate": 10,
            }  # fmt: skip
            coupon = wix.post("/stores/v2/coupons", json={"specification": spec})
            duplicate = wix.post("/stores/v2/coupons", json={"specification": spec})
            report = {"triggerKey": "reward_issued", "payload": {}, "idempotency": {"key": "reward-log-1"}}
            reported = [wix.post("/automations/v1/events/report", json=report) for _ in range(2)]
        assert first.json() == second.json()
        assert first.json()["account"]["points"]["balance"] == 50
        assert coupon.status_code == 200 and duplicate.status_code == 400  # Wix declares no 409 (§8)
        assert duplicate.json()["details"]["applicationError"]["code"] == "COUPON_CODE_ALREADY_EXISTS"
        assert all(answer.headers.get("x-wix-request-id") for answer in (first, coupon, duplicate, *reported))
        recorded = fake_wix.control("GET", f"instances/{INSTANCE}")
        assert len(recorded["transactions"]) == 1
        assert [c["specification"]["code"] for c in recorded["coupons"]] == ["RL-1"]
        assert len(recorded["triggerReports"]) == 1
        counts = fake_wix.control("GET", "calls")["counts"]
        assert counts["POST /loyalty-accounts/v1/accounts/{account_id}/earn-points"] == 2

    def test_an_injected_429_arrives_with_retry_after(self, fake_wix: FakeWixProcess) -> None:
        """Over the wire, an injected 429 carries Retry-After and Wix's error body; the next call passes."""
        headers = fake_wix.app_headers(INSTANCE)
        fake_wix.control("POST", "faults", json={"status": 429, "count": 1, "retryAfter": 2})
        throttled = httpx.get(f"{fake_wix.base_url}/loyalty-programs/v1/program", headers=headers, timeout=5)
        passed = httpx.get(f"{fake_wix.base_url}/loyalty-programs/v1/program", headers=headers, timeout=5)
        assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "2")
        assert throttled.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"
        assert passed.status_code == 200

    def test_a_timed_out_earn_was_still_done_once(self, fake_wix: FakeWixProcess) -> None:
        """A client that gives up on a slow earn finds on retry that it was earned, and only once."""
        headers = fake_wix.app_headers(INSTANCE)
        with httpx.Client(base_url=fake_wix.base_url, headers=headers, timeout=5) as wix:
            account = wix.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT}).json()["account"]
            path = f"/loyalty-accounts/v1/accounts/{account['id']}/earn-points"
            fake_wix.control(
                "POST", "faults", json={"delaySeconds": 1.5, "when": "after", "pathPrefix": path}
            )
            earn = {"amount": 5, "description": "checkout", "appId": APP_ID, "idempotencyKey": "checkout-1"}
            with pytest.raises(httpx.ReadTimeout):
                wix.post(path, json=earn, timeout=0.3)
            retried = wix.post(path, json=earn)
        assert retried.json()["account"]["points"]["balance"] == 5
        assert len(fake_wix.control("GET", f"instances/{INSTANCE}/transactions")["transactions"]) == 1

    def test_a_random_timeout_does_the_work_and_drops_the_connection(self, fake_wix: FakeWixProcess) -> None:
        """Over the wire, a random timeout opens the account and closes the connection unanswered;
        a stall holds the answer past the client's timeout first."""
        headers = fake_wix.app_headers(INSTANCE)
        fake_wix.control("POST", "faults", json={"rate": 1, "seed": 7, "kinds": ["timeout"]})
        with httpx.Client(base_url=fake_wix.base_url, headers=headers, timeout=5) as wix:
            with pytest.raises(httpx.RemoteProtocolError):
                wix.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT})
            fake_wix.control(
                "POST", "faults", json={"rate": 1, "seed": 7, "kinds": ["timeout"], "stallSeconds": 1}
            )
            with pytest.raises(httpx.ReadTimeout):
                wix.post("/loyalty-accounts/v1/accounts", json={"contactId": "other"}, timeout=0.3)
        fake_wix.control("DELETE", "faults")
        accounts = fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]
        assert sorted(account["contactId"] for account in accounts) == sorted([CONTACT, "other"])

    def test_revoked_tokens_are_refused_over_http(self, fake_wix: FakeWixProcess) -> None:
        """After the revoke switch the token is a 401, as a client refreshing on 401 needs."""
        headers = fake_wix.app_headers(INSTANCE)
        fake_wix.control("POST", "tokens/revoke", json={})
        answer = httpx.get(f"{fake_wix.base_url}/loyalty-programs/v1/program", headers=headers, timeout=5)
        assert answer.status_code == 401


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((dict(self.headers.items()), body))
        answer = b'{"status":"queued"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A tiny HTTP server that answers 200 and keeps what it was sent."""
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/wix", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class TestSendWebhook:
    def test_it_posts_a_jwt_signed_with_the_fakes_key(
        self, fake_wix: FakeWixProcess, recorder: tuple[str, list[tuple[dict[str, str], bytes]]]
    ) -> None:
        """The body is an RS256 JWT, verifiable with the published key, nesting Wix's envelope."""
        url, received = recorder
        result = send_webhook(
            fake_wix, url, "--type", "wix.ecom.v1.order_payment_status_updated",
            "--order-id", "order-7", "--contact-id", CONTACT, "--total", "12.50", "--event-id", "event-7",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("200")
        headers, body = received[0]
        assert headers["content-type"] == "text/plain"
        claims = jwt.decode(body, fake_wix.public_key.read_text(), algorithms=["RS256"])
        envelope = json.loads(claims["data"])
        assert (envelope["eventType"], envelope["instanceId"]) == (
            "wix.ecom.v1.order_payment_status_updated",
            INSTANCE,
        )
        payload = json.loads(envelope["data"])
        assert payload["id"] == "event-7"
        order = payload["actionEvent"]["body"]["order"]
        assert (order["id"], order["paymentStatus"], order["priceSummary"]["total"]["amount"]) == (
            "order-7",
            "PAID",
            "12.50",
        )
        assert order["buyerInfo"]["contactId"] == CONTACT

    def test_our_receiver_queues_it_once(self, fake_wix: FakeWixProcess, module_redis_url: str) -> None:
        """`python -m worker web` verifying with the fake's public key answers 200 queued, then duplicate."""
        with service_stack(fake_wix.env(module_redis_url), workers=0) as receiver:
            base_url = receiver.base_url
            options = (
                "--type",
                "wix.ecom.v1.fulfillments_updated",
                "--order-id",
                "order-8",
                "--event-id",
                "ev-8",
            )
            first = send_webhook(
                fake_wix, f"{base_url}/webhooks/wix", *options, "--seed-fake", fake_wix.base_url
            )
            again = send_webhook(fake_wix, f"{base_url}/webhooks/wix", *options)
        assert (first.returncode, first.stdout.strip()) == (0, '200 {"status":"queued"}'), first.stderr
        assert again.stdout.strip() == '200 {"status":"duplicate"}'
        orders = fake_wix.control("GET", f"instances/{INSTANCE}/orders")["orders"]
        assert [(order["id"], order["fulfillmentStatus"]) for order in orders] == [("order-8", "FULFILLED")]

    def test_a_missing_key_file_is_a_clear_error(self, fake_wix: FakeWixProcess, tmp_path: Path) -> None:
        """Without the private key file the command explains and exits 2."""
        result = subprocess.run(
            [
                sys.executable, "-m", "worker.wix.fake", "send-webhook", "--to", "http://127.0.0.1:9/",
                "--type", "AppInstalled", "--instance", INSTANCE, "--private-key", str(tmp_path / "none.pem"),
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2
        assert "no private key" in result.stderr
