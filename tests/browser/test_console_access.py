"""Issue 14's access scenario for the merchant console (`/dashboard/`), against the running web process,
real Redis and the fake Wix: the merchant signs in through a Wix-signed `instance` and through Wix's Token
Info; a forged, tampered, expired, revoked or foreign `instance` is refused with a clear page; another
site's id in a URL or inside a posted form, a POST without a CSRF token and one with another session's are
refused and write nothing (the programme's versions and the audit log unchanged); an operator's ADMIN_TOKEN
opens any site, a `console link` only its own. Every refusal page is scanned by axe-core; screenshots of
the sign-in, a refusal and the Home page go to tests/artifacts/ (console-*.png).

(tests/browser/test_console.py covers the Home checklist, the Programme page and a wrong CSRF header sent
by htmx; this file covers who gets in.)"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, daily_programme, signed
from tests.browser.harness import AXE, ROOT
from tests.browser.harness import serious_violations as harness_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    ADMIN,
    ADMIN_TOKEN,
    APP_ID,
    FakeWixProcess,
    fake_wix,
    module_redis_url,
)

SITE = "6b1e6a2c-0000-4000-8000-00000000ac01"
OTHER_SITE = "6b1e6a2c-0000-4000-8000-00000000ac02"
CONSOLE_SECRET = "access-tests-console-secret-0123456789abcdef"
ANOTHER_APP = "99999999-8888-7777-6666-555555555555"


class Access:
    """The web process and what the tests ask of it and of the fake Wix."""

    def __init__(self, console: Console) -> None:
        self.console, self.api, self.web = console, console.api, console.web
        self.fake_wix, self.env = console.fake_wix, console.env

    def entry(self, instance: str) -> str:
        return self.console.entry(instance)

    def dashboard_token(self, site: str = SITE, **body: str) -> str:
        """The `instance` value Wix's newer dashboard opens the page with: a token for Token Info."""
        return str(self.fake_wix.control("POST", f"instances/{site}/dashboard-tokens", json=body)["instance"])

    def signed_in(self, instance: str) -> tuple[str, str]:
        """(session, CSRF token) of a sign-in through `instance`, from the Home page's hidden fields."""
        answer = httpx.get(self.entry(instance), timeout=10)
        assert answer.status_code == 200, answer.text
        session = re.search(r'name="session" value="([^"]+)"', answer.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', answer.text)
        assert session and csrf
        return session.group(1), csrf.group(1)

    def post(self, site: str, action: str, **form: str) -> httpx.Response:
        return httpx.post(f"{self.api}/dashboard/sites/{site}/{action}", data=form, timeout=10)

    def written(self, site: str) -> tuple[Any, Any]:
        """What a refused POST must leave as it was: the site's programme versions and audit log."""
        base = f"{self.api}/admin/v1/instances/{site}"
        versions = httpx.get(f"{base}/program/versions", headers=ADMIN, timeout=10).json()
        audit = httpx.get(f"{base}/audit-log", headers=ADMIN, timeout=10).json()
        return versions, audit


@pytest.fixture(scope="module")
def access(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Access]:  # noqa: F811
    """The web process alone (nothing here needs a worker); both sites' programmes published through the
    admin API, this site's twice and the other's three times, so the other has a version this one lacks."""
    with console_stack(fake_wix, module_redis_url, worker=False, CONSOLE_SECRET=CONSOLE_SECRET) as console:
        for site, names in ((SITE, ["Daily", "Every day"]), (OTHER_SITE, ["One", "Two", "Three"])):
            for name in names:
                console.publish(site, daily_programme(name=name))
        yield Access(console)


@pytest.fixture(scope="module")
def scanned(browser: Any) -> Iterator[Any]:
    """A page whose context bypasses CSP, only so axe-core can be injected."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def serious_violations(page: Any) -> list[tuple[str, Any]]:
    return harness_violations(page, AXE.read_text())


def footer(tab: Tab) -> str:
    return str(tab.page.locator("footer").inner_text())


class TestSignIn:
    def test_a_merchant_signs_in_through_a_signed_instance_and_through_token_info(
        self, access: Access, tab: Tab, artifacts: Path
    ) -> None:
        """Both of Wix's forms open the site's Home page as the Wix user they name; the token reaches no
        log line of the web process."""
        answer = tab.page.goto(access.entry(signed(SITE)))
        assert answer is not None and answer.status == 200
        assert tab.page.get_by_role("heading", name="Set-up", level=1).is_visible()
        assert f"Site {SITE}" in footer(tab) and "signed in as owner-1" in footer(tab)

        token = access.dashboard_token(userId="owner-7")
        answer = tab.page.goto(access.entry(token))
        assert answer is not None and answer.status == 200
        assert "signed in as owner-7" in footer(tab)
        tab.page.screenshot(path=str(artifacts / "console-access-home.png"), full_page=True)
        tab.page.get_by_role("link", name="Programme").click()
        assert tab.page.get_by_role("heading", level=1).inner_text() == "Programme"
        assert token.split(".")[-1] not in "".join(access.web.output)
        assert tab.errors() == []

    def test_an_operator_opens_any_site_and_a_link_only_its_own(
        self, access: Access, tab: Tab, artifacts: Path
    ) -> None:
        tab.page.goto(f"{access.api}/dashboard/")
        tab.page.get_by_label("Site (instance id)").fill(OTHER_SITE)
        tab.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        tab.page.screenshot(path=str(artifacts / "console-signin.png"), full_page=True)
        tab.page.get_by_role("button", name="Sign in").click()
        tab.page.get_by_role("heading", name="Set-up", level=1).wait_for()
        assert f"Site {OTHER_SITE}" in footer(tab) and "an operator" in footer(tab)
        session = tab.page.locator("input[name=session]").first.get_attribute("value")
        answer = tab.page.goto(f"{access.api}/dashboard/sites/{SITE}/?session={quote(str(session))}")
        assert answer is not None and answer.status == 200 and f"Site {SITE}" in footer(tab)

        printed = subprocess.run(
            [sys.executable, "-m", "worker", "console", "link", "--instance", SITE],
            cwd=ROOT, env=access.env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        link = printed.removeprefix("https://rewards.example.test")
        answer = tab.page.goto(f"{access.api}{link}")
        assert answer is not None and answer.status == 200 and "signed in as link" in footer(tab)
        session = tab.page.locator("input[name=session]").first.get_attribute("value")
        answer = tab.page.goto(f"{access.api}/dashboard/sites/{OTHER_SITE}/?session={quote(str(session))}")
        assert answer is not None and answer.status == 403
        assert "another site" in tab.page.get_by_role("alert").inner_text()


class TestRefusedInstances:
    def test_each_bad_instance_is_refused_with_a_clear_page(
        self, access: Access, scanned: Any, artifacts: Path
    ) -> None:
        """Forged (wrong secret), tampered (another site's payload under this one's signature), expired
        (signed 11 minutes ago, or past its expirationDate), and through Token Info: unknown, revoked,
        another app's, a site member's. Each page says why, opens no session, and is axe-clean."""
        revoked = access.dashboard_token(userId="owner-r")
        access.fake_wix.control("POST", "tokens/revoke", json={"instanceId": SITE})
        member = access.fake_wix.control("POST", f"instances/{SITE}/member-tokens", json={"memberId": "m-1"})
        tampered = f"{signed(SITE).split('.')[0]}.{signed(OTHER_SITE).split('.')[1]}"
        gone = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        cases = [
            ("wrong-secret", signed(SITE, secret="not-the-app-secret"), 403, "signature does not verify"),
            ("tampered", tampered, 403, "signature does not verify"),
            ("expired", signed(SITE, age=timedelta(minutes=11)), 403, "has expired"),
            ("past-expiration", signed(SITE, expirationDate=gone), 403, "has expired"),
            ("unknown-token", "OauthNG.JWS.forged-by-someone", 401, "not valid or has expired"),
            ("revoked-token", revoked, 401, "not valid or has expired"),
            ("another-app", access.dashboard_token(userId="u", appId=ANOTHER_APP), 401, "another Wix app"),
            ("member-token", member["token"], 401, "not a Wix user's"),
        ]
        for name, instance, status, reason in cases:
            answer = scanned.goto(access.entry(instance))
            assert answer is not None and answer.status == status, name
            assert scanned.get_by_role("heading", level=1).inner_text() == f"Not allowed ({status})", name
            assert reason in scanned.get_by_role("alert").inner_text(), name
            assert scanned.locator("input[name=session]").count() == 0, name
            assert serious_violations(scanned) == [], name
            if name == "expired":
                scanned.screenshot(path=str(artifacts / "console-refused.png"), full_page=True)

    def test_wix_not_answering_is_a_503_page_saying_so(self, access: Access, tab: Tab) -> None:
        token = access.dashboard_token(site=OTHER_SITE)
        fault = {"status": 503, "pathPrefix": "/oauth2/token-info", "count": 20}
        access.fake_wix.control("POST", "faults", json=fault)
        try:
            answer = tab.page.goto(access.entry(token))
        finally:
            access.fake_wix.control("DELETE", "faults")
        assert answer is not None and answer.status == 503
        assert "Wix does not answer now" in tab.page.get_by_role("alert").inner_text()
        answer = tab.page.goto(access.entry(token))  # Wix back: the same token opens the site
        assert answer is not None and answer.status == 200


class TestRefusedChanges:
    def test_another_sites_id_in_the_url_or_the_form_is_refused_and_nothing_is_written(
        self, access: Access, scanned: Any
    ) -> None:
        """This site's session at the other site's URL; the other site's session inside a form posted to
        this site's URL; a rollback form naming a version only the other site has: refused, both sites'
        versions and audit logs as they were."""
        session, csrf = access.signed_in(signed(SITE))
        other_session, other_csrf = access.signed_in(signed(OTHER_SITE))
        before = access.written(SITE), access.written(OTHER_SITE)

        answer = scanned.goto(f"{access.api}/dashboard/sites/{OTHER_SITE}/program?session={quote(session)}")
        assert answer is not None and answer.status == 403
        assert "another site" in scanned.get_by_role("alert").inner_text()
        assert serious_violations(scanned) == []
        at_other = access.post(OTHER_SITE, "program/rollback", session=session, csrf=csrf, version="1")
        assert at_other.status_code == 403 and "another site" in at_other.text
        in_form = access.post(SITE, "program/rollback", session=other_session, csrf=other_csrf, version="1")
        assert in_form.status_code == 403 and "another site" in in_form.text
        publish = access.post(SITE, "program/publish", session=other_session, csrf=other_csrf, note="x")
        assert publish.status_code == 403
        others_version = access.post(SITE, "program/rollback", session=session, csrf=csrf, version="3")
        assert others_version.status_code == 404 and "There is no version 3" in others_version.text
        assert (access.written(SITE), access.written(OTHER_SITE)) == before

    def test_a_post_without_csrf_or_with_another_sessions_is_refused_and_nothing_is_written(
        self, access: Access, tab: Tab, scanned: Any
    ) -> None:
        """The Programme page's own rollback button, its CSRF token taken out of the form and the headers:
        the refusal replaces the page (axe-clean); by plain HTTP, another session's token of the same site
        is refused too. The versions and the audit log stay as they were."""
        before = access.written(SITE)
        session, _ = access.signed_in(signed(SITE))
        _, another_sessions_csrf = access.signed_in(signed(SITE))
        stolen = access.post(
            SITE, "program/rollback", session=session, csrf=another_sessions_csrf, version="1"
        )
        assert stolen.status_code == 403 and "CSRF" in stolen.text
        bootstrap = access.post(SITE, "bootstrap", session=session, csrf=another_sessions_csrf)
        assert bootstrap.status_code == 403

        scanned.goto(f"{access.api}/dashboard/sites/{SITE}/program?session={quote(session)}")
        scanned.evaluate(
            """() => {
              const headers = JSON.parse(document.body.getAttribute("hx-headers"));
              delete headers["X-CSRF-Token"];
              document.body.setAttribute("hx-headers", JSON.stringify(headers));
              document.querySelectorAll("input[name=csrf]").forEach((input) => input.remove());
            }"""
        )
        scanned.get_by_role("button", name="Roll back to 1").click()
        assert "CSRF" in scanned.get_by_role("alert").inner_text()
        assert scanned.get_by_role("heading", level=1).inner_text() == "Not allowed (403)"
        assert serious_violations(scanned) == []
        assert access.written(SITE) == before
