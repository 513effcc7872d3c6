"""The operations room's routes (worker/web/console/ops_routes.py): another site's pages refused, every
POST CSRF-checked, a bad option a 422 beside its field, a running job's fragment polled until it ends, the
purge's confirm step, the event lookup's 404 and 422."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.web.test_console import ADMIN_TOKEN, APP_ID, APP_SECRET, CONSOLE_SECRET, SITE, signed, tokens
from worker.dispatch import RecordedDispatcher
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.settings import Settings
from worker.store import audit_log
from worker.store.dead_letters import DeadLetters
from worker.web.app import create_app

OTHER = "site-b"


@pytest.fixture
def follow_ups() -> RecordedDispatcher:
    return RecordedDispatcher()


@pytest.fixture
def api(fake_async, fake_store, follow_ups) -> TestClient:
    settings = Settings(
        redis_url="redis://unused",
        admin_token=ADMIN_TOKEN,
        wix_app_id=APP_ID,
        wix_app_secret=APP_SECRET,
        console_secret=CONSOLE_SECRET,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=follow_ups)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def signed_in(api) -> tuple[str, str]:
    return tokens(api.get("/dashboard/", params={"instance": signed()}).text)


def park(client: Any, task_id: str, instance_id: str) -> None:
    DeadLetters(client).park(
        task_id=task_id,
        task_name="rewards.fulfil_reward",
        args=[],
        kwargs={"instance_id": instance_id, "reward_log_id": "r1", "token": "s3cr3t"},
        queue="rewards",
        error="WixApiError: 400 Bad Request",
        retries=4,
    )


class TestAccess:
    @pytest.mark.parametrize("path", ["jobs", "dead-letters", "events?id=x", "dead-letters?id=b-1"])
    def test_site_as_session_is_refused_on_site_bs_pages(self, api, fake_store, signed_in, path: str) -> None:
        park(fake_store, "b-1", OTHER)
        session, _ = signed_in
        answer = api.get(f"/dashboard/sites/{OTHER}/{path}", params={"session": session})
        assert answer.status_code == 403 and "another site" in answer.text

    def test_site_bs_job_and_dead_letter_are_not_found_from_site_a(self, api, fake_store, signed_in) -> None:
        """Another site's job id or dead-letter id in A's own URL: 404, nothing shown or replayed."""
        park(fake_store, "b-1", OTHER)
        job, _ = Jobs(fake_store, KINDS).start(OTHER, "sweep")
        session, csrf = signed_in
        assert (
            api.get(f"/dashboard/sites/{SITE}/jobs/{job['id']}", params={"session": session}).status_code
            == 404
        )
        inspect = api.get(f"/dashboard/sites/{SITE}/dead-letters", params={"session": session, "id": "b-1"})
        assert inspect.status_code == 404 and "r1" not in inspect.text
        replay = api.post(
            f"/dashboard/sites/{SITE}/dead-letters/replay",
            data={"session": session, "csrf": csrf, "id": "b-1"},
        )
        assert replay.status_code == 404 and DeadLetters(fake_store).get("b-1") is not None

    @pytest.mark.parametrize("path", ["jobs", "dead-letters/replay", "dead-letters/purge"])
    def test_a_post_without_csrf_changes_nothing(self, api, fake_store, follow_ups, signed_in, path) -> None:
        park(fake_store, "a-1", SITE)
        session, _ = signed_in
        data = {"session": session, "name": "sweep", "id": "a-1", "all": "yes", "confirm": "yes"}
        answer = api.post(f"/dashboard/sites/{SITE}/{path}", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text
        assert (
            follow_ups.jobs == []
            and follow_ups.resent == []
            and DeadLetters(fake_store).get("a-1") is not None
        )

    def test_an_operator_opens_the_site_it_names(self, api, fake_store) -> None:
        park(fake_store, "b-1", OTHER)
        page = api.post("/dashboard/signin", data={"admin_token": ADMIN_TOKEN, "instance_id": OTHER})
        session, _ = tokens(page.text)
        answer = api.get(f"/dashboard/sites/{OTHER}/dead-letters", params={"session": session})
        assert answer.status_code == 200 and 'data-entry="b-1"' in answer.text


class TestJobsPage:
    def test_a_bad_option_is_a_422_beside_its_field_and_starts_nothing(
        self, api, follow_ups, signed_in
    ) -> None:
        session, csrf = signed_in
        data = {"session": session, "csrf": csrf, "name": "catch-up", "since": "last tuesday"}
        answer = api.post(f"/dashboard/sites/{SITE}/jobs", data=data)
        assert answer.status_code == 422 and follow_ups.jobs == []
        field = re.search(r'<input id="catch-up-since"[^>]*>', answer.text)
        assert field and 'aria-invalid="true"' in field.group(0) and 'value="last tuesday"' in field.group(0)
        assert 'id="catch-up-since-problem">Orders updated since (UTC) not a date and time' in answer.text

    def test_a_started_job_is_polled_until_it_ends(self, api, fake_store, follow_ups, signed_in) -> None:
        session, csrf = signed_in
        answer = api.post(
            f"/dashboard/sites/{SITE}/jobs", data={"session": session, "csrf": csrf, "name": "sweep"}
        )
        assert answer.status_code == 200 and "The sweep job started." in answer.text
        [(job_id, queue)] = follow_ups.jobs
        assert queue == "periodic" and audit_log.recent(fake_store, SITE)[0]["details"]["jobId"] == job_id
        fragment = api.get(f"/dashboard/sites/{SITE}/jobs/{job_id}", headers={"x-console-session": session})
        assert 'hx-trigger="every 2s"' in fragment.text and 'data-status="running"' in fragment.text
        Jobs(fake_store, KINDS).fail(job_id, "WixApiError: 403 on contact c-1")
        fragment = api.get(f"/dashboard/sites/{SITE}/jobs/{job_id}", headers={"x-console-session": session})
        assert "hx-trigger" not in fragment.text and "contact c-1" in fragment.text
        page = api.get(f"/dashboard/sites/{SITE}/jobs", params={"session": session}).text
        assert page.index('id="past-title"') < page.index(f'data-job="{job_id}"')


class TestDeadLettersPage:
    def test_inspect_shows_the_error_and_tries_with_secrets_redacted(
        self, api, fake_store, signed_in
    ) -> None:
        park(fake_store, "a-1", SITE)
        session, _ = signed_in
        answer = api.get(f"/dashboard/sites/{SITE}/dead-letters", params={"session": session, "id": "a-1"})
        assert answer.status_code == 200
        assert "WixApiError: 400 Bad Request" in answer.text and '<dd class="tries">5</dd>' in answer.text
        assert "s3cr3t" not in answer.text and "[redacted]" in answer.text

    def test_purge_asks_first_then_purges_once(self, api, fake_store, signed_in) -> None:
        park(fake_store, "a-1", SITE)
        session, csrf = signed_in
        url, data = (
            f"/dashboard/sites/{SITE}/dead-letters/purge",
            {"session": session, "csrf": csrf, "all": "yes"},
        )
        asked = api.post(url, data=data)
        assert asked.status_code == 200 and "Purge all 1 dead letters of this site?" in asked.text
        assert DeadLetters(fake_store).get("a-1") is not None
        purged = api.post(url, data={**data, "confirm": "yes"})
        assert purged.status_code == 200 and "Purged 1 dead letter." in purged.text
        assert DeadLetters(fake_store).get("a-1") is None
        assert audit_log.recent(fake_store, SITE)[0]["action"] == "dead_letters_purged"


class TestEventLookupPage:
    def test_missing_and_invalid_ids(self, api, signed_in) -> None:
        session, _ = signed_in
        missing = api.get(f"/dashboard/sites/{SITE}/events", params={"session": session, "id": "ev-9"})
        assert missing.status_code == 404 and "No such event" in missing.text
        invalid = api.get(f"/dashboard/sites/{SITE}/events", params={"session": session, "id": "{x}"})
        assert invalid.status_code == 422 and 'id="event-id-problem"' in invalid.text
