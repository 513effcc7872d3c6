"""The widget's *Spend points* in a real Chromium, against the running service (web, worker, Redis) and the
fake Wix: a member redeems points for a coupon with a double click and gets one code with a copy button,
the balance lowered; a reward beyond the balance is a clear message, not an error."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import Stack, Tab
from tests.browser.harness import Embed, PageServer, member_page
from worker.dev.programs import program

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000b716"
LAUNCHER = "wix-rewards-widget .launcher"
PANEL = "wix-rewards-widget [role=dialog]"
BALANCE = 250


@pytest.fixture(scope="module")
def wix_token(stack: Stack) -> str:
    """A program applied; a member with 250 Stars in Wix Loyalty; a reward for 100 and one for 1,000 in the
    site's catalog. Answers the member's Wix site token."""
    assert stack.admin("PUT", f"/instances/{INSTANCE}/program", json=program()).status_code == 200
    fake = stack.fake_wix
    contact_id, member_id = f"contact-{uuid.uuid4()}", f"member-{uuid.uuid4()}"
    fake.control("POST", f"instances/{INSTANCE}/members", json={"id": member_id, "contactId": contact_id})
    fake.control("PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}})
    app = fake.app_headers(INSTANCE)
    accounts = f"{fake.base_url}/loyalty-accounts/v1/accounts"
    account = httpx.post(accounts, json={"contactId": contact_id}, headers=app, timeout=5).json()["account"]
    earn = {"amount": BALANCE, "description": "seed", "appId": "seed", "idempotencyKey": "seed"}
    httpx.post(
        f"{accounts}/{account['id']}/earn-points", json=earn, headers=app, timeout=5
    ).raise_for_status()
    for reward in (
        {"id": "r-10pct", "name": "10% off", "costInPoints": 100, "percentage": 10},
        {"id": "r-big", "name": "Fifty off", "costInPoints": 1000, "amount": 50},
    ):
        fake.control("POST", f"instances/{INSTANCE}/loyalty-rewards", json=reward)
    return str(
        fake.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": member_id})["token"]
    )


def public_copy(stack: Stack) -> dict[str, str]:
    query = {"instance": INSTANCE, "template": "default", "locale": "en"}
    return httpx.get(f"{stack.api}/widget/v1/public", params=query, timeout=10).json()["copy"]  # type: ignore[no-any-return]


def test_a_double_click_redeems_once_and_shows_one_code(
    stack: Stack, pages: PageServer, wix_token: str, tab: Tab, artifacts: Path
) -> None:
    """Redeem double-clicked: one coupon (in the widget and in Wix), its code with a working copy button,
    the balance 100 lower; the 1,000 reward then says "not enough points" under it."""
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=pages.origin)
    embed = Embed(api=stack.api, account=INSTANCE)
    tab.page.goto(member_page(pages, "spend", embed, wix_token))
    tab.page.locator("wix-rewards-widget[data-state=ready][data-mode=member]").wait_for(state="attached")
    copy = public_copy(stack)
    tab.page.locator(LAUNCHER).click()
    panel = tab.page.locator(PANEL)
    section = panel.locator("[data-section=spend]")
    section.get_by_role("heading", name=copy["spendTitle"]).wait_for(state="visible")
    cheap = section.locator("[data-loyalty-reward=r-10pct]")
    assert cheap.locator(".cost").inner_text() == "100 Stars"
    assert panel.locator(".balance").inner_text() == f"{BALANCE} Stars"

    cheap.get_by_role("button", name=copy["redeem"]).dblclick()
    coupon = section.locator(".coupons [data-coupon]")
    coupon.first.wait_for(state="visible")
    panel.locator(".balance").get_by_text("150").wait_for(state="visible")
    time.sleep(1.0)  # a second redemption, had there been one, would have answered by now
    assert coupon.count() == 1
    made = stack.fake_wix.control("GET", f"instances/{INSTANCE}/loyaltyCoupons")["loyaltyCoupons"]
    assert len(made) == 1
    code = made[0]["couponReference"]["code"]
    assert coupon.locator("code").inner_text() == code
    assert panel.locator(".balance").inner_text() == "150 Stars"
    tab.page.screenshot(path=str(artifacts / "widget-spend-points.png"))

    coupon.get_by_role("button", name=copy["copyCode"]).click()
    coupon.get_by_role("button", name=copy["copied"]).wait_for(state="visible")
    assert tab.page.evaluate("navigator.clipboard.readText()") == code

    dear = section.locator("[data-loyalty-reward=r-big]")
    dear.get_by_role("button", name=copy["redeem"]).click()
    dear.locator(".note").get_by_text(copy["notEnoughPoints"]).wait_for(state="visible")
    assert coupon.count() == 1 and panel.locator(".balance").inner_text() == "150 Stars"
    # The browser reports the 409 answer itself; the widget logs nothing.
    assert [e for e in tab.errors() if "status of 409" not in e] == []
