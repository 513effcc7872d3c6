"""Issue 15's scripted story, told to the running service (web, a Celery worker, Redis) by the fake Wix,
and the console's Overview page (7 days) in a real Chromium showing exactly the numbers the story makes.

The programme: a daily order streak whose 2-day milestone gives a 10% coupon. The story, one webhook at a
time, each processed before the next (a member's orders oldest first: the late-log grace is 72 h):
- Ann pays 2 days ago and 1 day ago: her milestone, her coupon issued (the fake Wix creates it);
- Ben pays 1 day ago;
- Ann pays today, 40.00 USD, with her coupon's code in `appliedDiscounts[].coupon.code`: it is redeemed;
  that webhook is then delivered twice more (same event id): nothing changes;
- Ben pays today, handled by a worker with the wrong app secret (Wix refuses it a token): his milestone's
  coupon fails for good; the right worker comes back;
- Cy pays today.
The numbers are computed here from the story, never read back from the API. The page draws its charts;
axe-core finds nothing serious. A screenshot goes to tests/artifacts/console-overview-story.png."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

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
from worker.wix.fake.payloads import EventOptions, build_payload
from worker.wix.webhook_signing import sign_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000c0a5"
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
PLAIN_TOTAL = Decimal("10.00")  # every order's total but the redeeming one
REDEEMING_TOTAL = Decimal("40.00")
PROGRAMME = daily_programme(2)


@dataclass
class Told:
    """What the story did, as the test counts it (the expectations are derived from this alone)."""

    orders: list[tuple[str, int, Decimal, bool]] = field(
        default_factory=list
    )  # who, days ago, total, engaged
    webhooks: int = 0  # distinct webhooks handled (the install included), redeliveries not
    redeliveries: int = 0
    coupon_code: str = ""
    handled_on: list[date] = field(default_factory=list)  # the UTC day each webhook was handled


def order_token(wix: FakeWixProcess, contact: str, days_ago: int, total: Decimal, code: str | None) -> str:
    """Wix's signed webhook (the fake's payload builder) for an order `contact` paid `days_ago` days ago."""
    options = EventOptions(
        order_id=str(uuid.uuid4()),
        contact_id=contact,
        total=str(total),
        coupon_code=code,
        event_time=(datetime.now(UTC) - timedelta(days=days_ago)).timestamp(),
    )
    key = load_pem_private_key(wix.private_key.read_bytes(), password=None)
    return sign_webhook(key, ORDER_PAID, SITE, build_payload(ORDER_PAID, options))  # type: ignore[arg-type]


def deliver(api: str, token: str) -> str:
    answer = httpx.post(f"{api}/webhooks/wix", content=token, timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def event_id(token: str) -> str:
    """The inner payload's id (how the journal names the event), from the signed token's claims."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(json.loads(json.loads(claims["data"])["data"])["id"])


def processed(console: Console, token: str) -> None:
    path = f"/instances/{SITE}/events/{event_id(token)}"
    wait_for(lambda: console.admin("GET", path).json().get("status") == "processed", 40, "the event")


def reward_logs(console: Console) -> list[dict[str, Any]]:
    answer = console.admin("GET", f"/instances/{SITE}/reward-logs")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["rewardLogs"])


def status_of(console: Console, contact: str) -> str | None:
    found = [log["status"] for log in reward_logs(console) if log["contactId"] == contact]
    return found[0] if found else None


@pytest.fixture(scope="module")
def story(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[tuple[Console, Told]]:  # noqa: F811
    """The running service after the story (see the module's docstring), and what the story did."""
    told = Told()

    def pays(
        who: str, days_ago: int, engaged: bool, total: Decimal = PLAIN_TOTAL, code: str | None = None
    ) -> str:
        """`engaged`: the story's own judgement, whether `who` had a streak run going before this order."""
        token = order_token(fake_wix, who, days_ago, total, code)
        assert deliver(console.api, token) == "queued"
        processed(console, token)
        told.orders.append((who, days_ago, total, engaged))
        told.webhooks += 1
        told.handled_on.append(datetime.now(UTC).date())
        return token

    with console_stack(fake_wix, module_redis_url) as console:
        console.install(SITE)
        told.webhooks += 1  # the fake's AppInstalled webhook
        told.handled_on.append(datetime.now(UTC).date())
        console.publish(SITE, PROGRAMME)

        pays("ann", 2, engaged=False)
        pays("ann", 1, engaged=True)  # her run from 2 days ago is alive: her 2-day milestone
        wait_for(lambda: status_of(console, "ann") == "issued", 40, "Ann's coupon")
        [ann_coupon] = fake_wix.control("GET", f"instances/{SITE}/coupons")["coupons"]
        told.coupon_code = ann_coupon["specification"]["code"]
        pays("ben", 1, engaged=False)
        redeeming = pays("ann", 0, engaged=True, total=REDEEMING_TOTAL, code=told.coupon_code)
        wait_for(lambda: status_of(console, "ann") == "redeemed", 40, "Ann's coupon to be redeemed")
        for _ in range(2):  # Wix redelivers the very same webhook
            assert deliver(console.api, redeeming) == "duplicate"
            told.redeliveries += 1

        console.stop_worker()
        sync_client(module_redis_url).delete(keys.wix_token(SITE))  # the broken worker must ask for one
        console.use_worker(WIX_APP_SECRET="not-the-secret")
        pays("ben", 0, engaged=True)  # his run from yesterday is alive: his milestone, whose coupon fails
        wait_for(lambda: status_of(console, "ben") == "failed", 60, "Ben's reward to fail")
        console.use_worker()

        pays("cy", 0, engaged=False)
        yield console, told


def two_days_running(told: Told, who: str) -> bool:
    """Whether `who` paid on two consecutive days (the milestone: once per run, and no run here reaches 4)."""
    days = {ago for member, ago, _, _ in told.orders if member == who}
    return any(ago + 1 in days for ago in days)


def by_day_counts(days: list[date]) -> list[str]:
    """The 7-day table's column, oldest first, of the things counted on `days` (today last)."""
    today = datetime.now(UTC).date()
    return [str(sum(1 for day in days if day == today - timedelta(days=ago))) for ago in range(6, -1, -1)]


def card(tab: Tab, key: str) -> str:
    return str(tab.page.locator(f'[data-card="{key}"] .card-value').inner_text()).strip()


def table(tab: Tab, table_id: str) -> list[list[str]]:
    rows = tab.page.locator(f"#{table_id} tbody tr")
    return [
        [str(text).strip() for text in rows.nth(index).locator("th, td").all_text_contents()]
        for index in range(rows.count())
    ]


def open_overview(tab: Tab, console: Console) -> None:
    tab.page.goto(console.entry(signed(SITE)))
    tab.page.get_by_role("link", name="Overview", exact=True).click()
    tab.page.get_by_role("heading", name="Overview", level=1).wait_for()


class TestTheStoryOnTheOverview:
    def test_the_cards_tables_and_funnel_hold_the_storys_numbers(
        self, story: tuple[Console, Told], tab: Tab, artifacts: Path
    ) -> None:
        console, told = story
        open_overview(tab, console)
        assert tab.page.locator('.periods a[aria-current="page"]').inner_text() == "7 days"
        members = {who for who, _, _, _ in told.orders}
        # Ann and Ben each paid two days running (the milestone); Ann's coupon issued then redeemed, Ben's
        # failed; nothing expired, no points in this programme.
        milestones = sum(1 for who in members if two_days_running(told, who))
        assert (len(told.orders), len(members), milestones, told.redeliveries) == (6, 3, 2, 2)
        engaged = sum((total for _, _, total, is_engaged in told.orders if is_engaged), Decimal(0))

        assert card(tab, "events") == str(told.webhooks)  # 7: the install and 6 orders, not the redeliveries
        assert card(tab, "orders") == str(len(told.orders))
        assert card(tab, "members") == str(len(members))
        assert card(tab, "logs") == str(len(told.orders))  # each order one log, none late, none repeated
        assert card(tab, "milestones") == str(milestones)
        rewards = {
            s: card(tab, f"rewardLogs.{s}") for s in ("created", "issued", "redeemed", "expired", "failed")
        }
        assert rewards == {"created": "2", "issued": "1", "redeemed": "1", "expired": "0", "failed": "1"}
        assert card(tab, "pointsEarned") == "0"
        assert card(tab, "redemptionRate") == "100.0%"  # 1 redeemed of 1 issued
        assert card(tab, "revenue.redeemed") == f"{REDEEMING_TOTAL:,.2f} USD"
        assert card(tab, "revenue.engaged") == f"{engaged:,.2f} USD"  # Ann's 2nd and 3rd, Ben's 2nd: 60.00
        assert [row[:2] for row in table(tab, "chart-funnel-table")] == [
            ["Logged", "3"],
            ["Reached a milestone", "2"],
            ["Were issued a reward", "1"],  # Ben's reward was never issued
            ["Redeemed it", "1"],
        ]
        # day by day: every effect is counted on the UTC day it happened (today, unless the run crossed
        # midnight UTC), whatever the eventTime
        orders_on = told.handled_on[1:]  # the install first, then one webhook an order
        first_seen = {
            who: day for (who, _, _, _), day in reversed(list(zip(told.orders, orders_on, strict=True)))
        }
        for key, days in (
            ("events", told.handled_on),
            ("orders", orders_on),
            ("members", list(first_seen.values())),
        ):
            by_day = table(tab, f"chart-{key}-table")
            assert [count for _, count in by_day] == by_day_counts(days), key
        # each member started one run (Ann 2 days ago, Ben yesterday, Cy today), all alive: they paid today
        runs = {s: card(tab, f"streaks.{s}") for s in ("started", "alive", "broken")}
        assert runs == {"started": "3", "alive": "3", "broken": "0"}
        item = tab.page.locator('[data-item="streak:daily"]')
        assert item.locator('td[data-column="Logs"]').inner_text() == "6"

        # the charts are drawn and seen
        for chart in ("chart-orders", "chart-members", "chart-funnel"):
            svg = tab.page.locator(f"svg#{chart}")
            assert svg.is_visible() and svg.bounding_box()["height"] > 100, chart
        steps = tab.page.locator("svg#chart-funnel rect.funnel-step")
        widths = [steps.nth(index).bounding_box()["width"] for index in range(steps.count())]
        assert len(widths) == 4 and widths[0] > widths[1] > widths[2] > 0 and widths[2] == widths[3]
        tab.page.screenshot(path=str(artifacts / "console-overview-story.png"), full_page=True)
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation(self, story: tuple[Console, Told], browser: Any) -> None:
        """The Overview with the story's numbers, the tables' `<details>` opened; the context bypasses CSP
        only to inject axe-core."""
        console, _ = story
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            page.goto(f"{console.api}/dashboard/sites/{SITE}/overview?days=7&session={quote(session)}")
            for summary in page.locator("details.chart-data summary").all():
                summary.click()
            assert serious_violations(page, axe) == []
        finally:
            context.close()
