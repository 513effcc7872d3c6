"""The console's Overview page in a real Chromium, against the running service (web, one worker, Redis) and
the fake Wix: a site installed through the fake's AppInstalled webhook, a live programme (a daily order
streak, a reward given by hand at 2 days), Wix-signed order webhooks over HTTP: Ann pays three days
running, Ben two, Cy one. The page (opened from the nav) draws its charts, its cards and tables hold the
numbers the admin API's analytics answer has, and those are the counts the story makes (6 orders by 3
members, 2 milestones); the 30 days link redraws for 30 days; axe-core finds nothing serious.
A screenshot goes to tests/artifacts/console-overview.png (gitignored)."""

from __future__ import annotations

import copy
import json
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
from worker.console.overview import count
from worker.dev.programs import MANUAL
from worker.wix.webhook_signing import sign_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000c015"
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
# Days ago each member paid an order: Ann three days running, Ben two, Cy one (all within the programme's
# late-log grace, 72 hours after a day's end: an older log would not count).
ORDERS = {"ann": (2, 1, 0), "ben": (1, 0), "cy": (0,)}


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
        answer = console.admin("GET", f"/instances/{SITE}/events/{event_id}")
        return bool(answer.json().get("status") == "processed")

    wait_for(done, 40, f"event {event_id} to be processed")


@pytest.fixture(scope="module")
def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    """Web and one worker; the site installed by the fake Wix, the programme live, the orders processed."""
    with console_stack(fake_wix, module_redis_url) as console:
        console.install(SITE)
        console.publish(SITE, daily_programme(2, MANUAL))
        for who, days in ORDERS.items():  # one at a time, oldest first: a late log would not count
            for ago in days:
                processed(console, post_paid(console, fake_wix, who, ago))
        yield console


def analytics(console: Console, days: int) -> dict[str, Any]:
    answer = console.admin("GET", f"/instances/{SITE}/analytics", params={"days": days})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def card(tab: Tab, key: str) -> str:
    return str(tab.page.locator(f'[data-card="{key}"] .card-value').inner_text()).strip()


def table(tab: Tab, table_id: str) -> list[list[str]]:
    """A chart's table as the page has it (its `<details>` need not be open to be read)."""
    rows = tab.page.locator(f"#{table_id} tbody tr")
    return [
        [str(text).strip() for text in rows.nth(index).locator("th, td").all_text_contents()]
        for index in range(rows.count())
    ]


class TestOverview:
    def test_the_page_draws_the_charts_with_the_apis_numbers(
        self, console: Console, tab: Tab, artifacts: Path
    ) -> None:
        tab.page.goto(console.entry(signed(SITE)))
        tab.page.get_by_role("link", name="Overview", exact=True).click()
        tab.page.get_by_role("heading", name="Overview", level=1).wait_for()
        assert tab.page.locator("nav a[aria-current=page]").first.inner_text() == "Overview"
        answer = analytics(console, 7)
        totals = answer["totals"]
        # the story's own counts, then the page beside the API's answer
        assert (totals["orders"], totals["members"], totals["logs"]) == (6, 3, 6)
        assert (totals["milestones"], totals["rewardLogs"]["created"]) == (2, 2)
        assert answer["funnel"]["logged"] == 3 and answer["funnel"]["milestone"] == 2
        for key in ("events", "orders", "members", "logs", "milestones", "pointsEarned"):
            assert card(tab, key) == count(totals[key]), key
        for status in ("created", "issued", "redeemed", "expired", "failed"):
            assert card(tab, f"rewardLogs.{status}") == count(totals["rewardLogs"][status]), status
        series = answer["series"]
        assert table(tab, "chart-orders-table") == [[day["date"], count(day["orders"])] for day in series]
        assert table(tab, "chart-members-table") == [[day["date"], count(day["members"])] for day in series]
        funnel = [row[:2] for row in table(tab, "chart-funnel-table")]
        assert funnel == [
            ["Logged", "3"],
            ["Reached a milestone", "2"],
            ["Were issued a reward", count(answer["funnel"]["issued"])],
            ["Redeemed it", count(answer["funnel"]["redeemed"])],
        ]
        assert tab.page.locator('[data-item="streak:daily"] td[data-column="Logs"]').inner_text() == "6"
        # the charts are drawn and seen: 6 orders make bars; the funnel's first step is its widest
        orders = tab.page.locator("svg#chart-orders")
        assert orders.is_visible() and orders.bounding_box()["height"] > 100
        assert tab.page.locator("svg#chart-orders rect.bar").count() == 7
        heights = [float(h) for h in tab.page.locator("svg#chart-orders rect.bar").evaluate_all(
            "bars => bars.map(bar => bar.getAttribute('height'))")]  # fmt: skip
        assert sum(1 for height in heights if height > 0) == sum(1 for day in series if day["orders"])
        steps = tab.page.locator("svg#chart-funnel rect.funnel-step")
        widths = [steps.nth(index).bounding_box()["width"] for index in range(steps.count())]
        assert widths[0] > widths[1] > 0
        assert tab.page.locator("svg#chart-items-logs rect.item-streak").is_visible()
        tab.page.screenshot(path=str(artifacts / "console-overview.png"), full_page=True)
        # the period links: 30 days redraws with thirty days, the same totals
        tab.page.get_by_role("link", name="30 days").click()
        tab.page.locator('.periods a[aria-current="page"]', has_text="30 days").wait_for()
        assert len(table(tab, "chart-orders-table")) == 30
        assert card(tab, "orders") == "6"
        with tab.page.expect_download() as download:
            tab.page.get_by_role("link", name="Download CSV").click()
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("date,events,orders") and len(lines) == 31
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation(self, console: Console, browser: Any) -> None:
        """The Overview page with its charts and tables (the tables' `<details>` opened); the context
        bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            page.goto(f"{console.api}/dashboard/sites/{SITE}/overview?days=7&session={quote(session)}")
            assert page.locator("svg.chart").count() >= 8  # and 3 comparisons once there are items
            for summary in page.locator("details.chart-data summary").all():
                summary.click()
            assert serious_violations(page, axe) == []
        finally:
            context.close()
