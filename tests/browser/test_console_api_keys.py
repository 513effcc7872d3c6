"""The console's API keys page in a real Chromium, against the running web process and Redis: a key is
created and shown once (a reload lists only its first characters), it records a log on the records API,
it is revoked after a confirmation, and the same request is then refused with 401 "the API key was
revoked"; the audit log has both. axe-core finds nothing serious; a screenshot goes to
tests/artifacts/console-api-keys.png (gitignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import Tab
from tests.browser.console_stack import CONSOLE_SECRET
from tests.browser.harness import AXE, serious_violations
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    ADMIN,
    challenge_log,
    module_redis_url,
    record_log,
    service_env,
    start_web,
)
from worker.console.sessions import mint_link
from worker.dev.programs import BASE_PROGRAM

SITE = "6b1e6a2c-0000-4000-8000-00000000c715"


@pytest.fixture(scope="module")
def api(module_redis_url: str, public_key_pem: str) -> Iterator[str]:  # noqa: F811
    env = service_env(module_redis_url, public_key_pem, CONSOLE_SECRET=CONSOLE_SECRET)
    web, base_url = start_web(env)
    try:
        put = httpx.put(f"{base_url}/admin/v1/instances/{SITE}/program", json=BASE_PROGRAM, headers=ADMIN)
        assert put.status_code == 200, put.text
        yield base_url
    finally:
        web.stop()


def open_api_keys(page: Any, api: str) -> None:
    page.goto(f"{api}/dashboard/?link={quote(mint_link(CONSOLE_SECRET, SITE, datetime.now(UTC)))}")
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys", level=1).wait_for()


def test_create_shown_once_use_revoke_refused(api: str, tab: Tab, browser: Any, artifacts: Path) -> None:
    page = tab.page  # the console's own CSP holds here (axe-core is injected in a context of its own)
    open_api_keys(page, api)
    assert page.get_by_text("This site has no API keys listed yet.").is_visible()
    keys_url = page.url

    page.get_by_role("button", name="Create an API key").click()
    shown = page.get_by_label("Your new API key (copy it now; it is not shown again)")
    shown.wait_for()
    key = shown.input_value()
    assert key.startswith("wrw_") and len(key) > 40
    key_id = key[:12]
    assert "active" in page.locator(f"tr[data-key='{key_id}']").inner_text()
    page.screenshot(path=str(artifacts / "console-api-keys.png"), full_page=True)

    page.goto(keys_url)  # a reload: the key is not shown again, only its first characters
    page.get_by_role("heading", name="API keys", level=1).wait_for()
    assert key not in page.content()
    assert page.locator(f"tr[data-key='{key_id}'] code").inner_text() == f"{key_id}…"

    bearer = {"authorization": f"Bearer {key}"}
    log = challenge_log("c-api-keys", "spend-500", "300", "api-keys-browser-1")
    assert record_log(api, bearer, log).status_code == 201

    row = page.locator(f"tr[data-key='{key_id}']")
    row.get_by_text("Revoke…").focus()
    page.keyboard.press("Enter")  # the confirmation opens, by keyboard
    row.get_by_role("button", name=f"Yes, revoke {key_id}…").click()
    page.get_by_role("status").filter(has_text=f"API key {key_id} is revoked").wait_for()
    assert "revoked" in page.locator(f"tr[data-key='{key_id}']").inner_text()

    refused = record_log(api, bearer, {**log, "uniqueIdentifier": "api-keys-browser-2"})
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the API key was revoked"
    audit = httpx.get(f"{api}/admin/v1/instances/{SITE}/audit-log", headers=ADMIN, timeout=5).json()
    actions = [(entry["action"], entry["details"]) for entry in audit["entries"]][:2]
    assert actions == [("api_key_revoked", {"id": key_id}), ("api_key_created", {"id": key_id})]
    assert key not in json.dumps(audit)
    assert tab.errors() == []

    context = browser.new_context(bypass_csp=True)
    try:
        scanned = context.new_page()
        open_api_keys(scanned, api)
        scanned.get_by_role("button", name="Create an API key").click()
        scanned.get_by_label("Your new API key (copy it now; it is not shown again)").wait_for()
        # the new key shown, an active and a revoked key listed
        assert serious_violations(scanned, AXE.read_text()) == []
    finally:
        context.close()
