"""The merchant console (`/dashboard/`) in a real Chromium, against the running service (web, one worker,
Redis) and the fake Wix: a site installed through the fake's AppInstalled webhook, opened with a Wix-signed
`instance` parameter; the Home checklist shows the real state and its bootstrap button starts the job; a
forged parameter, a POST without CSRF and another site's id are refused; the Programme page renames a
streak, publishes and rolls back (the widget's `/public` follows); axe-core finds nothing serious.
A screenshot of the Home page goes to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import Tab
from tests.browser.console_stack import CONSOLE_SECRET, Console, console_stack, daily_programme, signed  # noqa: F401  (importable from here as before)
from tests.browser.harness import AXE, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    FakeWixProcess,
    fake_wix,
    module_redis_url,
    wait_for,
)

SITE = "6b1e6a2c-0000-4000-8000-00000000c014"
OTHER_SITE = "6b1e6a2c-0000-4000-8000-00000000c015"
PROGRAM = daily_programme()


def public_streak_name(console: Console) -> str:
    """The first streak's name in the widget's `/public` answer."""
    query = {"instance": SITE, "template": "default"}
    answer = httpx.get(f"{console.api}/widget/v1/public", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["streaks"][0]["name"])


@pytest.fixture(scope="module")
def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    """Web and one worker; the site installed by the fake Wix (its program status read, the widget's
    script embedded) and a programme published through the admin API."""
    with console_stack(fake_wix, module_redis_url) as stack:
        stack.install(SITE)
        stack.publish(SITE, PROGRAM)
        yield stack


def state(tab: Tab) -> dict[str, str]:
    """Each checklist item's state, by its key, as the page shows it."""
    items = tab.page.locator("#checklist li.item")
    return {
        str(items.nth(i).get_attribute("data-item")): "done"
        if "done" in str(items.nth(i).get_attribute("class")).split()
        else "todo"
        for i in range(items.count())
    }


class TestConsole:
    def test_signed_in_through_wix_the_home_page_shows_the_real_state(
        self, console: Console, tab: Tab, artifacts: Path
    ) -> None:
        """Installed and published, no bootstrap yet: four done, accounts to do; the button starts the
        bootstrap (through htmx, session and CSRF in its headers) and the finished job shows."""
        tab.page.set_viewport_size({"width": 420, "height": 900})  # a narrow dashboard frame
        answer = tab.page.goto(console.entry(signed(SITE)))
        assert answer is not None and answer.status == 200
        assert "frame-ancestors https://manage.wix.com" in answer.headers["content-security-policy"]
        assert state(tab) == {
            **dict.fromkeys(("program", "widget", "wix-program", "webhooks"), "done"),
            "accounts": "todo",
        }
        assert tab.page.get_by_role("heading", name="Set-up", level=1).is_visible()
        assert "1 streaks" in tab.page.locator("[data-item=program] .detail").inner_text()
        tab.page.screenshot(path=str(artifacts / "console-home.png"), full_page=True)

        tab.page.locator("[data-item=accounts] button").focus()
        tab.page.keyboard.press("Enter")
        tab.page.get_by_role("status").filter(has_text="The bootstrap").wait_for()

        def bootstrapped() -> bool:
            tab.page.goto(console.entry(signed(SITE)))
            return state(tab)["accounts"] == "done"

        wait_for(bootstrapped, 30, "the finished bootstrap to show on the Home page")
        assert "accounts made" in tab.page.locator("[data-item=accounts] .detail").inner_text()
        assert tab.errors() == []

    def test_a_forged_instance_is_refused(self, console: Console, tab: Tab) -> None:
        answer = tab.page.goto(console.entry(signed(SITE, secret="not-the-app-secret")))
        assert answer is not None and answer.status == 403
        assert "signature does not verify" in tab.page.get_by_role("alert").inner_text()

    def test_a_post_without_csrf_and_another_sites_id_are_refused(self, console: Console, tab: Tab) -> None:
        tab.page.goto(console.entry(signed(SITE)))
        headers = json.loads(str(tab.page.locator("body").get_attribute("hx-headers")))
        session = headers["X-Console-Session"]
        no_csrf = httpx.post(
            f"{console.api}/dashboard/sites/{SITE}/embed", data={"session": session}, timeout=10
        )
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        answer = tab.page.goto(f"{console.api}/dashboard/sites/{OTHER_SITE}/?session={quote(session)}")
        assert answer is not None and answer.status == 403
        assert "another site" in tab.page.get_by_role("alert").inner_text()

    def test_an_htmx_post_with_a_wrong_csrf_token_shows_the_refusal(self, console: Console, tab: Tab) -> None:
        """The page's own request, its CSRF header changed: the refusal replaces the page's content and
        no job starts (another site, never installed, so its checklist still offers the bootstrap)."""
        tab.page.goto(console.entry(signed(OTHER_SITE)))
        tab.page.evaluate(
            """() => {
              const headers = JSON.parse(document.body.getAttribute("hx-headers"));
              headers["X-CSRF-Token"] = "0".repeat(64);
              document.body.setAttribute("hx-headers", JSON.stringify(headers));
              document.querySelectorAll("input[name=csrf]").forEach((input) => input.remove());
            }"""
        )
        tab.page.locator("[data-item=accounts] button").click()
        assert "CSRF" in tab.page.get_by_role("alert").inner_text()
        assert tab.page.get_by_role("heading", level=1).inner_text() == "Not allowed (403)"
        tab.page.goto(console.entry(signed(OTHER_SITE)))
        assert "The bootstrap has not run" in tab.page.locator("[data-item=accounts] .detail").inner_text()

    def test_the_programme_page_saves_publishes_and_rolls_back_a_streaks_name(
        self, console: Console, tab: Tab, artifacts: Path
    ) -> None:
        """The YAML tab: the streak renamed, saved as a draft (the widget still shows the old name),
        published with a note (the widget's /public shows the new one), rolled back (the old again)."""
        tab.page.goto(console.entry(signed(SITE)))
        tab.page.get_by_role("link", name="Programme").click()
        tab.page.get_by_role("link", name="YAML").click()
        assert tab.page.get_by_role("link", name="YAML").get_attribute("aria-current") == "page"
        text = tab.page.get_by_label("Programme (YAML)")
        assert "name: Daily\n" in text.input_value()
        text.fill(text.input_value().replace("name: Daily\n", "name: Every day\n"))
        tab.page.get_by_role("button", name="Save draft").click()
        tab.page.get_by_role("status").filter(has_text="The draft is saved").wait_for()
        assert public_streak_name(console) == "Daily"
        tab.page.get_by_label("Note for this version").fill("friendlier")
        tab.page.get_by_role("button", name="Publish the draft").click()
        tab.page.get_by_role("status").filter(has_text="is live.").wait_for()
        assert public_streak_name(console) == "Every day"
        live = tab.page.locator("#versions tbody tr").first
        assert "friendlier" in live.inner_text() and "owner-1" in live.inner_text()
        before = int(str(tab.page.locator("#versions tbody tr").nth(1).get_attribute("data-version")))
        tab.page.get_by_role("button", name=f"Roll back to {before}").click()
        tab.page.get_by_role("status").filter(has_text=f"Version {before} is live again").wait_for()
        assert public_streak_name(console) == "Daily"
        tab.page.screenshot(path=str(artifacts / "console-programme.png"), full_page=True)
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation(self, console: Console, browser: Any) -> None:
        """The Home page, the Programme page (a version's diff shown) and the sign-in page; the context
        bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            # a version that differs from live, whatever ran before: its diff table is scanned too
            renamed = daily_programme(name="Renamed for the scan")
            assert console.admin("PUT", f"/instances/{SITE}/program", json=renamed).status_code == 200
            versions = console.admin("GET", f"/instances/{SITE}/program/versions").json()["versions"]
            version = versions[1]["version"]  # newest first: the one before the renamed live program
            programme = (
                f"{console.api}/dashboard/sites/{SITE}/program?version={version}&session={quote(session)}"
            )
            for url in (console.entry(signed(SITE)), programme, f"{console.api}/dashboard/"):
                page.goto(url)
                assert serious_violations(page, axe) == [], url
        finally:
            context.close()
