"""Real-browser fixtures: one Chromium per module, a page server on localhost, and the whole service (web,
one Celery worker, real Redis) pointed at the fake Wix, as tests/integration runs them.

Every test here that needs a browser is skipped, with the reason, on a machine without /usr/bin/chromium.
The console's tests (test_console*.py) run their service with tests/browser/console_stack.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.harness import PageServer, chromium, chromium_missing
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    ADMIN_TOKEN,
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    Process,
    fake_wix,
    module_redis_url,
    service_env,
    start_web,
    start_web_and_worker,
    start_worker,
)

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
WIDGET_TOKEN_SECRET = "browser-tests-widget-secret-0123456789abcdef"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = chromium_missing()
    if reason is None:
        return
    for item in items:
        needs_browser = {"browser", "tab"} & set(getattr(item, "fixturenames", ()))
        if HERE in Path(str(item.path)).parents and needs_browser:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@dataclass
class Tab:
    """A page in a fresh browser context, with what it wrote to the console."""

    page: Any
    console: list[tuple[str, str]] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, timezone_id="UTC", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    opened = Tab(page)
    page.on("console", lambda message: opened.console.append((message.type, message.text)))
    yield opened
    context.close()


@dataclass
class Stack:
    """The service under test: its origin, the fake Wix, the environment both processes run with."""

    api: str
    fake_wix: FakeWixProcess
    env: dict[str, str]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, f"{self.api}/admin/v1{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def stack(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Stack]:  # noqa: F811
    """Web and one worker, Wix calls going to the fake Wix, webhooks signed with its key."""
    env = service_env(
        module_redis_url,
        fake_wix.public_key.read_text(),
        WIX_APP_ID=APP_ID,
        WIX_APP_SECRET=APP_SECRET,
        WIX_API_BASE=fake_wix.base_url,
        WIDGET_TOKEN_SECRET=WIDGET_TOKEN_SECRET,
        WIX_TIMEOUT_SECONDS="5",
    )
    web, api, worker = start_web_and_worker(env)
    try:
        yield Stack(api, fake_wix, env)
    finally:
        worker.stop()
        web.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
