"""The console's Preview page in a real Chromium, against the running service (web, one worker, Redis) and
the fake Wix: a site installed through the fake's AppInstalled webhook, a live programme (a daily order
streak, a reward at 3 days), Wix-signed order webhooks over HTTP journaled by the worker; a draft lowering
the target to 2 days. The page (opened from the Programme page's link) shows the draft's streak giving
more reward logs than live, and Redis is the same after it as before; axe-core finds nothing serious.
A screenshot goes to tests/artifacts/console-preview.png (gitignored)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from tests.redis_dump import dump
from worker.dev.programs import MANUAL
from worker.infra.redis_client import sync_client
from worker.wix.webhook_signing import sign_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000c016"
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
# Days ago each member paid an order: Ann three days running, Ben two, Cy one.
ORDERS = {"ann": (5, 4, 3), "ben": (2, 1), "cy": (1,)}


def programme(days: int) -> dict[str, Any]:
    """The daily order streak whose reward (given by hand: no Wix call) comes at `days` days."""
    return daily_programme(days, MANUAL)


def post_paid(console: Console, wix: FakeWixProcess, contact: str, days_ago: int) -> str:
    """Wix's signed webhook for an order `contact` paid `days_ago` days ago; its event id."""
    payload = copy.deepcopy(wix_samples.payment_status_updated(str(uuid.uuid4())))
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = str(uuid.uuid4())
    order["buyerInfo"]["contactId"] = contact
    payload["eventTime"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    key = load_pem_private_key(wix.private_key.read_bytes(), password=None)
    token = sign_webhook(key, ORDER_PAID, SITE, payload)  # type: ignore[arg-type]
    answer = httpx.post(f"{console.api}/webhooks/wix", content=token, timeout=5)
    assert answer.json() == {"status": "queued"}, answer.text
    return str(payload["id"])


def processed(console: Console, event_id: str) -> None:
    def done() -> bool:
        return (
            console.admin("GET", f"/instances/{SITE}/events/{event_id}").json().get("status") == "processed"
        )

    wait_for(done, 40, f"event {event_id} to be processed")


def settled(client: Any) -> str:
    """Redis's whole content once it stops changing (the worker done with what it was sent)."""
    last = {"text": dump(client), "at": time.monotonic()}

    def still() -> bool:
        now = dump(client)
        if now != last["text"]:
            last.update(text=now, at=time.monotonic())
        return time.monotonic() - last["at"] >= 1.5

    wait_for(still, 30, "Redis to stop changing", interval=0.25)
    return str(last["text"])


@pytest.fixture(scope="module")
def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    """Web and one worker; the site installed by the fake Wix, the programme at 3 days live, the orders
    journaled, and a draft at 2 days saved."""
    with console_stack(fake_wix, module_redis_url) as console:
        console.install(SITE)
        console.publish(SITE, programme(3))
        sent = [post_paid(console, fake_wix, who, ago) for who, days in ORDERS.items() for ago in days]
        for event_id in sent:
            processed(console, event_id)
        draft = console.admin("PUT", f"/instances/{SITE}/program/draft", content=json.dumps(programme(2)))
        assert draft.status_code == 200, draft.text
        yield console


def cell(tab: Tab, measure: str, side: str) -> str:
    """One cell of the daily streak's table, as the page shows it."""
    row = tab.page.locator(f'[data-item="streak:daily"] tr[data-measure="{measure}"]')
    return str(row.locator(f"td.{side}").inner_text()).strip()


class TestPreview:
    def test_the_draft_with_a_lower_target_shows_more_reward_logs_and_writes_nothing(
        self,
        console: Console,
        tab: Tab,
        artifacts: Path,
        module_redis_url: str,  # noqa: F811
    ) -> None:
        """Live (3 days): Ann's run alone is rewarded; the draft (2 days): Ann's and Ben's. The page is
        opened from the Programme page's link; Redis is the same before and after it."""
        client = sync_client(module_redis_url)
        tab.page.goto(console.entry(signed(SITE)))
        tab.page.get_by_role("link", name="Programme", exact=True).click()
        before = settled(client)
        tab.page.get_by_role("link", name="Preview the draft").click()
        tab.page.get_by_role("heading", name="Preview", level=1).wait_for()
        assert tab.page.locator("nav a[aria-current=page]").inner_text() == "Preview"
        summary = tab.page.locator("#preview-summary").inner_text()
        # the six orders, and the install's own event (journaled too, of no member)
        assert "events of 3 members" in summary and "saved by admin" in summary
        assert (cell(tab, "rewardLogs", "live"), cell(tab, "rewardLogs", "draft")) == ("1", "2")
        assert cell(tab, "rewardLogs", "change") == "+1"
        assert (
            cell(tab, "rewardLogsByKind.manual", "live"),
            cell(tab, "rewardLogsByKind.manual", "draft"),
        ) == (
            "1",
            "2",
        )
        assert (cell(tab, "members", "live"), cell(tab, "members", "draft")) == ("3", "3")
        assert cell(tab, "coupons", "change") == "no change"
        tab.page.screenshot(path=str(artifacts / "console-preview.png"), full_page=True)
        assert dump(client) == before  # the replay wrote nothing: no progress, no reward, no task
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation(self, console: Console, browser: Any) -> None:
        """The Preview page with its tables; the context bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            page.goto(f"{console.api}/dashboard/sites/{SITE}/preview?session={quote(session)}")
            assert page.locator('[data-item="streak:daily"]').count() == 1
            assert serious_violations(page, axe) == []
        finally:
            context.close()
