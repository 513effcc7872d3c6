"""The storefront widget in a real Chromium, against the running service (web, worker, Redis) and the fake
Wix: what a shopper sees as a guest and as a member, locales, themes, isolation from the host page,
keyboard use and an axe-core scan. Screenshots go to tests/artifacts/ for review."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests import wix_samples
from tests.browser.conftest import Stack, Tab
from tests.browser.harness import (
    AXE,
    Embed,
    PageServer,
    element_page,
    guest_page,
    member_page,
    serious_violations,
    shop_page,
)
from tests.integration.conftest import wait_for
from worker.dev.programs import challenge, coupon, milestone, points, program, streak
from worker.infra.embedded_redis import free_port
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000b701"
LAUNCHER = "wix-rewards-widget .launcher"
PANEL = "wix-rewards-widget [role=dialog]"

PROGRAM: dict[str, Any] = program(
    late_log_grace_hours=72,
    streaks=[
        streak(
            "daily-shopper",
            "Daily shopper",
            description="Check out once a day.",
            activities=["checkout"],
            period="daily",
            completion=10,
            milestones=[milestone("three-days", "Three days", 3, points(10))],
        )
    ],
    challenges=[
        challenge(
            "spend-100",
            "Spend 100 this month",
            description="Every paid order counts.",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[
                milestone("fifty", "Fifty spent", 50, coupon("10% off", 10, valid_days=14)),
                milestone("hundred", "A hundred", 100, points(25)),
            ],
        ),
        challenge("paused-one", "Paused challenge", status="paused", period="monthly", completion=3),
    ],
    rules=[
        {"on": "checkout_completed", "streak": "daily-shopper", "activityId": "checkout", "value": "count"},
        {"on": "order_paid", "challenge": "spend-100", "activityId": "order_paid", "value": "order.total"},
    ],
    themes=[
        {
            "id": "midnight",
            "colors": {
                "primary": "#ffcc00",
                "onPrimary": "#111111",
                "background": "#101828",
                "text": "#f5f5f5",
                "muted": "#c8c8c8",
            },
            "fontFamily": "Georgia, serif",
            "cornerRadius": 4,
        }
    ],
    referrals={  # the member panel's referral link (TestReferrals)
        "referrerReward": {"type": "points", "points": 100},
        "friendReward": {"type": "coupon", "coupon": {"name": "10% off", "percentOffRate": 10}},
    },
    floatingWidgets=[
        {
            "id": "corner",
            "position": "top-left",
            "offsetX": 10,
            "offsetY": 20,
            "label": "My rewards",
            "icon": "star",
            "size": "large",
        }
    ],
)


TIERS = {
    "baseTierDefinition": {"name": "Bronze"},
    "tiers": [
        {"tierDefinition": {"name": "Silver"}, "requiredPoints": 20},
        {"tierDefinition": {"name": "Gold"}, "requiredPoints": 100},
    ],
}


@dataclass(frozen=True)
class Shop:
    stack: Stack
    pages: PageServer
    embed: Embed
    api_key: str

    def public(self, locale: str, **params: str) -> dict[str, Any]:
        query = {"instance": INSTANCE, "template": "default", "locale": locale, **params}
        answer = httpx.get(f"{self.stack.api}/widget/v1/public", params=query, timeout=10)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def progress(self, contact_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.stack.api}/v1/members/{contact_id}/progress",
            headers={"authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def shop(stack: Stack, pages: PageServer) -> Shop:
    """The instance's program applied through the admin API, and an API key for the progress API."""
    applied = stack.admin("PUT", f"/instances/{INSTANCE}/program", json=PROGRAM)
    assert applied.status_code == 200, applied.text
    key = stack.admin("POST", f"/instances/{INSTANCE}/api-keys")
    assert key.status_code == 201, key.text
    return Shop(stack, pages, Embed(api=stack.api, account=INSTANCE), key.json()["apiKey"])


@dataclass(frozen=True)
class Member:
    contact_id: str
    member_id: str
    wix_token: str


def _signed(stack: Stack, event_type: str, payload: dict[str, Any]) -> None:
    key = load_pem_private_key(stack.fake_wix.private_key.read_bytes(), password=None)
    token = sign_webhook(key, event_type, INSTANCE, payload)  # type: ignore[arg-type]
    answer = httpx.post(f"{stack.api}/webhooks/wix", content=token, timeout=10)
    assert answer.json() == {"status": "queued"}, answer.text


@pytest.fixture(scope="module")
def member(shop: Shop) -> Member:
    """A site member whose real webhooks moved things: a checkout yesterday (a daily streak, at risk
    today), two paid orders now (60 + 50 toward 100: a coupon, then 25 points, both issued in Wix)."""
    fake = shop.stack.fake_wix
    contact_id, member_id = f"contact-{uuid.uuid4()}", f"member-{uuid.uuid4()}"
    fake.control("POST", f"instances/{INSTANCE}/members", json={"id": member_id, "contactId": contact_id})
    fake.control("PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}})
    fake.control("PUT", f"instances/{INSTANCE}/tiers", json=TIERS)  # Wix tiers: 25 points make Silver

    checkout = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
    checkout["eventTime"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    checkout["actionEvent"]["body"]["checkout"]["buyerInfo"]["contactId"] = contact_id
    _signed(shop.stack, "wix.ecom.v1.checkout_completed", checkout)
    for total in ("60.00", "50.00"):
        paid = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
        paid["eventTime"] = datetime.now(UTC).isoformat()
        order = paid["actionEvent"]["body"]["order"]
        order["id"] = paid["entityId"] = str(uuid.uuid4())
        order["buyerInfo"]["contactId"] = contact_id
        order["priceSummary"]["total"]["amount"] = total
        _signed(shop.stack, "wix.ecom.v1.order_payment_status_updated", paid)

    def settled() -> bool:
        progress = shop.progress(contact_id)
        logs = progress["rewardLogs"]
        run = progress["streaks"][0]["streakProgress"]
        return bool(
            run and len(logs) == 2 and all(log["status"] == "issued" for log in logs) and progress["points"]
        )

    wait_for(settled, 60, "the webhooks to be processed and both rewards issued in the fake Wix")
    token = fake.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": member_id})["token"]
    return Member(contact_id, member_id, token)


def en_number(value: Any) -> str:
    """What Intl.NumberFormat("en", {maximumFractionDigits: 2}) shows for a number."""
    text = f"{Decimal(str(value)):,.2f}"
    return text[:-3] if text.endswith(".00") else text.rstrip("0")


def open_panel(tab: Tab) -> Any:
    tab.page.locator(LAUNCHER).click()
    panel = tab.page.locator(PANEL)
    panel.wait_for(state="visible")
    return panel


def load(tab: Tab, url: str, state: str = "ready") -> None:
    tab.page.goto(url)
    tab.page.locator(f"wix-rewards-widget[data-state={state}]").wait_for(state="attached")


class TestGuest:
    def test_guest_sees_public_content_and_no_progress(self, shop: Shop, tab: Tab, artifacts: Path) -> None:
        """The one-tag embed: launcher named by the floating widget, then the public content and the login
        call; no progress, no rewards, and no call to /me."""
        requested: list[str] = []
        tab.page.on("request", lambda request: requested.append(request.url))
        load(tab, shop.pages.add("/guest", guest_page(shop.embed)))
        public = shop.public("en")
        launcher = tab.page.get_by_role("button", name=public["floatingWidget"]["label"])
        assert launcher.get_attribute("aria-expanded") == "false"
        tab.page.screenshot(path=str(artifacts / "widget-closed.png"))

        panel = open_panel(tab)
        assert launcher.get_attribute("aria-expanded") == "true"
        assert panel.get_attribute("id") == launcher.get_attribute("aria-controls")
        copy = public["copy"]
        dialog = tab.page.get_by_role("dialog", name=copy["title"])
        text = dialog.inner_text()
        for expected in (copy["intro"], copy["howItWorksTitle"], copy["howItWorks"], copy["loginCta"]):
            assert expected in text
        assert "Daily shopper" in text and "Spend 100 this month" in text
        assert "Fifty spent (50) · 10% off" in text and "A hundred (100) · 25 points" in text
        assert "Paused challenge" not in text
        assert tab.page.locator(f"{PANEL} [role=progressbar]").count() == 0
        assert copy["rewardsTitle"] not in text and copy["currentRun"] not in text
        assert not [url for url in requested if "/widget/v1/me" in url]
        assert tab.errors() == []
        tab.page.screenshot(path=str(artifacts / "widget-guest.png"))

    def test_german_copy_and_formats_and_an_unknown_locale_falls_back(self, shop: Shop, tab: Tab) -> None:
        """`lang="de"` shows the German copy and German dates; `lang="xx-YY"` the template's default."""
        german, english = shop.public("de"), shop.public("en")
        assert german["copy"]["title"] != english["copy"]["title"]
        load(tab, shop.pages.add("/guest-de", guest_page(shop.embed, lang="de")))
        panel = open_panel(tab)
        assert tab.page.get_by_role("dialog", name=german["copy"]["title"]).is_visible()
        assert german["copy"]["howItWorks"] in panel.inner_text()
        assert panel.get_attribute("lang") == "de"
        ends_at = german["challenges"][0]["endsAt"]
        day = datetime.fromisoformat(ends_at.replace("Z", "+00:00")) - timedelta(microseconds=1)  # exclusive
        ends = tab.page.locator(f"{PANEL} [data-challenge=spend-100] .ends").inner_text()
        assert ends.startswith(german["copy"]["endsOn"])
        assert re.search(rf"\b{day.day:02d}\.{day.month:02d}\.{day.year}\b", ends), ends  # "30.11.2026"

        load(tab, shop.pages.add("/guest-xx", guest_page(shop.embed, lang="xx-YY")))
        open_panel(tab)
        assert tab.page.get_by_role("dialog", name=english["copy"]["title"]).is_visible()


class TestMember:
    def test_member_sees_the_progress_apis_numbers(
        self, shop: Shop, member: Member, tab: Tab, artifacts: Path
    ) -> None:
        """Through the real snippet: the streak's run, period and at-risk badge, the challenge's bar and
        milestones, the coupon code, points and the Wix tier (and what the next one needs), all as
        GET /v1/members/{id}/progress has them."""
        tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=shop.pages.origin)
        load(tab, member_page(shop.pages, "member", shop.embed, member.wix_token))
        assert tab.page.get_attribute("wix-rewards-widget", "data-mode") == "member"
        progress = shop.progress(member.contact_id)
        copy = shop.public("en")["copy"]
        panel = open_panel(tab)

        streak = progress["streaks"][0]
        card = panel.locator("[data-streak=daily-shopper]")
        run = streak["streakProgress"]
        assert card.locator(".run").inner_text() == en_number(run["currentProgressValue"])
        period = streak["taskProgress"]
        assert f"{en_number(period['value'])} / {en_number(period['target'])}" in card.inner_text()
        assert run["at_risk"] is True  # yesterday done, today not yet
        assert card.get_by_text(copy["atRisk"]).is_visible()
        assert "Three days (3) · 10 points" in card.locator(".next").inner_text()

        challenge = progress["challenges"][0]["challengeProgress"]
        value, target = challenge["currentProgressValue"], challenge["completionTargetValue"]
        bar = panel.get_by_role("progressbar", name="Spend 100 this month")
        assert bar.get_attribute("aria-valuemin") == "0"
        assert Decimal(bar.get_attribute("aria-valuemax") or "") == Decimal(target)
        assert Decimal(bar.get_attribute("aria-valuenow") or "") == min(Decimal(value), Decimal(target))
        assert bar.get_attribute("aria-valuetext") == f"{en_number(value)} / {en_number(target)}"
        shown = panel.locator("[data-challenge=spend-100] .value").inner_text()
        assert shown == f"{en_number(value)} / {en_number(target)}" == "110 / 100"
        assert panel.locator("[data-challenge=spend-100] [data-milestone].done").count() == 2

        logs = {log["milestoneId"]: log for log in progress["rewardLogs"]}
        coupon_log = logs["fifty"]
        coupon = panel.locator(f"[data-reward='{coupon_log['id']}']")
        assert coupon.locator("code").inner_text() == coupon_log["couponCode"]
        status = coupon.locator(".status")
        assert status.get_attribute("data-status") == coupon_log["status"] == "issued"
        assert status.inner_text() == copy["statusIssued"]  # in the template's words, not the API's
        assert copy["expiresOn"] in coupon.locator(".expires").inner_text()
        points_log = logs["hundred"]
        assert panel.locator(f"[data-reward='{points_log['id']}'] .points").inner_text() == "+25 Stars"
        points = progress["points"]
        balance = panel.locator(".balance").inner_text()
        assert balance == f"{en_number(points['balance'])} {points['pointsName']}" == "25 Stars"
        tier = progress["tier"]
        assert (tier["name"], tier["next"]["name"], tier["next"]["pointsNeeded"]) == ("Silver", "Gold", 75)
        assert panel.locator(".tier-name").inner_text() == "Silver"
        assert panel.locator(".tier-next").inner_text() == f"75 {copy['tierNext']} Gold"
        tier_bar = panel.get_by_role("progressbar", name=f"{copy['tierTitle']}: Gold")
        assert tier_bar.get_attribute("aria-valuetext") == "25 / 100"
        assert tab.errors() == []
        tab.page.screenshot(path=str(artifacts / "widget-member.png"))
        coupon.scroll_into_view_if_needed()
        tab.page.screenshot(path=str(artifacts / "widget-member-rewards.png"))

        coupon.get_by_role("button", name=copy["copyCode"]).click()
        coupon.get_by_role("button", name=copy["copied"]).wait_for(state="visible")  # the write is async
        assert tab.page.evaluate("navigator.clipboard.readText()") == coupon_log["couponCode"]

    def test_the_panel_is_ready_within_300_ms_of_the_session_answer(
        self, shop: Shop, member: Member, tab: Tab
    ) -> None:
        """From the end of POST /widget/v1/session to the widget rendered (its /me and /public answered)."""
        load(tab, member_page(shop.pages, "member-timed", shop.embed, member.wix_token))
        elapsed = tab.page.evaluate(
            """() => {
              const session = performance.getEntriesByType("resource")
                .find((entry) => entry.name.endsWith("/widget/v1/session"));
              const ready = performance.getEntriesByName("wix-rewards-widget:ready")[0];
              return ready.startTime - session.responseEnd;
            }"""
        )
        assert 0 < elapsed < 300, f"{elapsed:.0f} ms"

    def test_the_session_also_takes_the_bearer_form(self, shop: Shop, member: Member, tab: Tab) -> None:
        """The other pages send the bare token as Wix does; `Bearer <token>` works as well."""
        load(tab, member_page(shop.pages, "member-bearer", shop.embed, member.wix_token, bearer=True))
        assert tab.page.get_attribute("wix-rewards-widget", "data-mode") == "member"
        assert tab.errors() == []

    def test_a_visitor_without_a_member_login_gets_guest_mode(self, shop: Shop, tab: Tab) -> None:
        """The fake Wix's visitor token: /session answers guest, the widget shows the login call."""
        token = shop.stack.fake_wix.control("POST", f"instances/{INSTANCE}/visitor-tokens", json={})["token"]
        load(tab, member_page(shop.pages, "visitor", shop.embed, token))
        assert tab.page.get_attribute("wix-rewards-widget", "data-mode") == "guest"
        assert shop.public("en")["copy"]["loginCta"] in open_panel(tab).inner_text()
        assert tab.errors() == []

    def test_no_token_from_wix_means_guest_mode_and_a_warning(self, shop: Shop, tab: Tab) -> None:
        """Wix's token function fails: the snippet warns, shows guest mode, and no error is logged."""
        load(tab, member_page(shop.pages, "no-token", shop.embed, None))
        assert tab.page.get_attribute("wix-rewards-widget", "data-mode") == "guest"
        assert tab.errors() == []
        assert any(kind == "warning" and "guest mode" in text for kind, text in tab.console)


class TestThemesAndIsolation:
    def test_the_theme_and_floating_widget_are_applied(self, shop: Shop, tab: Tab) -> None:
        """Colours, font and radius from the `midnight` theme; the `corner` launcher's place, size, label."""
        embed = Embed(api=shop.embed.api, account=INSTANCE, theme="midnight", floating_widget="corner")
        load(tab, shop.pages.add("/themed", guest_page(embed)))
        launcher = tab.page.get_by_role("button", name="My rewards")
        box = launcher.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (10, 20, 68, 68)
        assert style(launcher, "background-color") == "rgb(255, 204, 0)"
        assert style(launcher, "color") == "rgb(17, 17, 17)"
        panel = open_panel(tab)
        assert style(panel, "background-color") == "rgb(16, 24, 40)"
        assert style(panel, "color") == "rgb(245, 245, 245)"
        assert style(panel, "font-family") == "Georgia, serif"
        assert style(panel, "border-radius") == "4px"
        panel_box = panel.bounding_box()
        assert panel_box is not None and panel_box["y"] > box["y"] + box["height"]  # below a top launcher

    def test_host_css_does_not_reach_the_widget_and_the_widget_css_does_not_reach_the_page(
        self, shop: Shop, tab: Tab
    ) -> None:
        """Hostile host CSS leaves the widget as it is; the widget leaves the host's elements as they are."""
        hostile = (
            "* { color: red !important; font-size: 40px; font-family: monospace; } button { display: none }"
        )
        host = ["#host-text", "#host-button", "h1"]
        widget_parts = [LAUNCHER, PANEL, f"{PANEL} h2", f"{PANEL} h3", f"{PANEL} p", f"{PANEL} .x"]

        def measure(path: str, html: str, with_widget: bool) -> dict[str, dict[str, str]]:
            tab.page.goto(shop.pages.add(path, html))
            if not with_widget:
                return {selector: styles(tab.page.locator(selector)) for selector in host}
            tab.page.locator("wix-rewards-widget[data-state=ready]").wait_for(state="attached")
            open_panel(tab)
            return {selector: styles(tab.page.locator(selector).first) for selector in host + widget_parts}

        plain = measure("/plain", guest_page(shop.embed), True)
        attacked = measure("/hostile", guest_page(shop.embed, host_css=hostile), True)
        for selector in widget_parts:
            assert attacked[selector] == plain[selector], selector
        assert attacked[LAUNCHER]["display"] == "flex"

        without = measure("/no-widget", shop_page(), False)
        for selector in host:
            assert plain[selector] == without[selector], selector
        bare_globals = set(tab.page.evaluate("Object.getOwnPropertyNames(window)"))
        measure("/globals", guest_page(shop.embed), True)
        assert set(tab.page.evaluate("Object.getOwnPropertyNames(window)")) - bare_globals == set()


class TestKeyboardAndAccessibility:
    def test_tab_enter_escape(self, shop: Shop, tab: Tab) -> None:
        """Tab reaches the launcher, Enter opens and moves focus into the panel, Escape closes and
        gives focus back to the launcher."""
        load(tab, shop.pages.add("/keyboard", guest_page(shop.embed)))
        launcher = tab.page.locator(LAUNCHER)
        for _ in range(5):
            tab.page.keyboard.press("Tab")
            if focused(tab) == "launcher":
                break
        assert focused(tab) == "launcher"
        tab.page.keyboard.press("Enter")
        tab.page.locator(PANEL).wait_for(state="visible")
        assert launcher.get_attribute("aria-expanded") == "true"
        assert focused(tab) == "panel"
        tab.page.keyboard.press("Tab")
        assert focused(tab) == "panel"  # the close button, inside the panel
        tab.page.keyboard.press("Escape")
        tab.page.locator(PANEL).wait_for(state="hidden")
        assert launcher.get_attribute("aria-expanded") == "false"
        assert focused(tab) == "launcher"
        tab.page.keyboard.press("Enter")
        tab.page.locator(f"{PANEL} .x").click()
        tab.page.locator(PANEL).wait_for(state="hidden")
        assert focused(tab) == "launcher"

    @pytest.mark.parametrize("mode", ["guest", "member"])
    def test_axe_finds_no_serious_violation(self, shop: Shop, member: Member, tab: Tab, mode: str) -> None:
        """axe-core on the page with the panel open: nothing serious or critical."""
        if mode == "guest":
            load(tab, shop.pages.add("/axe-guest", guest_page(shop.embed)))
        else:
            load(tab, member_page(shop.pages, "axe-member", shop.embed, member.wix_token))
        open_panel(tab)
        assert serious_violations(tab.page, AXE.read_text()) == []


class TestFailures:
    def test_an_unknown_template_is_one_console_error_and_no_launcher(self, shop: Shop, tab: Tab) -> None:
        """The server's 404 names the template; the widget says so once and shows nothing."""
        embed = Embed(api=shop.embed.api, account=INSTANCE, template="nope")
        load(tab, shop.pages.add("/unknown-template", guest_page(embed)), state="error")
        errors = [text for text in tab.errors() if "wix-rewards-widget" in text]
        assert len(errors) == 1
        assert "404" in errors[0] and "nope" in errors[0]
        assert tab.page.locator(LAUNCHER).count() == 0

    def test_a_missing_id_is_one_console_error_naming_it(self, shop: Shop, tab: Tab) -> None:
        """No data-theme-id on the tag: no element at all, and the console names the attribute."""
        html = guest_page(shop.embed).replace(' data-theme-id="default"', "")
        tab.page.goto(shop.pages.add("/missing-id", html))
        tab.page.wait_for_function("document.readyState === 'complete'")
        wait_for(lambda: tab.errors(), 5, "the console error")
        assert tab.errors() == ["wix-rewards-widget: the script tag has no data-theme-id; no widget"]
        assert tab.page.locator("wix-rewards-widget").count() == 0

    def test_a_server_that_is_down_leaves_no_launcher(self, shop: Shop, tab: Tab) -> None:
        """widget.js loaded, its server gone: one console error saying it cannot reach it."""
        script = httpx.get(f"{shop.stack.api}/widget/v1/widget.js", timeout=10).content
        src = shop.pages.add("/copy/widget.js", script, "text/javascript")
        dead = f"http://127.0.0.1:{free_port()}"
        html = element_page({**IDS, "api-base": dead}, src)
        load(tab, shop.pages.add("/server-down", html), state="error")
        errors = [text for text in tab.errors() if text.startswith("wix-rewards-widget:")]
        assert len(errors) == 1 and f"cannot reach {dead}" in errors[0]
        assert tab.page.locator(LAUNCHER).count() == 0

    def test_a_refused_widget_token_falls_back_to_guest_mode(self, shop: Shop, tab: Tab) -> None:
        """/me answers 401 (an expired or forged token): guest content, and the console says why once."""
        session = {"mode": "member", "token": "not-a-widget-token", "instanceId": INSTANCE}
        html = element_page(
            {**IDS, "api-base": shop.stack.api}, f"{shop.stack.api}/widget/v1/widget.js", session
        )
        load(tab, shop.pages.add("/bad-token", html))
        assert tab.page.get_attribute("wix-rewards-widget", "data-mode") == "guest"
        assert shop.public("en")["copy"]["loginCta"] in open_panel(tab).inner_text()
        errors = [text for text in tab.errors() if text.startswith("wix-rewards-widget:")]
        assert len(errors) == 1 and "401 invalid_token" in errors[0] and "guest mode" in errors[0]
        assert "not-a-widget-token" not in errors[0]


IDS = {
    "account-id": INSTANCE,
    "template-id": "default",
    "theme-id": "default",
    "floating-widget-id": "default",
}


def style(locator: Any, prop: str) -> str:
    return str(locator.evaluate("(el, prop) => getComputedStyle(el).getPropertyValue(prop)", prop))


STYLE_PROPS = ["color", "font-size", "font-family", "display", "background-color", "line-height",
               "margin-top", "padding-top", "width", "border-top-width"]  # fmt: skip


def styles(locator: Any) -> dict[str, str]:
    return dict(
        locator.evaluate("(el, props) => props.map((p) => [p, getComputedStyle(el)[p]])", STYLE_PROPS)
    )


def focused(tab: Tab) -> str:
    """Where focus is: "launcher", "panel" (on or in it), or the focused host element's tag."""
    return str(
        tab.page.evaluate(
            """() => {
              const host = document.activeElement;
              if (!host || host.tagName !== "WIX-REWARDS-WIDGET") return host ? host.tagName : "";
              const inner = host.shadowRoot.activeElement;
              if (!inner) return "host";
              if (inner.classList.contains("launcher")) return "launcher";
              return inner.closest("[role=dialog]") ? "panel" : inner.tagName;
            }"""
        )
    )


def widget_session(shop: Shop, wix_token: str) -> dict[str, str]:
    """A widget token for the member whose Wix token this is, as the snippet gets it."""
    answer = httpx.post(
        f"{shop.stack.api}/widget/v1/session", headers={"authorization": wix_token}, timeout=10
    )
    answer.raise_for_status()
    return {"authorization": f"Bearer {answer.json()['token']}"}


def referral(shop: Shop, auth: dict[str, str]) -> dict[str, Any]:
    answer = httpx.get(f"{shop.stack.api}/widget/v1/referrals/me", headers=auth, timeout=10)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


class TestReferrals:
    def test_the_member_panel_shows_the_referral_link_and_copies_it(
        self, shop: Shop, member: Member, tab: Tab, artifacts: Path
    ) -> None:
        """The link is this shop page with `?wrw_ref=<the member's code>`; the copy button copies it."""
        code = referral(shop, widget_session(shop, member.wix_token))["code"]
        tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=shop.pages.origin)
        url = member_page(shop.pages, "member-referral", shop.embed, member.wix_token)
        load(tab, url)
        panel = open_panel(tab)
        section = panel.locator(".referral")
        section.wait_for(state="visible")
        assert section.locator("code").inner_text() == f"{url}?wrw_ref={code}"
        assert "10% off" in section.inner_text() and "100 points" in section.inner_text()
        section.scroll_into_view_if_needed()
        tab.page.screenshot(path=str(artifacts / "widget-referral.png"))
        section.get_by_role("button", name="Copy link").click()
        section.get_by_role("button", name="Copied").wait_for(state="visible")
        assert tab.page.evaluate("navigator.clipboard.readText()") == f"{url}?wrw_ref={code}"
        assert tab.errors() == []

    def test_a_member_who_opens_a_referral_link_claims_it(self, shop: Shop, member: Member, tab: Tab) -> None:
        """A signed-in friend opens the link: the widget claims the code once and forgets it."""
        code = referral(shop, widget_session(shop, member.wix_token))["code"]
        fake = shop.stack.fake_wix
        friend_contact, friend_member = str(uuid.uuid4()), str(uuid.uuid4())
        fake.control(
            "POST", f"instances/{INSTANCE}/members", json={"id": friend_member, "contactId": friend_contact}
        )
        token = fake.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": friend_member})[
            "token"
        ]
        friend = widget_session(shop, token)
        assert referral(shop, friend)["referredStatus"] is None
        url = member_page(shop.pages, "friend-arrives", shop.embed, token)
        load(tab, f"{url}?wrw_ref={code}")
        tab.page.locator("wix-rewards-widget[data-referral-claim=claimed]").wait_for(state="attached")
        assert referral(shop, friend)["referredStatus"] == "claimed"
        assert tab.page.evaluate("localStorage.getItem('wix-rewards-widget:wrw_ref')") is None
        assert tab.errors() == []
