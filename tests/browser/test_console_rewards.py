"""The console's Rewards page in a real Chromium, against the running service (web, a Celery worker, Redis)
and the fake Wix: a site installed through the fake's AppInstalled webhook, a daily order streak whose
first day earns a coupon, Wix-signed order webhooks. Ann's coupon is issued; Ben's fails for good (his
order is handled by a worker with the wrong app secret, so Wix refuses it a token: the task is parked and
the reward log marked `failed`), then the right worker comes back. On the page, filtering by `failed`
shows Ben's reward alone; "Send again" double-clicked, then clicked again in a second tab opened on the
same list, fulfils it once (one fulfilment task run, one coupon in the fake Wix, one audit entry) and it
becomes `issued`; the CSV of the `issued` filter holds
both coupons; axe-core finds nothing serious. A screenshot goes to tests/artifacts/console-rewards.png."""

from __future__ import annotations

import copy
import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests import wix_samples
from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, daily_programme, signed
from tests.browser.harness import AXE, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    FakeWixProcess,
    fake_wix,
    module_redis_url,
    wait_for,
)
from worker import keys
from worker.infra.redis_client import sync_client
from worker.rewards.fulfilment import coupon_code
from worker.wix.webhook_signing import sign_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000c017"
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
FULFILLED = "rewards.fulfil_reward|succeeded"
PROGRAMME = daily_programme(1)


def post_paid(api: str, wix: FakeWixProcess, contact: str) -> None:
    """Wix's signed webhook for an order `contact` paid now."""
    payload = copy.deepcopy(wix_samples.payment_status_updated(str(uuid.uuid4())))
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = str(uuid.uuid4())
    order["buyerInfo"]["contactId"] = contact
    payload["eventTime"] = datetime.now(UTC).isoformat()
    key = load_pem_private_key(wix.private_key.read_bytes(), password=None)
    token = sign_webhook(key, ORDER_PAID, SITE, payload)  # type: ignore[arg-type]
    answer = httpx.post(f"{api}/webhooks/wix", content=token, timeout=5)
    assert answer.json() == {"status": "queued"}, answer.text


def reward_logs(console: Console, **filters: str) -> list[dict[str, Any]]:
    answer = console.admin("GET", f"/instances/{SITE}/reward-logs", params=filters)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["rewardLogs"])


def status_of(console: Console, contact: str) -> str | None:
    found = [r["status"] for r in reward_logs(console) if r["contactId"] == contact]
    return found[0] if found else None


@pytest.fixture(scope="module")
def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    """Web and a worker; the site installed, the programme live; Ann's coupon issued, Ben's failed (a
    worker with the wrong app secret), then the right worker back."""
    with console_stack(fake_wix, module_redis_url) as console:
        console.install(SITE)
        console.publish(SITE, PROGRAMME)
        post_paid(console.api, fake_wix, "ann")
        wait_for(lambda: status_of(console, "ann") == "issued", 40, "Ann's coupon")
        console.stop_worker()
        sync_client(module_redis_url).delete(keys.wix_token(SITE))  # the broken worker must ask for one
        console.use_worker(WIX_APP_SECRET="not-the-secret")
        post_paid(console.api, fake_wix, "ben")
        wait_for(lambda: status_of(console, "ben") == "failed", 60, "Ben's reward to fail")
        console.use_worker()
        yield console


def fulfilled(client: Any) -> int:
    return int(client.hget(keys.TASK_OUTCOMES, FULFILLED) or 0)


class TestRewardsPage:
    def test_a_failed_reward_is_found_sent_again_once_and_exported(
        self,
        console: Console,
        fake_wix: FakeWixProcess,  # noqa: F811
        tab: Tab,
        artifacts: Path,
        module_redis_url: str,  # noqa: F811
    ) -> None:
        client = sync_client(module_redis_url)
        page = tab.page
        page.goto(console.entry(signed(SITE)))
        page.get_by_role("link", name="Rewards", exact=True).click()
        page.get_by_role("heading", name="Rewards", level=1).wait_for()
        assert page.locator("#rewards tbody tr[data-reward-log]").count() == 2

        page.get_by_label("Status").select_option("failed")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**status=failed**")
        failed_rows = page.locator("#rewards tbody tr[data-reward-log]")
        assert failed_rows.count() == 1
        [ben] = reward_logs(console, status="failed")
        assert ben["contactId"] == "ben" and "401" in failed_rows.first.inner_text()

        page.screenshot(path=str(artifacts / "console-rewards.png"), full_page=True)
        before = fulfilled(client)
        posts: list[str] = []
        page.context.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        second = page.context.new_page()  # the same list in a second tab: the button posted again
        second.goto(page.url)
        page.get_by_role("button", name=f"Send reward {ben['id']} again").dblclick()
        assert "Sent again" in page.get_by_role("status").inner_text()
        second.get_by_role("button", name=f"Send reward {ben['id']} again").click()
        assert "Nothing sent" in second.get_by_role("status").inner_text()
        assert len(posts) == 2 and all(url.endswith("/send-again") for url in posts)
        wait_for(lambda: status_of(console, "ben") == "issued", 40, "Ben's reward sent again")
        wait_for(lambda: fulfilled(client) >= before + 1, 20, "the fulfilment task to be counted")
        time.sleep(3)  # a second task, had one been sent, would have run by now (one idle worker)
        assert fulfilled(client) == before + 1
        codes = [
            c["specification"]["code"]
            for c in fake_wix.control("GET", f"instances/{SITE}/coupons")["coupons"]
        ]
        assert codes.count(coupon_code(ben["id"])) == 1 and len(codes) == 2
        audit = console.admin("GET", f"/instances/{SITE}/audit-log").json()
        entries = audit["entries"] if isinstance(audit, dict) else audit
        assert [e["action"] for e in entries].count("reward_sent_again") == 1

        assert page.locator("#rewards tbody tr[data-reward-log]").count() == 0  # none failed now
        page.get_by_role("link", name="Rewards", exact=True).click()
        page.get_by_label("Status").select_option("issued")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**status=issued**")
        assert page.locator("#rewards tbody tr[data-status=issued]").count() == 2
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
        assert table[0][:4] == ["Created (UTC)", "Reward log", "Contact", "Status"]
        assert sorted(row[2] for row in table[1:]) == ["ann", "ben"]
        assert {row[3] for row in table[1:]} == {"issued"}
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation(self, console: Console, browser: Any) -> None:
        """The list and a refused filter (422); the context bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            base = f"{console.api}/dashboard/sites/{SITE}/rewards"
            for query in ({"session": session}, {"session": session, "from": "not-a-date"}):
                page.goto(f"{base}?{httpx.QueryParams(query)}")
                assert serious_violations(page, axe) == [], query
        finally:
            context.close()
