"""Per-site points sync, all real: our receiver and a Celery worker on real Redis, the fake Wix, and two
external loyalty systems (two HTTP servers in this process), one per instance, each with its own secret.

Nothing about the sync is in the environment: each instance's URL, secret and matching are set through
`PATCH /admin/v1/instances/{id}/settings`. Each system gets only its own instance's points changes, and a
message signed with one instance's secret but naming the other is refused 401.
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

from tests.integration.conftest import ADMIN_TOKEN, FakeWixProcess, Process, start_web_and_worker, wait_for
from tests.integration.test_rewards_against_fake_wix import wix_env
from worker.infra.embedded_redis import free_port
from worker.sync.standard_webhooks import StandardWebhook
from worker.wix.webhook_signing import sign_webhook

A = "6b1e6a2c-0000-4000-8000-00000000c3a1"
B = "6b1e6a2c-0000-4000-8000-00000000c3b2"
SECRET_A = "whsec_c2l0ZS1hLW93bi1zZWNyZXQtMjQtYnl0ZXMhIQ=="
SECRET_B = "whsec_YW5vdGhlci1zaXRlLXNlY3JldC0yNC1ieXRlcyE="
EMAIL_A = "ann.site-a@example.com"
EMAIL_B = "bob.site-b@example.com"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class ExternalSystem:
    """One merchant's loyalty system: verifies what we send with its secret, keeps it, answers 200."""

    secret: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def send(self, our_url: str, body: dict[str, Any]) -> httpx.Response:
        """POST a message signed with this system's secret to our `/sync/v1/points`."""
        raw = json.dumps(body).encode()
        headers = StandardWebhook(self.secret).headers(f"msg_ext_{uuid.uuid4().hex}", raw)
        return httpx.post(f"{our_url}/sync/v1/points", content=raw, headers=headers, timeout=5)


def serve(system: ExternalSystem) -> Iterator[ExternalSystem]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                StandardWebhook(system.secret).verify(body, dict(self.headers.items()))
            except Exception as exc:
                system.refused.append(str(exc))
                self.send_response(401)
                self.end_headers()
                return
            system.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    system.url = f"http://127.0.0.1:{port}/hooks/wix"
    yield system
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def system_a() -> Iterator[ExternalSystem]:
    yield from serve(ExternalSystem(SECRET_A))


@pytest.fixture
def system_b() -> Iterator[ExternalSystem]:
    yield from serve(ExternalSystem(SECRET_B))


@dataclass
class Stack:
    base: str
    contacts: dict[str, str]
    processes: list[Process]


@pytest.fixture
def stack(fake_wix: FakeWixProcess, real_redis, redis_url, system_a, system_b) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """Receiver and one worker with no sync in the environment; each instance's sync set through the admin
    route (B matches by contact id); one contact per instance, bootstrapped."""
    fake_wix.control("POST", "reset")
    contacts = {}
    for instance_id, email in ((A, EMAIL_A), (B, EMAIL_B)):
        contacts[instance_id] = str(uuid.uuid4())
        fake_wix.control(
            "POST", f"instances/{instance_id}/contacts", json={"id": contacts[instance_id], "email": email}
        )
    env = wix_env(fake_wix, redis_url)
    assert not any(name.startswith("EXTERNAL_SYNC") for name in env)
    web, base, worker = start_web_and_worker(env)
    try:
        for instance_id, change in (
            (A, {"syncUrl": system_a.url, "syncSecret": SECRET_A}),
            (B, {"syncUrl": system_b.url, "syncSecret": SECRET_B, "syncMatchBy": "contactId"}),
        ):
            url = f"{base}/admin/v1/instances/{instance_id}/settings"
            answer = httpx.patch(url, json=change, headers=ADMIN, timeout=5)
            assert answer.status_code == 200, answer.text
            bootstrap(base, instance_id)
        yield Stack(base, contacts, [web, worker])
    finally:
        worker.stop()
        web.stop()


def bootstrap(base: str, instance_id: str) -> None:
    jobs = f"{base}/admin/v1/instances/{instance_id}/jobs"
    started = httpx.post(jobs, json={"name": "bootstrap"}, headers=ADMIN, timeout=5)
    assert started.status_code == 202, started.text

    def finished() -> dict[str, Any] | None:
        job = httpx.get(f"{jobs}/{started.json()['id']}", headers=ADMIN, timeout=5).json()
        return job if job["status"] != "running" else None

    assert wait_for(finished, 30, f"the bootstrap job of {instance_id}")["status"] == "succeeded"


def account_of(fake_wix: FakeWixProcess, instance_id: str, contact_id: str) -> dict[str, Any]:
    accounts = fake_wix.control("GET", f"instances/{instance_id}/accounts")["accounts"]
    [account] = [account for account in accounts if account["contactId"] == contact_id]
    return dict(account)


def dashboard_adjustment(fake_wix: FakeWixProcess, instance_id: str, contact_id: str, amount: int) -> str:
    """The site owner changes the contact's balance in Wix's dashboard."""
    path = f"instances/{instance_id}/accounts/{account_of(fake_wix, instance_id, contact_id)['id']}/adjust"
    answer = fake_wix.control("POST", path, json={"amount": amount, "description": "Goodwill"})
    return str(answer["transactionId"])


def post_points_updated(
    fake_wix: FakeWixProcess, base: str, instance_id: str, account: dict[str, Any]
) -> None:
    """Sign and post `account_points_updated` for the account as Wix would."""
    payload = {
        "id": str(uuid.uuid4()),
        "entityFqdn": "wix.loyalty.v1.account",
        "slug": "points_updated",
        "entityId": account["id"],
        "eventTime": account["updatedDate"],
        "triggeredByAnonymizeRequest": False,
        "actionEvent": {"body": {"account": account}},
    }
    key = load_pem_private_key(fake_wix.private_key.read_bytes(), password=None)
    token = sign_webhook(key, "wix.loyalty.v1.account_points_updated", instance_id, payload)  # type: ignore[arg-type]
    response = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert response.json() == {"status": "queued"}


def earned(fake_wix: FakeWixProcess, instance_id: str) -> list[tuple[str, int]]:
    found = fake_wix.control("GET", f"instances/{instance_id}/transactions")["transactions"]
    return [(t["idempotencyKey"], t["amount"]) for t in found if t["transactionType"] == "EARN"]


class TestTwoSitesTwoSystems:
    def test_each_system_gets_only_its_own_instance_s_changes(
        self, fake_wix, stack, system_a, system_b
    ) -> None:
        """A manual adjustment in each site reaches that site's system alone, signed with its secret."""
        for instance_id in (A, B):
            contact_id = stack.contacts[instance_id]
            dashboard_adjustment(fake_wix, instance_id, contact_id, 5 if instance_id == A else 7)
            post_points_updated(
                fake_wix, stack.base, instance_id, account_of(fake_wix, instance_id, contact_id)
            )
        wait_for(lambda: system_a.received and system_b.received, 30, "each change to reach its system")
        [to_a] = system_a.received
        [to_b] = system_b.received
        assert (to_a["data"]["instanceId"], to_a["data"]["transaction"]["amount"]) == (A, 5)
        assert (to_b["data"]["instanceId"], to_b["data"]["transaction"]["amount"]) == (B, 7)
        assert (to_a["data"]["matchBy"], to_a["data"]["email"]) == ("email", EMAIL_A)
        assert (to_b["data"]["matchBy"], to_b["data"]["contactId"]) == ("contactId", stack.contacts[B])
        assert system_a.refused == system_b.refused == []

    def test_a_message_signed_for_a_but_naming_b_is_refused(
        self, fake_wix, stack, system_a, system_b
    ) -> None:
        """A's system earns for A's member (202, in Wix once); the same secret naming B is 401 and B's
        account is untouched; B's own system, matching by contact id, earns for B."""
        own = {"instanceId": A, "transactionId": "ext-a-1", "amount": 40, "email": EMAIL_A}
        assert system_a.send(stack.base, own).status_code == 202
        crossed = {"instanceId": B, "transactionId": "ext-a-2", "amount": 40, "contactId": stack.contacts[B]}
        refused = system_a.send(stack.base, crossed)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        theirs = {"instanceId": B, "transactionId": "ext-b-1", "amount": 9, "contactId": stack.contacts[B]}
        assert system_b.send(stack.base, theirs).status_code == 202
        wait_for(lambda: earned(fake_wix, A) and earned(fake_wix, B), 30, "both earns to reach Wix")
        assert earned(fake_wix, A) == [("ext-a-1", 40)]
        assert earned(fake_wix, B) == [("ext-b-1", 9)]

    def test_no_secret_in_the_settings_answer_nor_in_the_processes_logs(self, stack, system_a) -> None:
        """GET shows each secret masked; the web and worker output, after a refused and an accepted
        message, never holds either secret."""
        for instance_id, secret in ((A, SECRET_A), (B, SECRET_B)):
            answer = httpx.get(
                f"{stack.base}/admin/v1/instances/{instance_id}/settings", headers=ADMIN, timeout=5
            )
            assert answer.json()["settings"]["syncSecret"] == {
                "value": f"{secret[:6]}****{secret[-4:]}",
                "source": "site",
            }
            assert secret.removeprefix("whsec_").rstrip("=") not in answer.text
        system_a.send(stack.base, {"instanceId": B, "transactionId": "x", "amount": 1, "contactId": "c"})
        system_a.send(stack.base, {"instanceId": A, "transactionId": "y", "amount": 1, "email": EMAIL_A})
        output = "".join(line for process in stack.processes for line in process.output)
        assert "inbound points change refused" in output  # the logs are there to read
        for secret in (SECRET_A, SECRET_B):
            assert secret.removeprefix("whsec_").rstrip("=") not in output
