"""What the console's browser tests (tests/browser/test_console*.py) share: the service they drive (web and
one Celery worker pointed at the fake Wix, as tests/integration runs them), a site installed and its
programme published, and Wix's signed `instance` parameter to sign in with.

A test module makes its own module-scoped fixture from `console_stack`, its sites and programmes its own:

    @pytest.fixture(scope="module")
    def console(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Console]:  # noqa: F811
        with console_stack(fake_wix, module_redis_url) as stack:
            stack.install(SITE)
            stack.publish(SITE, daily_programme())
            yield stack

and signs in with `tab.page.goto(console.entry(signed(SITE)))`. Their programmes are `daily_programme`
with the few changes each needs (the milestone's day and reward, the streak's name, a theme). The web
process and the worker start together (their start-ups overlap); both are stopped at the end, whatever
happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from tests.integration.conftest import (
    ADMIN,
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    Process,
    service_env,
    start_web,
    start_web_and_worker,
    start_worker,
    wait_for,
)
from worker.console.sessions import sign_instance
from worker.dev.programs import Document, coupon, milestone, program, rule, streak

CONSOLE_SECRET = "browser-tests-console-secret-0123456789abcdef"
PUBLIC_BASE_URL = "https://rewards.example.test"


def daily_programme(
    days: int = 3, reward: Document | None = None, *, name: str = "Daily", **more: Any
) -> Document:
    """The console tests' programme: one streak, `daily`, that every paid order logs to, with one
    milestone at `days` days running whose reward is `reward` (unless told: a coupon of 10% off, which
    the worker issues in the fake Wix); `more` adds top-level fields (themes, ...)."""
    step = milestone(f"day-{days}", f"{days} days running", days, reward or coupon("Ten", 10))
    return program(
        streaks=[streak("daily", name, period="daily", milestones=[step])],
        rules=[rule("order_paid", streak="daily")],
        **more,
    )


def signed(instance_id: str, secret: str = APP_SECRET, age: timedelta = timedelta(0), **extra: Any) -> str:
    """An `instance` parameter as Wix's dashboard signs it for the site's owner, `age` old."""
    payload = {
        "instanceId": instance_id,
        "appDefId": APP_ID,
        "signDate": (datetime.now(UTC) - age).isoformat(),
        "uid": "owner-1",
        "permissions": "OWNER",
        **extra,
    }
    return sign_instance(payload, secret)


def console_env(fake_wix: FakeWixProcess, redis_url: str, **extra: str) -> dict[str, str]:
    """The service's environment for the console's tests: Wix calls to the fake Wix (five seconds each),
    webhooks signed with its key, the console's secret, a public address for the widget's script."""
    return service_env(
        redis_url,
        fake_wix.public_key.read_text(),
        **{
            "WIX_APP_ID": APP_ID,
            "WIX_APP_SECRET": APP_SECRET,
            "WIX_API_BASE": fake_wix.base_url,
            "CONSOLE_SECRET": CONSOLE_SECRET,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "WIX_TIMEOUT_SECONDS": "5",
            **extra,
        },
    )


@dataclass
class Console:
    """The running service: its origin, the fake Wix, the environment, the web process and the worker
    (`console_stack` fills them all; `Console(api)` alone, as the tests made it before, still has
    `admin` and `entry`)."""

    api: str
    fake_wix: FakeWixProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    web: Process | None = None
    worker: Process | None = None

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.api}/admin/v1{path}", headers=ADMIN, timeout=10, **kwargs)

    def entry(self, instance: str) -> str:
        """The console's address as Wix's dashboard opens it, with `instance` (see `signed`)."""
        return f"{self.api}/dashboard/?instance={quote(instance)}"

    def install(self, *sites: str) -> None:
        """Each site installed by the fake Wix (its webhooks to our receiver); waits until the service
        has handled the install (the widget's script embedded)."""
        assert self.fake_wix is not None, "Console(api) alone: use console_stack to install"
        for site in sites:
            self.fake_wix.control(
                "POST", f"instances/{site}/install", json={"webhookUrl": f"{self.api}/webhooks/wix"}
            )
            wait_for(
                lambda site=site: self.admin("GET", f"/instances/{site}").json().get("embedding"),  # type: ignore[misc]
                30,
                f"the install of {site}",
            )

    def publish(self, site: str, programme: dict[str, Any]) -> None:
        """`programme` published for `site` through the admin API."""
        answer = self.admin("PUT", f"/instances/{site}/program", json=programme)
        assert answer.status_code == 200, answer.text

    def use_worker(self, **env: str) -> Process:
        """Stop the running worker, if any, and start one with `env` changed (e.g. a wrong app secret)."""
        self.stop_worker()
        self.worker = start_worker({**self.env, **env})
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


@contextmanager
def console_stack(
    fake_wix: FakeWixProcess, redis_url: str, *, worker: bool = True, **env: str
) -> Iterator[Console]:
    """The web process and (unless `worker=False`) one worker on `console_env` with `env` changed."""
    environment = console_env(fake_wix, redis_url, **env)
    if worker:
        web, api, started = start_web_and_worker(environment)
        stack = Console(api, fake_wix, environment, web, started)
    else:
        web, api = start_web(environment)
        stack = Console(api, fake_wix, environment, web)
    try:
        yield stack
    finally:
        stack.stop_worker()
        web.stop()
