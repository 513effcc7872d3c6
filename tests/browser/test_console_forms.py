"""The console's Programme forms in a real Chromium, against the running service (web, one worker, Redis)
and the fake Wix: a merchant adds a challenge with a milestone and a coupon reward through the forms, sees
the problem of a negative target beside its field, fixes it, saves, publishes, and compares two versions;
axe-core finds nothing serious on the page with a problem shown and a diff. A screenshot goes to
tests/artifacts/console-program-forms.png (gitignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, daily_programme, signed
from tests.browser.harness import AXE, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    FakeWixProcess,
    fake_wix,
    module_redis_url,
)

SITE = "6b1e6a2c-0000-4000-8000-00000000f014"
PROGRAM = daily_programme()
TARGET = "challenges[0].milestones[0].milestoneTargetValue"


def live(console: Console) -> dict[str, Any]:
    answer = console.admin("GET", f"/instances/{SITE}/program")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
    """Web and one worker; the site installed by the fake Wix and a programme published through the
    admin API (as tests/browser/test_console.py)."""
    with console_stack(fake_wix, module_redis_url) as stack:
        stack.install(SITE)
        stack.publish(SITE, PROGRAM)
        yield stack


def field(tab: Tab, path: str) -> Any:
    """The form field named by its document path (ids hold brackets and dots, so not a CSS #id)."""
    return tab.page.locator(f'[id="{path}"]')


def notice(tab: Tab, text: str) -> None:
    tab.page.get_by_role("status").filter(has_text=text).wait_for()


class TestProgrammeForms:
    def test_a_merchant_adds_a_challenge_with_a_coupon_milestone_fixes_a_problem_and_publishes(
        self, console: Console, tab: Tab, artifacts: Path
    ) -> None:
        page = tab.page
        page.goto(console.entry(signed(SITE)))
        page.get_by_role("link", name="Programme").click()
        page.get_by_role("button", name="Add a challenge").click()
        notice(tab, "Added a challenge (challenges[0])")
        field(tab, "challenges[0].name").fill("Spring spend")
        field(tab, "challenges[0].activityIds").fill("order_paid")
        field(tab, "challenges[0].aggregationMethod").select_option("sum")
        field(tab, "challenges[0].completionTargetValue").fill("100")
        page.get_by_role("button", name="Add a milestone to challenge 1").click()
        notice(tab, "Added a milestone (challenges[0].milestones[0])")
        assert field(tab, "challenges[0].name").input_value() == "Spring spend"  # kept across the add
        field(tab, "challenges[0].milestones[0].name").fill("Halfway")
        field(tab, TARGET).fill("-50")
        field(tab, "challenges[0].milestones[0].reward.type").select_option("coupon")
        field(tab, "challenges[0].milestones[0].reward.coupon.name").fill("Ten off")
        field(tab, "challenges[0].milestones[0].reward.coupon.percentOffRate").fill("10")
        field(tab, "challenges[0].milestones[0].reward.validDays").fill("30")
        field(tab, "challenges[0].milestones[0].name").press("Enter")  # Enter saves, as the first button

        page.get_by_role("alert").filter(has_text="Not saved").wait_for()
        target = field(tab, TARGET)
        assert target.get_attribute("aria-invalid") == "true"
        described = str(target.get_attribute("aria-describedby")).split()[0]
        assert "greater than 0" in page.locator(f'[id="{described}"]').inner_text()
        assert target.input_value() == "-50"  # what was posted comes back
        assert "challenges" not in live(console)["program"]  # nothing saved, nothing live

        target.fill("50")
        page.get_by_role("button", name="Save the forms as a draft").first.click()
        notice(tab, "The draft is saved")
        assert field(tab, TARGET).get_attribute("aria-invalid") is None
        page.get_by_label("Note for this version").fill("spring challenge")
        page.get_by_role("button", name="Publish the draft").click()
        notice(tab, "is live.")
        challenge = live(console)["program"]["challenges"][0]
        assert challenge["name"] == "Spring spend" and challenge["aggregationMethod"] == "sum"
        reward = challenge["milestones"][0]["reward"]
        assert reward == {
            "type": "coupon",
            "coupon": {"name": "Ten off", "percentOffRate": 10},
            "validDays": 30,
        }

        versions = page.locator("#versions tbody tr")
        newest, before = (int(str(versions.nth(i).get_attribute("data-version"))) for i in (0, 1))
        page.get_by_label("From", exact=True).select_option(str(before))
        page.get_by_label("To", exact=True).select_option(str(newest))
        page.get_by_role("button", name="Compare").click()
        page.get_by_role("heading", name=f"Changes from version {before} to version {newest}").wait_for()
        row = page.locator("table.diff tbody tr").filter(has_text="challenges")
        assert row.count() == 1 and "added" in row.inner_text() and "Spring spend" in row.inner_text()
        page.screenshot(path=str(artifacts / "console-program-forms.png"), full_page=True)
        assert [error for error in tab.errors() if "422" not in error] == []  # but the refused save

    def test_a_removed_streak_goes_only_when_saved(self, console: Console, tab: Tab) -> None:
        page = tab.page
        page.goto(console.entry(signed(SITE)))
        page.get_by_role("link", name="Programme").click()
        page.get_by_role("button", name="Add a rule").click()
        notice(tab, "Added a rule")
        rules = page.locator("fieldset.item[data-path^='rules[']")
        count = rules.count()
        page.get_by_role("button", name=f"Remove rule {count}").click()
        notice(tab, f"Removed the rule rules[{count - 1}]")
        assert rules.count() == count - 1
        assert tab.errors() == []

    def test_axe_finds_no_serious_violation_with_a_problem_and_a_diff_shown(
        self, console: Console, browser: Any
    ) -> None:
        """The context bypasses CSP only to inject axe-core."""
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            page.goto(console.entry(signed(SITE)))
            session = json.loads(str(page.locator("body").get_attribute("hx-headers")))["X-Console-Session"]
            renamed = daily_programme(name="Renamed for the scan")
            assert console.admin("PUT", f"/instances/{SITE}/program", json=renamed).status_code == 200
            page.goto(f"{console.api}/dashboard/sites/{SITE}/program?from=1&to=live&session={quote(session)}")
            page.locator('[id="streaks[0].milestones[0].milestoneTargetValue"]').fill("-1")
            page.get_by_role("button", name="Save the forms as a draft").first.click()
            page.get_by_role("alert").filter(has_text="Not saved").wait_for()
            assert serious_violations(page, axe) == []
        finally:
            context.close()


class TestPointsBudgets:
    def test_a_reached_budget_is_said_on_the_programme_page(
        self,
        console: Console,
        tab: Tab,
        module_redis_url: str,  # noqa: F811  (the fixture)
    ) -> None:
        """A yearly budget of 100 fully used this year: the page says so, and when the rule earns again."""
        from worker.engine.caps import cap_period
        from worker.infra.redis_client import sync_client
        from worker.store import points_caps

        budgeted = {"on": "order_paid", "points": 1, "per": 1, "budget": {"points": 100, "period": "yearly"}}
        assert (
            console.admin(
                "PUT", f"/instances/{SITE}/program", json={**PROGRAM, "pointsRules": [budgeted]}
            ).status_code
            == 200
        )
        now = datetime.now(UTC)
        year = points_caps.Limit(100, *cap_period(now, "yearly", ZoneInfo("UTC")))
        client = sync_client(module_redis_url)
        points_caps.reserve(
            client, SITE, 0, "contact-1", f"browser-{now.timestamp()}", 250, now, member_cap=None, budget=year
        )
        client.close()
        page = tab.page
        page.goto(console.entry(signed(SITE)))
        page.get_by_role("link", name="Programme").click()
        budgets = page.get_by_role("region", name="Points budgets")
        budgets.wait_for()
        text = budgets.inner_text()
        assert "100 of 100 points used this yearly period: budget reached" in text
        assert f"the rule earns nothing until {now.year + 1}-01-01 00:00" in text
        assert tab.errors() == []
