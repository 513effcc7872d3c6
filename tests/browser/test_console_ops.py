"""The operations room in a real Chromium, against the running service (web, a real Celery worker, Redis)
and the fake Wix: the bootstrap started from the Jobs page, its progress polled to done; a reward that
failed for good (a worker with the wrong app secret cannot get a Wix token, as tests/integration's
dead-letter test does it) listed, inspected and replayed once from the Dead letters page, then issued
with one coupon; a paid order's event found by its id; site A's session refused on site B's pages;
axe-core finds nothing serious. Screenshots go to tests/artifacts/ (gitignored)."""

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

from tests import wix_samples
from tests.browser.conftest import Tab
from tests.browser.console_stack import Console, console_stack, signed
from tests.browser.harness import AXE
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    ADMIN,
    FakeWixProcess,
    fake_wix,
    module_redis_url,
    wait_for,
)
from tests.integration.shop import INSTANCE as SITE
from tests.integration.shop import PROGRAM, signing_key
from worker import keys
from worker.infra.redis_client import sync_client
from worker.store.dead_letters import DeadLetters
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

OTHER_SITE = "6b1e6a2c-0000-4000-8000-00000000e202"
CONTACTS = 30


class Ops:
    """The running service (`console`), the Redis it writes to, and what the tests send it."""

    def __init__(self, console: Console, redis_url: str) -> None:
        self.console, self.redis_url = console, redis_url
        self.api, self.fake_wix = console.api, console.fake_wix

    def use_worker(self, **env: str) -> None:
        """Stop the running worker and start one with `env` changed."""
        self.console.use_worker(**env)

    def entry(self, instance_id: str = SITE) -> str:
        return self.console.entry(signed(instance_id))

    def post_paid_order(self, event_id: str, contact: str, total: str) -> None:
        """Wix's webhook for a paid order of `total`, its event id `event_id`."""
        payload = wix_samples.payment_status_updated(event_id=event_id)
        payload["eventTime"] = datetime.now(UTC).isoformat()
        order = payload["actionEvent"]["body"]["order"]
        order["id"] = str(uuid.uuid4())
        order["buyerInfo"]["contactId"] = contact
        order["priceSummary"]["total"]["amount"] = total
        token = sign_webhook(
            signing_key(self.fake_wix), "wix.ecom.v1.order_payment_status_updated", SITE, payload
        )  # type: ignore[arg-type]
        answer = httpx.post(f"{self.api}/webhooks/wix", content=token, timeout=5)
        assert answer.status_code == 200, answer.text

    def coupons(self) -> list[dict[str, Any]]:
        return list(self.fake_wix.control("GET", f"instances/{SITE}/coupons")["coupons"])


@pytest.fixture(scope="module")
def ops(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[Ops]:  # noqa: F811
    """Web and one worker; the shop's site installed by the fake Wix, with contacts, and the shop's
    programme (a paid order of $50 or more earns a coupon) published through the admin API."""
    fake_wix.control("POST", "reset")
    with console_stack(fake_wix, module_redis_url) as console:
        console.install(SITE)
        fake_wix.control("POST", f"instances/{SITE}/contacts/bulk", json={"count": CONTACTS})
        console.publish(SITE, PROGRAM)
        yield Ops(console, module_redis_url)


def session_of(tab: Tab) -> str:
    return str(json.loads(str(tab.page.locator("body").get_attribute("hx-headers")))["X-Console-Session"])


class TestOperationsRoom:
    def test_a_job_started_from_the_jobs_page_shows_its_progress_to_the_end(
        self, ops: Ops, tab: Tab, artifacts: Path
    ) -> None:
        """A catch-up with a `since` that is not a time is refused beside its field; the bootstrap starts
        and its run, polled by the page itself, reaches `succeeded` with every contact handled."""
        tab.page.goto(ops.entry())
        tab.page.get_by_role("link", name="Operations").click()
        tab.page.get_by_role("heading", name="Jobs", level=1).wait_for()
        since = tab.page.get_by_label("Orders updated since (UTC)")
        since.evaluate("input => { input.type = 'text'; }")  # what a browser without a date picker sends
        since.fill("last tuesday")
        tab.page.get_by_role("button", name="Start catch-up").click()
        problem = tab.page.locator("#catch-up-since-problem")
        problem.wait_for()
        assert "not a date and time" in problem.inner_text()
        assert tab.page.get_by_label("Orders updated since (UTC)").get_attribute("aria-invalid") == "true"

        tab.page.get_by_role("button", name="Start bootstrap").click()
        tab.page.get_by_role("status").filter(has_text="The bootstrap job started.").wait_for()
        run = tab.page.locator("#running article.job-run").first
        job_id = str(run.get_attribute("data-job"))
        finished = tab.page.locator(f'[data-job="{job_id}"][data-status="succeeded"]')
        finished.wait_for(timeout=60_000)  # no reload: htmx's polling brought it
        assert f"{CONTACTS} done, 0 skipped, 0 failed of {CONTACTS}" in finished.inner_text()
        assert finished.locator("progress").get_attribute("value") == "100"
        assert finished.get_attribute("hx-trigger") is None  # the polling stopped
        tab.page.screenshot(path=str(artifacts / "console-jobs.png"), full_page=True)
        assert [error for error in tab.errors() if "422" not in error] == []  # but the refused start

    def test_a_dead_letter_is_inspected_and_replayed_once(self, ops: Ops, tab: Tab, artifacts: Path) -> None:
        """A worker with the wrong app secret: the reward's fulfilment fails for good and is parked. The
        page lists it, shows its error and tries; with the secret fixed, Replay issues the reward, and
        the same replay posted again does nothing: one coupon."""
        ops.use_worker(WIX_APP_SECRET="not-the-secret")
        ops.fake_wix.control("POST", "tokens/revoke", json={"instanceId": SITE})  # the cached one too
        contact = f"contact-{uuid.uuid4()}"
        ops.post_paid_order(str(uuid.uuid4()), contact, "60.00")
        store = ProgressStore(sync_client(ops.redis_url))
        wait_for(lambda: store.member_reward_logs(SITE, contact), 30, "the reward log")
        [reward_log] = store.member_reward_logs(SITE, contact)
        wait_for(
            lambda: store.reward_log(SITE, reward_log["id"])["status"] == "failed", 60, "the reward to fail"
        )
        parked = sync_client(ops.redis_url)  # the task is parked after the log is marked failed
        wait_for(
            lambda: any("rewards.fulfil_reward" in str(v) for v in parked.hvals(keys.DEAD_LETTERS)),  # type: ignore[union-attr]
            60,
            "the dead letter",
        )
        ops.use_worker()

        tab.page.goto(ops.entry())
        tab.page.get_by_role("link", name="Operations").click()
        tab.page.get_by_role("navigation", name="Operations").get_by_role("link", name="Dead letters").click()
        row = tab.page.locator("#dead-letters tbody tr").filter(has_text="rewards.fulfil_reward")
        row.first.wait_for()
        assert row.count() == 1
        row.get_by_role("link", name="Inspect").click()
        inspected = tab.page.locator("#inspected")
        inspected.wait_for()
        assert "401" in inspected.locator(".error").inner_text()
        assert int(inspected.locator(".tries").inner_text()) >= 1
        assert reward_log["id"] in inspected.locator("pre.arguments").inner_text()
        tab.page.screenshot(path=str(artifacts / "console-dead-letters.png"), full_page=True)

        entry_id = str(inspected.get_attribute("data-entry"))
        replay_form = inspected.locator("form").filter(
            has=tab.page.get_by_role("button", name="Replay this task")
        )
        csrf = str(replay_form.locator("input[name=csrf]").get_attribute("value"))
        inspected.get_by_role("button", name="Replay this task").click()
        tab.page.get_by_role("status").filter(has_text="Replayed rewards.fulfil_reward").wait_for()
        again = httpx.post(
            f"{ops.api}/dashboard/sites/{SITE}/dead-letters/replay",
            data={"session": session_of(tab), "csrf": csrf, "id": entry_id},
            timeout=10,
        )
        assert again.status_code == 404 and "replayed or purged" in again.text
        wait_for(
            lambda: store.reward_log(SITE, reward_log["id"])["status"] == "issued", 30, "the replayed reward"
        )
        assert len(ops.coupons()) == 1
        assert tab.page.locator(f'#dead-letters tr[data-entry="{entry_id}"]').count() == 0
        assert tab.errors() == []

    def test_an_event_is_found_by_id_another_sites_pages_are_refused_and_axe_is_clean(
        self, ops: Ops, browser: Any, tab: Tab
    ) -> None:
        """The paid order's event: its type, status and the challenge it fed. Site A's session on site B's
        Jobs and Dead letters pages: 403. axe-core (the context bypasses CSP only to inject it) finds
        nothing serious on the three pages."""
        event_id = str(uuid.uuid4())
        ops.post_paid_order(event_id, f"contact-{uuid.uuid4()}", "20.00")
        journal = f"{ops.api}/admin/v1/instances/{SITE}/events/{event_id}"
        wait_for(
            lambda: httpx.get(journal, headers=ADMIN, timeout=10).json().get("status") == "processed",
            30,
            "the event",
        )

        tab.page.goto(ops.entry())
        session = session_of(tab)
        tab.page.goto(f"{ops.api}/dashboard/sites/{SITE}/events?session={quote(session)}")
        tab.page.get_by_label("Event id").fill(event_id)
        tab.page.get_by_role("button", name="Look up").click()
        result = tab.page.locator("#event-result")
        result.wait_for()
        assert result.get_attribute("data-status") == "processed"
        assert "payment_status_updated" in result.locator("h2").inner_text()
        assert "challenge spend-50" in result.locator(".event-logs").inner_text()
        tab.page.get_by_label("Event id").fill(str(uuid.uuid4()))
        tab.page.get_by_role("button", name="Look up").click()
        tab.page.get_by_role("status").filter(has_text="No such event").wait_for()

        for page in ("jobs", "dead-letters"):
            answer = tab.page.goto(f"{ops.api}/dashboard/sites/{OTHER_SITE}/{page}?session={quote(session)}")
            assert answer is not None and answer.status == 403
            assert "another site" in tab.page.get_by_role("alert").inner_text()

        DeadLetters(sync_client(ops.redis_url)).park(  # one to inspect, for the scan
            task_id="axe-1",
            task_name="rewards.fulfil_reward",
            args=[],
            kwargs={"instance_id": SITE, "reward_log_id": "r-axe"},
            queue="rewards",
            error="WixApiError: 401 Unauthorized",
            retries=0,
        )
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            axe = AXE.read_text()
            base = f"{ops.api}/dashboard/sites/{SITE}"
            for path in ("jobs", "dead-letters?id=axe-1", f"events?id={quote(event_id)}"):
                separator = "&" if "?" in path else "?"
                page.goto(f"{base}/{path}{separator}session={quote(session)}")
                page.add_script_tag(content=axe)
                found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
                serious = [
                    (v["id"], [node["target"] for node in v["nodes"]])
                    for v in found["violations"]
                    if v["impact"] in ("serious", "critical")
                ]
                assert serious == [], path
        finally:
            context.close()
