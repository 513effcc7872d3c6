"""Install and removal over real HTTP: uvicorn, real Redis, a real Celery worker and the fake Wix as a
process, which sends AppInstalled and AppRemoved as Wix does (RS256-signed webhooks to the receiver).

Installed: the site is in the registry, its Wix program status read, the widget's script embedded in the
fake with exactly the script's placeholders. Removed: its API key, widget session, widget token and Wix
actions answer 401, its webhooks 200 `ignored`, beat starts no job for it. Installed again inside the
retention window: everything as it was. After the window, the purge leaves nothing of it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests import wix_samples
from tests.integration.conftest import (
    ADMIN_TOKEN,
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    Process,
    service_env,
    start_web_and_worker,
    wait_for,
)
from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import PURGE_REMOVED_INSTANCES, START_JOB_EVERYWHERE
from worker.infra.redis_client import sync_client
from worker.installs.embedded_script import script_placeholders
from worker.installs.purge import purge_due
from worker.runtime.dispatcher import CeleryDispatcher
from worker.store import instances
from worker.wix.fake.webhooks import load_private_key, post_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000i301"  # installed, removed, installed again, removed, purged
OTHER = "6b1e6a2c-0000-4000-8000-00000000i302"  # installed all along
MEMBER, CONTACT = "a517751b-0000-4000-8000-0000000000i1", "88615e02-0000-4000-8000-0000000000i1"
PUBLIC_BASE_URL = "https://rewards.example.com"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


class Service:
    def __init__(self, base: str, worker: Process, fake: FakeWixProcess, redis_url: str) -> None:
        self.base, self.worker, self.fake = base, worker, fake
        self.redis = sync_client(redis_url)
        self.last_sent: dict[tuple[str, str], float] = {}

    def admin(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}/admin/v1/{path}", headers=ADMIN, timeout=5)

    def lifecycle(self, action: str, instance_id: str = SITE) -> dict[str, Any]:
        """The fake Wix sends AppInstalled (`install`) or AppRemoved (`remove`) to the receiver.

        Legacy events carry no id: the receiver knows one by its token, whose `iat` is in seconds, so the
        same event about the same site twice within one second is, to it, one event redelivered. A test
        that removes, installs and removes again quickly waits for the next second, as real sites do."""
        # The fake signs somewhere between our call and its answer: a second after the last answer is
        # surely another second of `iat` (comparing our own clock's second missed a boundary crossed
        # while the fake was signing).
        last = self.last_sent.get((action, instance_id))
        if last is not None and time.time() - last < 1.05:
            time.sleep(1.05 - (time.time() - last))
        answer: dict[str, Any] = self.fake.control(
            "POST", f"instances/{instance_id}/{action}", json={"webhookUrl": f"{self.base}/webhooks/wix"}
        )
        self.last_sent[(action, instance_id)] = time.time()
        return answer

    def status_becomes(self, status: str, instance_id: str = SITE) -> None:
        wait_for(
            lambda: self.admin(f"instances/{instance_id}").json().get("status") == status,
            30,
            f"{instance_id} to be {status}",
        )


@pytest.fixture(scope="module")
def service(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Service]:
    env = service_env(
        module_redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        WIDGET_TOKEN_SECRET="integration-widget-secret-32-bytes-long",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    )
    processes: list[Process] = []
    try:
        web, base, worker = start_web_and_worker(env)
        processes += [web, worker]
        yield Service(base, worker, fake_wix, module_redis_url)
    finally:
        for process in reversed(processes):
            process.stop()


def invoke_action(service: Service, instance_id: str) -> httpx.Response:
    """Execute Challenge, signed as Wix signs an action invocation."""
    now = int(time.time())
    params = {
        "contactId": CONTACT,
        "challengeId": "spend-500",
        "activityId": "order_paid",
        "activityValue": "10",
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": f"action-{uuid.uuid4()}",
    }
    claims = {
        "data": {
            "request": {"actionKey": "execute-challenge", "actionParams": params, "activationContext": {}},
            "metadata": {"requestId": str(uuid.uuid4()), "instanceId": instance_id},
        },
        "aud": APP_ID,
        "iss": "wix.com",
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode(claims, load_private_key(service.fake.private_key), algorithm="RS256")
    return httpx.post(
        f"{service.base}/wix/actions/v1/invoke",
        content=token,
        headers={"content-type": "text/plain"},
        timeout=10,
    )


def order_webhook(service: Service, instance_id: str) -> httpx.Response:
    event_id = str(uuid.uuid4())
    return post_webhook(
        f"{service.base}/webhooks/wix",
        load_private_key(service.fake.private_key),
        "wix.ecom.v1.order_payment_status_updated",
        instance_id,
        wix_samples.payment_status_updated(event_id),
    )


def test_an_install_records_the_site_and_embeds_the_script(service: Service) -> None:
    """AppInstalled → the site is `installed`, its Wix program status read, the script embedded in the fake
    with exactly the script's placeholders; the admin routes show it, an unknown id is a 404."""
    answer = service.lifecycle("install")
    assert (answer["status"], answer["body"]) == (200, {"status": "queued"})
    service.status_becomes("installed")

    def embedded() -> dict[str, Any] | None:
        script: dict[str, Any] | None = service.fake.control("GET", f"instances/{SITE}")["embeddedScript"]
        return script

    script = wait_for(embedded, 30, "the worker to embed the script in the fake Wix")
    assert set(script["parameters"]) == script_placeholders()
    assert script["parameters"]["accountId"] == SITE and script["parameters"]["host"] == PUBLIC_BASE_URL
    assert script["disabled"] is False

    wait_for(
        lambda: service.admin(f"instances/{SITE}").json()["embedding"], 30, "the embedding to be recorded"
    )
    view = service.admin(f"instances/{SITE}").json()
    assert view["installedVia"] == "AppInstalled" and view["wixProgramStatus"] == "ACTIVE"
    assert view["embedding"]["embedded"] is True and view["embedding"]["parameters"] == script["parameters"]
    assert view["program"] is None and view["lastEventAt"]
    listing = service.admin("instances?limit=10").json()
    assert SITE in [entry["instanceId"] for entry in listing["instances"]]

    unknown = service.admin("instances/never-installed")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{service.base}/admin/v1/instances", timeout=5).status_code == 401


def test_a_removed_site_is_refused_everywhere_and_a_reinstall_finds_it_as_it_was(service: Service) -> None:
    """Removed: API key, widget session, widget token and Wix action 401, webhooks 200 ignored, beat starts
    no job; installed again: the same data, program and API key work."""
    for instance_id in (SITE, OTHER):
        put = httpx.put(
            f"{service.base}/admin/v1/instances/{instance_id}/program",
            json=BASE_PROGRAM,
            headers=ADMIN,
            timeout=5,
        )
        assert put.status_code == 200, put.text
    service.lifecycle("install", OTHER)
    created = httpx.post(f"{service.base}/admin/v1/instances/{SITE}/api-keys", headers=ADMIN, timeout=5)
    api_key = {"authorization": f"Bearer {created.json()['apiKey']}"}
    assert invoke_action(service, SITE).status_code == 200
    progress = httpx.get(f"{service.base}/v1/members/{CONTACT}/progress", headers=api_key, timeout=5)
    assert progress.status_code == 200, progress.text
    service.fake.control("POST", f"instances/{SITE}/members", json={"id": MEMBER, "contactId": CONTACT})
    wix_token = service.fake.control("POST", f"instances/{SITE}/member-tokens", json={"memberId": MEMBER})[
        "token"
    ]
    session = httpx.post(
        f"{service.base}/widget/v1/session", headers={"authorization": f"Bearer {wix_token}"}, timeout=10
    )
    assert session.status_code == 200 and session.json()["mode"] == "member", session.text
    widget_auth = {"authorization": f"Bearer {session.json()['token']}"}

    removed = service.lifecycle("remove")
    assert (removed["status"], removed["body"]) == (200, {"status": "queued"})
    service.status_becomes("removed")
    assert service.fake.control("GET", f"instances/{SITE}")["embeddedScript"] is None  # Wix took it off

    assert (
        httpx.get(f"{service.base}/v1/members/{CONTACT}/progress", headers=api_key, timeout=5).status_code
        == 401
    )
    again = httpx.post(
        f"{service.base}/widget/v1/session", headers={"authorization": f"Bearer {wix_token}"}, timeout=10
    )
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_token"
    me = httpx.get(f"{service.base}/widget/v1/me", headers=widget_auth, timeout=5)
    assert me.status_code == 401
    action = invoke_action(service, SITE)
    assert action.status_code == 401, action.text
    webhook = order_webhook(service, SITE)
    assert webhook.status_code == 200
    assert webhook.json() == {"status": "ignored", "reason": "the app was removed from this site"}
    assert service.admin(f"instances/{SITE}").json()["status"] == "removed"

    def sweeps_started(instance_id: str) -> int:
        records = [service.redis.hgetall(key) for key in service.redis.scan_iter(match="wrw:job:*")]
        return sum(1 for r in records if r.get("instanceId") == instance_id and r.get("name") == "sweep")

    before = sweeps_started(OTHER)
    CeleryDispatcher().resend(START_JOB_EVERYWHERE, {"name": "sweep"}, "periodic")  # as beat sends it
    wait_for(lambda: sweeps_started(OTHER) > before, 30, "beat's sweep for the other site")
    assert sweeps_started(SITE) == 0

    back = service.lifecycle("install")
    assert back["body"] == {"status": "queued"}
    service.status_becomes("installed")
    after = httpx.get(f"{service.base}/v1/members/{CONTACT}/progress", headers=api_key, timeout=5)
    assert after.status_code == 200
    assert after.json()["challenges"] == progress.json()["challenges"]
    program = httpx.get(f"{service.base}/admin/v1/instances/{SITE}/program", headers=ADMIN, timeout=5)
    assert program.status_code == 200
    assert invoke_action(service, SITE).status_code == 200
    assert order_webhook(service, SITE).json() == {"status": "queued"}
    wait_for(
        lambda: service.fake.control("GET", f"instances/{SITE}")["embeddedScript"],
        30,
        "the script embedded again",
    )


def test_the_purge_waits_for_the_window_then_leaves_nothing(service: Service) -> None:
    """The daily task inside the window purges nothing; 31 days after the removal every key of the site
    goes, its API key with it, and the other site keeps everything."""
    service.lifecycle("remove")
    service.status_becomes("removed")
    CeleryDispatcher().resend(PURGE_REMOVED_INSTANCES, {}, "periodic")
    ended = re.compile(r"periodic\.purge_removed_instances\[[^\]]+\] succeeded")
    wait_for(lambda: any(ended.search(line) for line in list(service.worker.output)), 30, "the purge task")
    assert service.redis.exists(keys.program(SITE))

    removed_at = datetime.fromisoformat(
        instances.get(service.redis, SITE)["removedAt"].replace("Z", "+00:00")
    )  # type: ignore[index]
    assert purge_due(service.redis, retention_days=30, now=removed_at + timedelta(days=29)) == {}
    purged = purge_due(service.redis, retention_days=30, now=removed_at + timedelta(days=31))
    assert set(purged) == {SITE} and purged[SITE] > 0
    left = [key for key in service.redis.scan_iter(match=f"*{SITE}*")]
    assert left == [keys.instance(SITE)]
    owners = {service.redis.hget(key, "instanceId") for key in service.redis.scan_iter(match="wrw:apikey:*")}
    assert SITE not in owners
    assert service.redis.exists(keys.program(OTHER))
    view = service.admin(f"instances/{SITE}").json()
    assert view["status"] == "removed" and view["purgedAt"] and view["program"] is None
