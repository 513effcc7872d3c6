"""The Loyalty Program API (seed 003) over real HTTP: the admin routes and the `loyalty-program` CLI
against the fake Wix process, its `program_updated` webhook arriving at our receiver and processed by a
real worker, points that waited through a pause sent once on activate, and a site without the Wix
Loyalty Program app answered with a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests import wix_samples
from tests.integration.conftest import (
    ADMIN_TOKEN,
    APP_ID,
    APP_SECRET,
    ROOT,
    FakeWixProcess,
    service_env,
    start_web_and_worker,
    wait_for,
)
from worker.dev.programs import program
from worker.infra.redis_client import sync_client
from worker.loyalty.points_gate import points_wait_reason
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
POINTS_PROGRAM: dict[str, Any] = program(points_rules=[{"on": "checkout_completed", "points": 1, "per": 10}])


@pytest.fixture(scope="module")
def env(fake_wix: FakeWixProcess, module_redis_url: str) -> dict[str, str]:
    """The service's environment, pointed at the fake Wix (one-second call timeout)."""
    return service_env(
        module_redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        CELERY_VISIBILITY_TIMEOUT="20",
        WIX_TIMEOUT_SECONDS="1",
    )


@pytest.fixture(scope="module")
def stack(fake_wix: FakeWixProcess, env: dict[str, str]) -> Iterator[str]:
    """Receiver and one worker; the fake Wix posts its webhooks to our receiver."""
    fake_wix.control("POST", "reset")
    web, base, worker = start_web_and_worker(env)
    fake_wix.control("PATCH", "settings", json={"webhookUrl": f"{base}/webhooks/wix"})
    yield base
    fake_wix.control("PATCH", "settings", json={"webhookUrl": None})
    worker.stop()
    web.stop()


@pytest.fixture
def store(module_redis_url: str) -> Iterator[Any]:
    client = sync_client(module_redis_url)
    yield client
    client.close()


@pytest.fixture
def instance(fake_wix: FakeWixProcess) -> str:
    """A site of its own for each test (the stack and Redis are shared by the module)."""
    fake_wix.control("DELETE", "faults")
    return f"site-{uuid.uuid4()}"


def route(base: str, instance_id: str, path: str = "") -> str:
    return f"{base}/admin/v1/instances/{instance_id}/loyalty-program{path}"


def wix_program(fake_wix: FakeWixProcess, instance_id: str) -> dict[str, Any]:
    return fake_wix.control("GET", f"instances/{instance_id}/program")["program"]  # type: ignore[no-any-return]


def fake_collection(fake_wix: FakeWixProcess, instance_id: str, name: str) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{instance_id}/{name}")[name])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "loyalty-program", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class TestAdminRoutes:
    def test_every_route_changes_wixs_program(self, fake_wix, stack, instance) -> None:
        """Get, update, activate, pause, enable and disable expiration, premium features: each answers
        the program as the fake Wix now has it."""
        fake_wix.control("PUT", f"instances/{instance}/program", json={"status": "DRAFT"})
        got = httpx.get(route(stack, instance), headers=ADMIN, timeout=10)
        assert got.status_code == 200 and got.json()["loyaltyProgram"]["status"] == "DRAFT"

        body = {
            "name": "Star Loyalty Program",
            "pointDefinition": {"customName": "Stars", "icon": {"url": "shapes/star.svg"}},
        }
        updated = httpx.patch(route(stack, instance), json=body, headers=ADMIN, timeout=10).json()
        assert updated["loyaltyProgram"] == wix_program(fake_wix, instance)
        assert updated["loyaltyProgram"]["pointDefinition"]["customName"] == "Stars"
        assert updated["loyaltyProgram"]["status"] == "DRAFT"

        for action, status in (("/activate", "ACTIVE"), ("/pause", "PAUSED"), ("/activate", "ACTIVE")):
            answer = httpx.post(route(stack, instance, action), headers=ADMIN, timeout=10)
            assert answer.json()["loyaltyProgram"]["status"] == status
            assert wix_program(fake_wix, instance)["status"] == status

        settings = {"monthsOfInactivity": 6, "expiringPointsPercentage": 50}
        enabled = httpx.post(
            route(stack, instance, "/points-expiration/enable"), json=settings, headers=ADMIN, timeout=10
        )
        assert wix_program(fake_wix, instance)["pointsExpiration"] == {"status": "ENABLED", **settings}
        assert enabled.json()["loyaltyProgram"]["pointsExpiration"]["status"] == "ENABLED"
        httpx.post(route(stack, instance, "/points-expiration/disable"), headers=ADMIN, timeout=10)
        assert wix_program(fake_wix, instance)["pointsExpiration"]["status"] == "DISABLED"

        features = httpx.get(route(stack, instance, "/premium-features"), headers=ADMIN, timeout=10).json()
        assert features == {
            "instanceId": instance,
            "premiumFeatures": {"loyaltyProgram": True, "tiers": True, "pointsExpiration": True},
        }

    def test_wix_failing_is_a_503_not_a_500(self, fake_wix, stack, instance) -> None:
        """Wix answering 503 to every try: our route answers 503 `wix_unavailable` in JSON."""
        fault = {"count": 50, "status": 503, "pathPrefix": "/loyalty-programs/v1/program"}
        fake_wix.control("POST", "faults", json=fault)
        answer = httpx.post(route(stack, instance, "/activate"), headers=ADMIN, timeout=30)
        fake_wix.control("DELETE", "faults")
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "wix_unavailable"


class TestProgramUpdatedWebhook:
    def test_a_change_reaches_our_receiver_and_is_processed(self, fake_wix, stack, instance) -> None:
        """After a pause through our route, the fake Wix posts `program_updated` to our receiver, which
        takes it (200), and the worker processes it as the PAUSED program."""
        httpx.post(route(stack, instance, "/activate"), headers=ADMIN, timeout=10)  # ACTIVE already: none
        httpx.post(route(stack, instance, "/pause"), headers=ADMIN, timeout=10)
        [sent] = wait_for(
            lambda: [w for w in fake_collection(fake_wix, instance, "webhooks") if w["status"] == 200],
            20,
            "the fake Wix to deliver program_updated",
        )
        assert sent["eventType"] == "wix.loyalty.v1.program_updated"
        event_url = f"{stack}/admin/v1/instances/{instance}/events/{sent['eventId']}"

        def processed() -> dict[str, Any] | None:
            answer = httpx.get(event_url, headers=ADMIN, timeout=5)
            record = answer.json() if answer.status_code == 200 else None
            return record if record and record.get("status") == "processed" else None

        record = wait_for(processed, 30, "the worker to process program_updated")
        assert record["normalized"]["name"] == "program_updated"
        assert record["normalized"]["program"]["status"] == "PAUSED"


def checkout(fake_wix: FakeWixProcess, instance_id: str, checkout_id: str, contact: str, total: str) -> str:
    payload = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
    payload["eventTime"] = datetime.now(UTC).isoformat()
    body = payload["actionEvent"]["body"]["checkout"]
    body["id"] = checkout_id
    body["buyerInfo"]["contactId"] = contact
    body["priceSummary"]["total"]["amount"] = total
    key = load_pem_private_key(fake_wix.private_key.read_bytes(), password=None)
    return sign_webhook(key, "wix.ecom.v1.checkout_completed", instance_id, payload)  # type: ignore[arg-type]


class TestPointsWaitThroughAPause:
    def test_activate_after_pause_sends_the_waiting_points_once(
        self, fake_wix, stack, store, instance
    ) -> None:
        """Paused through our route, a checkout's points wait (the gate knows at once, no webhook
        needed); activated through our route, they are earned in Wix, once, though both our route and
        the program_updated webhook release them."""
        ProgressStore(store).save_program(instance, POINTS_PROGRAM)
        contact, checkout_id = f"contact-{uuid.uuid4()}", str(uuid.uuid4())
        assert httpx.post(route(stack, instance, "/pause"), headers=ADMIN, timeout=10).status_code == 200
        assert points_wait_reason(store, instance) is not None
        token = checkout(fake_wix, instance, checkout_id, contact, "75.00")
        assert httpx.post(f"{stack}/webhooks/wix", content=token, timeout=5).status_code == 200
        wait_for(lambda: store.hlen(f"wrw:points-waiting:{instance}"), 30, "the points to be parked")

        def earned() -> list[dict[str, Any]]:
            return [
                t
                for t in fake_collection(fake_wix, instance, "transactions")
                if t.get("idempotencyKey", "").endswith(f"{checkout_id}:0")
            ]

        time.sleep(1)
        assert earned() == []
        assert httpx.post(route(stack, instance, "/activate"), headers=ADMIN, timeout=10).status_code == 200
        wait_for(earned, 60, "the points once the program is active")
        wait_for(
            lambda: (
                len([w for w in fake_collection(fake_wix, instance, "webhooks") if w["status"] == 200]) == 2
            ),
            20,
            "both program_updated webhooks to be delivered",
        )
        time.sleep(2)
        assert len(earned()) == 1 and earned()[0]["amount"] == 7
        assert store.hlen(f"wrw:points-waiting:{instance}") == 0


class TestLoyaltyAppNotInstalled:
    def test_routes_and_cli_say_so_clearly(self, fake_wix, stack, env, instance) -> None:
        """A site without the Wix Loyalty Program app: the routes answer 409 `loyalty_app_not_installed`
        in JSON, the CLI one line on stderr and exit status 1; nothing is activated."""
        fake_wix.control("PUT", f"instances/{instance}/loyalty-app", json={"installed": False})
        for method, path in (("GET", ""), ("POST", "/activate")):
            answer = httpx.request(method, route(stack, instance, path), headers=ADMIN, timeout=10)
            assert answer.status_code == 409
            error = answer.json()["error"]
            assert error["code"] == "loyalty_app_not_installed"
            assert "Loyalty Program app must be installed" in error["message"]
        run = cli(env, "activate", "--instance", instance)
        assert run.returncode == 1 and run.stdout == ""
        [line] = run.stderr.strip().splitlines()
        assert line.startswith("error: ") and "Loyalty Program app must be installed" in line


class TestCli:
    def test_each_command_prints_wixs_answer(self, fake_wix, stack, env, instance) -> None:
        """show, update, activate, pause, expiration enable|disable, premium-features: each prints the
        program (or its premium features) as JSON, as the fake Wix now has it."""

        def run(*args: str) -> dict[str, Any]:
            done = cli(env, *args, "--instance", instance)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)  # type: ignore[no-any-return]

        fake_wix.control("PUT", f"instances/{instance}/program", json={"status": "DRAFT"})
        assert run("show")["loyaltyProgram"]["status"] == "DRAFT"
        updated = run("update", "--name", "Northern Star", "--points-name", "Stars", "--icon", "shapes/n.svg")
        assert updated["loyaltyProgram"] == wix_program(fake_wix, instance)
        assert updated["loyaltyProgram"]["name"] == "Northern Star"
        assert run("activate")["loyaltyProgram"]["status"] == "ACTIVE"
        assert run("pause")["loyaltyProgram"]["status"] == "PAUSED"
        enabled = run(
            "expiration", "enable", "--months-of-inactivity", "12", "--expiring-points-percentage", "25"
        )
        assert enabled["loyaltyProgram"]["pointsExpiration"] == {
            "status": "ENABLED",
            "monthsOfInactivity": 12,
            "expiringPointsPercentage": 25,
        }
        assert run("expiration", "disable")["loyaltyProgram"]["pointsExpiration"]["status"] == "DISABLED"
        assert run("premium-features")["premiumFeatures"]["pointsExpiration"] is True

    def test_a_bad_value_is_one_line_and_wix_is_not_called(self, fake_wix, stack, env, instance) -> None:
        """A program name of one letter: `error: name: ...`, exit 1, no Wix call."""
        fake_wix.control("DELETE", "calls")
        done = cli(env, "update", "--name", "X", "--instance", instance)
        assert done.returncode == 1
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("error: name: ")
        assert fake_wix.control("GET", f"calls?instanceId={instance}")["total"] == 0
