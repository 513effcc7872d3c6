"""The console's Members pages in a real Chromium, against the running service (web, one worker, Redis) and
the fake Wix: a member found by email; their page shows the timeline of the real webhooks the stack
processed; a grant clicked twice (and its form posted again) makes one reward log, which the worker
issues as a coupon in Wix; a points change submitted twice is one Wix transaction; pausing makes the
widget's `/me` say `paused`; another site's session gets a 403; axe-core finds nothing serious.
A screenshot of the member page goes to tests/artifacts/console-member.png."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests import wix_samples
from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, daily_programme, signed
from tests.browser.harness import AXE, Embed, PageServer, member_page, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    FakeWixProcess,
    fake_wix,
    module_redis_url,
    run_job_over_http,
    wait_for,
)
from worker.engine.storefront import BUILT_IN_COPY
from worker.wix.webhook_signing import sign_webhook

SITE = "6b1e6a2c-0000-4000-8000-00000000d015"
OTHER_SITE = "6b1e6a2c-0000-4000-8000-00000000d016"
WIDGET_TOKEN_SECRET = "browser-tests-widget-secret-0123456789abcdef"
EMAIL = "ada.member@example.com"
PROGRAM = daily_programme(5)


class Site:
    """The running service (`console`) and the site member the tests look at."""

    def __init__(self, console: Console) -> None:
        self.console, self.api, self.wix = console, console.api, console.fake_wix
        self.contact_id, self.member_id = f"contact-{uuid.uuid4()}", f"member-{uuid.uuid4()}"
        self.event_ids: list[str] = []

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.console.admin(method, path, **kwargs)

    def entry(self, instance_id: str = SITE) -> str:
        return self.console.entry(signed(instance_id))

    def order_paid(self) -> None:
        """A real order-paid webhook for the member, signed with the fake Wix's key, processed."""
        paid = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        paid["eventTime"] = datetime.now(UTC).isoformat()
        order = paid["actionEvent"]["body"]["order"]
        order["id"] = paid["entityId"] = str(uuid.uuid4())
        order["buyerInfo"]["contactId"] = self.contact_id
        key = load_pem_private_key(self.wix.private_key.read_bytes(), password=None)
        token = sign_webhook(key, "wix.ecom.v1.order_payment_status_updated", SITE, paid)  # type: ignore[arg-type]
        assert httpx.post(f"{self.api}/webhooks/wix", content=token, timeout=10).json() == {
            "status": "queued"
        }
        self.event_ids.append(paid["id"])
        wait_for(
            lambda: (
                self.admin("GET", f"/instances/{SITE}/events/{paid['id']}").json().get("status")
                == "processed"
            ),
            30,
            "the worker to process the order",
        )

    def wix_state(self) -> dict[str, Any]:
        return self.wix.control("GET", f"instances/{SITE}")  # type: ignore[no-any-return]

    def wix_token(self) -> str:
        """A Wix access token for the site member, as Wix hands a site widget."""
        answer = self.wix.control(
            "POST", f"instances/{SITE}/member-tokens", json={"memberId": self.member_id}
        )
        return str(answer["token"])

    def me(self) -> dict[str, Any]:
        """The widget's `/me` for the member, through a real widget session."""
        session = httpx.post(
            f"{self.api}/widget/v1/session",
            headers={"authorization": self.wix_token()},
            json={"accountId": SITE},
            timeout=10,
        )
        assert session.status_code == 200, session.text
        me = httpx.get(
            f"{self.api}/widget/v1/me",
            headers={"authorization": f"Bearer {session.json()['token']}"},
            timeout=10,
        )
        assert me.status_code == 200, me.text
        return me.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def site(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Site]:  # noqa: F811
    """Web and one worker; the site installed by the fake Wix, its programme published, a site member
    (known by email after the bootstrap job) with two paid orders processed."""
    with console_stack(fake_wix, module_redis_url, WIDGET_TOKEN_SECRET=WIDGET_TOKEN_SECRET) as console:
        site = Site(console)
        console.install(SITE, OTHER_SITE)
        console.publish(SITE, PROGRAM)
        fake_wix.control(
            "POST",
            f"instances/{SITE}/members",
            json={"id": site.member_id, "contactId": site.contact_id, "loginEmail": EMAIL},
        )
        assert run_job_over_http(console.api, SITE, {"name": "bootstrap"})["status"] == "succeeded"
        site.order_paid()
        site.order_paid()
        yield site


def headers_of(tab: Tab) -> dict[str, str]:
    """The page's console session and CSRF token (htmx's headers)."""
    return json.loads(str(tab.page.locator("body").get_attribute("hx-headers")))  # type: ignore[no-any-return]


def session_of(tab: Tab) -> str:
    return headers_of(tab)["X-Console-Session"]


def open_member(site: Site, tab: Tab) -> None:
    """Signed in through Wix, the Members page, the member found by email, their page opened."""
    tab.page.goto(site.entry())
    tab.page.get_by_role("link", name="Members").click()
    tab.page.get_by_label("Email or contact id").fill(EMAIL.upper())
    tab.page.get_by_role("button", name="Find").click()
    tab.page.locator("#found-member").click()
    tab.page.get_by_role("heading", level=1, name=f"Member {site.contact_id}").wait_for()


def form_fields(tab: Tab, form: str) -> dict[str, str]:
    inputs = tab.page.locator(f"{form} input[name], {form} select[name]")
    return {
        str(inputs.nth(i).get_attribute("name")): inputs.nth(i).input_value() for i in range(inputs.count())
    }


class TestMemberPage:
    def test_found_by_email_the_page_shows_the_timeline_and_wix_points(
        self, site: Site, tab: Tab, artifacts: Path
    ) -> None:
        """Both orders in the timeline, newest first, each counted for the streak; the points from Wix;
        an unknown email says there is no such member."""
        tab.page.goto(site.entry())
        tab.page.get_by_role("link", name="Members").click()
        tab.page.get_by_label("Email or contact id").fill("nobody@example.com")
        tab.page.get_by_role("button", name="Find").click()
        assert "No such member" in tab.page.get_by_role("alert").inner_text()
        open_member(site, tab)
        rows = tab.page.locator("#timeline-table tbody tr")
        assert [rows.nth(i).get_attribute("data-event") for i in range(rows.count())] == site.event_ids[::-1]
        assert "order_paid" in rows.first.inner_text() and "daily: counted" in rows.first.inner_text()
        assert tab.page.locator("#member-email").inner_text() == EMAIL
        assert tab.page.locator("#member-points").inner_text() == "0"  # the bootstrap opened the account
        run = tab.page.locator("#streaks tbody tr").first.inner_text().split("\t")
        assert run[:3] == ["current", "in_progress", "1"]  # two orders on one day: one day of the run
        tab.page.screenshot(path=str(artifacts / "console-member.png"), full_page=True)
        assert tab.errors() == []

    def test_a_grant_and_a_points_change_each_happen_once_when_sent_twice(self, site: Site, tab: Tab) -> None:
        """Double-clicked, then the same form posted again: one reward log (issued by the worker as a
        coupon in Wix), one loyalty transaction of +50 with the reason; each audited once."""
        open_member(site, tab)
        grant = form_fields(tab, "#grant-form")
        tab.page.locator("#grant-button").dblclick()
        tab.page.get_by_role("status").filter(has_text="5 days running").wait_for()
        again = httpx.post(f"{site.api}/dashboard/sites/{SITE}/members/{site.contact_id}/grant", data=grant)
        assert again.status_code == 200 and "already made" in again.text

        tab.page.get_by_label("Points (+ or \u2212)").fill("50")
        tab.page.get_by_label("Reason").fill("Sorry for the late parcel")
        points = form_fields(tab, "#points-form")
        tab.page.locator("#points-button").dblclick()
        tab.page.get_by_role("status").filter(has_text="+50 points").wait_for()
        again = httpx.post(f"{site.api}/dashboard/sites/{SITE}/members/{site.contact_id}/points", data=points)
        assert again.status_code == 200 and "already made" in again.text

        def issued_and_earned() -> bool:
            tab.page.reload()
            logs = tab.page.locator("#reward-logs tbody tr")
            return (
                logs.count() == 1
                and "issued" in logs.first.inner_text()
                and (tab.page.locator("#member-points").inner_text() == "50")
            )

        wait_for(issued_and_earned, 30, "the worker to issue the coupon and earn the points in Wix")
        assert "granted by hand" in tab.page.locator("#reward-logs tbody tr").first.inner_text()
        state = site.wix_state()
        assert len(state["coupons"]) == 1
        (transaction,) = [
            t for t in state["transactions"] if t.get("description") == "Sorry for the late parcel"
        ]
        assert transaction["amount"] == 50
        entries = site.admin("GET", f"/instances/{SITE}/audit-log").json()["entries"]
        audit = [entry["action"] for entry in entries]
        assert audit.count("member_reward_granted") == 1 and audit.count("member_points_adjusted") == 1
        assert {entry["who"] for entry in entries if entry["action"].startswith("member_")} == {"owner-1"}
        assert tab.errors() == []

    def test_pause_shows_in_the_widget_and_another_sites_session_is_refused(
        self, site: Site, tab: Tab, pages: PageServer, browser: Any
    ) -> None:
        """Paused: `/me` says so and the widget on the shop shows the `memberPaused` note; resumed: `live`.
        Site B's session cannot open site A's member page, nor pause the member."""
        open_member(site, tab)
        tab.page.get_by_role("button", name="Pause in the programme").click()
        tab.page.get_by_role("status").filter(has_text="Paused").wait_for()
        assert tab.page.locator("#member-status").inner_text() == "paused"
        assert site.me()["status"] == "paused"
        shop = browser.new_context()
        try:
            shopper = shop.new_page()
            embed = Embed(api=site.api, account=SITE)
            shopper.goto(member_page(pages, "paused-member", embed, site.wix_token()))
            shopper.locator("wix-rewards-widget[data-state=ready]").wait_for(state="attached")
            shopper.locator("wix-rewards-widget .launcher").click()
            note = shopper.locator("wix-rewards-widget [role=dialog] .paused")
            assert note.inner_text() == BUILT_IN_COPY["en"]["memberPaused"]
        finally:
            shop.close()
        tab.page.get_by_role("button", name="Resume in the programme").click()
        tab.page.get_by_role("status").filter(has_text="Resumed").wait_for()
        assert site.me()["status"] == "live"

        tab.page.goto(site.entry(OTHER_SITE))
        other, csrf = headers_of(tab)["X-Console-Session"], headers_of(tab)["X-CSRF-Token"]
        answer = tab.page.goto(
            f"{site.api}/dashboard/sites/{SITE}/members/{site.contact_id}?session={quote(other)}"
        )
        assert answer is not None and answer.status == 403
        assert "another site" in tab.page.get_by_role("alert").inner_text()
        refused = httpx.post(
            f"{site.api}/dashboard/sites/{SITE}/members/{site.contact_id}/status",
            data={"session": other, "csrf": csrf, "status": "paused", "action_id": "X" * 24},
        )
        assert refused.status_code == 403 and "another site" in refused.text
        assert site.me()["status"] == "live"

    def test_axe_finds_no_serious_violation(self, site: Site, browser: Any) -> None:
        """The Members page with a refusal, and the member page; the context bypasses CSP only to inject
        axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            tab = Tab(page)
            open_member(site, tab)
            session = quote(session_of(tab))
            base = f"{site.api}/dashboard/sites/{SITE}/members"
            for url in (
                f"{base}?q=nobody%40example.com&session={session}",
                f"{base}/{site.contact_id}?session={session}",
            ):
                page.goto(url)
                assert serious_violations(page, axe) == [], url
        finally:
            context.close()
