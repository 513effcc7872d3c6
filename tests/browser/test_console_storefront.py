"""The console's Storefront page in a real Chromium, against the running service (web, one worker, Redis)
and the fake Wix: the site installed through the fake's AppInstalled webhook (so its script is embedded
with `default` ids), a programme with a dark theme published. The preview frames run the real widget.js:
German picked, the guest and the sample member see German copy. A colour that fails contrast is refused
beside its field and nothing reaches Wix; Save sends the chosen ids through Embed Script (the fake Wix's
`GET /apps/v1/scripts` shows them); the switch embeds with `disabled: true`. axe-core finds nothing
serious; a screenshot goes to tests/artifacts/console-storefront.png (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, daily_programme, signed
from tests.browser.harness import AXE, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    FakeWixProcess,
    fake_wix,
    module_redis_url,
    wait_for,
)

SITE = "6b1e6a2c-0000-4000-8000-00000000c514"
DARK = {
    "primary": "#ffcc00",
    "onPrimary": "#000000",
    "background": "#101010",
    "text": "#f5f5f5",
    "muted": "#b0b0b0",
}
PROGRAM = daily_programme(name="Täglich", themes=[{"id": "dark", "colors": DARK}])


def open_storefront(site: Console, tab: Tab) -> None:
    """Open the console through Wix's signed parameter, then its Storefront page."""
    tab.page.goto(site.entry(signed(SITE)))
    tab.page.get_by_role("link", name="Storefront").click()
    tab.page.get_by_role("heading", name="Storefront", level=1).wait_for()
    # The heading is parsed before htmx (a deferred script) has bound the page's selects and fields:
    # a change made in between is a change htmx never sees.
    tab.page.wait_for_load_state("load")


def embedded(site: Console) -> dict[str, Any]:
    """The script as the fake Wix has it embedded in the site (`GET /apps/v1/scripts`)."""
    answer = httpx.get(
        f"{site.fake_wix.base_url}/apps/v1/scripts", headers=site.fake_wix.app_headers(SITE), timeout=5
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def site(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    with console_stack(fake_wix, module_redis_url) as stack:
        stack.install(SITE)
        stack.publish(SITE, PROGRAM)
        yield stack


class TestStorefront:
    def test_german_picked_the_preview_speaks_german_for_a_guest_and_a_sample_member(
        self, site: Console, tab: Tab, artifacts: Path
    ) -> None:
        open_storefront(site, tab)
        assert tab.page.locator("#account-id").inner_text() == SITE
        tab.page.get_by_label("Preview language").select_option("de")
        tab.page.locator('#preview-guest[src*="locale=de"]').wait_for(
            state="attached"
        )  # htmx swapped the page
        guest = tab.page.frame_locator("#preview-guest")
        member = tab.page.frame_locator("#preview-member")
        guest.locator("wix-rewards-widget[data-state=ready][data-mode=guest]").wait_for(state="attached")
        assert guest.get_by_role("heading", name="Prämien", level=2).is_visible()
        assert guest.get_by_text("So funktioniert es").is_visible()  # howItWorksTitle, built-in German
        assert guest.get_by_text("Täglich").is_visible()  # the site's own streak, from /widget/v1/public
        member.locator("wix-rewards-widget[data-state=ready][data-mode=member]").wait_for(state="attached")
        assert member.get_by_role("heading", name="Ihre Prämien").is_visible()  # rewardsTitle
        assert member.get_by_text("SAMPLE-10").is_visible()  # the made-up member's coupon
        assert member.get_by_role("heading", name="Täglich").is_visible()  # over the site's own streak
        assert member.get_by_text("Aktuelle Serie").is_visible()  # currentRun, built-in German
        tab.page.screenshot(path=str(artifacts / "console-storefront.png"), full_page=True)
        assert tab.errors() == []

    def test_a_failing_colour_is_refused_then_save_and_the_switch_reach_wix(
        self, site: Console, tab: Tab
    ) -> None:
        assert embedded(site)["parameters"]["themeId"] == "default"  # as the install embedded it
        open_storefront(site, tab)
        tab.page.get_by_label("Theme", exact=True).select_option("dark")
        tab.page.locator('#preview-guest[src*="themeId=dark"]').wait_for(state="attached")  # htmx swapped
        text = tab.page.get_by_label("text", exact=True)
        assert text.input_value() == DARK["text"]  # the dark theme's editor, not saved yet
        text.fill("#333333")
        text.press("Tab")  # the theme editor asks for the contrast of what was typed
        # htmx settles the swapped element's attributes (its class) a moment after its text: wait for both.
        contrast = tab.page.locator('[id="theme.colors.text-contrast"].fail')
        contrast.filter(has_text="1.5:1").wait_for()
        assert "fail" in str(contrast.get_attribute("class"))
        tab.page.get_by_role("button", name="Save", exact=True).click()
        problem = tab.page.locator('[id="theme.colors.text-problem"]')
        assert "contrast with background is 1.5:1" in problem.inner_text()
        assert tab.page.get_by_label("text", exact=True).get_attribute("aria-invalid") == "true"
        assert embedded(site)["parameters"]["themeId"] == "default"  # nothing reached Wix

        tab.page.get_by_label("text", exact=True).fill(DARK["text"])
        tab.page.get_by_label("Save the floating widget as (id)").fill("corner")
        tab.page.get_by_label("Label").fill("Punkte")
        tab.page.get_by_role("button", name="Save", exact=True).click()
        tab.page.get_by_role("status").filter(has_text="Saved: template default, theme dark").wait_for()

        def embedded_with(**wanted: Any) -> bool:
            script = embedded(site)
            ids = {**script["parameters"], "disabled": script["disabled"]}
            return all(ids[name] == value for name, value in wanted.items())

        wait_for(
            lambda: embedded_with(
                templateId="default", themeId="dark", floatingWidgetId="corner", disabled=False
            ),
            30,
            "Embed Script with the chosen ids",
        )
        switch = tab.page.get_by_role("switch", name="Show the widget on my site")
        assert switch.get_attribute("aria-checked") == "true"
        switch.click()
        tab.page.get_by_role("status").filter(has_text="taken off your site").wait_for()
        assert tab.page.get_by_role("switch").get_attribute("aria-checked") == "false"
        wait_for(lambda: embedded_with(floatingWidgetId="corner", disabled=True), 30, "Embed Script disabled")
        assert [error for error in tab.errors() if "422" not in error] == []  # the refusal's, only

    def test_axe_finds_no_serious_violation(self, site: Console, browser: Any) -> None:
        """The Storefront page and its preview frame; the context bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(site.entry(signed(SITE)))
            page.get_by_role("link", name="Storefront").click()
            preview = str(page.locator("#preview-member").get_attribute("src"))
            for url in (page.url, f"{site.api}{preview}"):
                page.goto(url)
                page.locator("body").wait_for()
                assert serious_violations(page, axe) == [], url
        finally:
            context.close()
