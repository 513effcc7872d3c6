"""The console's Preview page (`GET /dashboard/sites/{id}/preview`): without a draft it says so and links
to the Programme page; with one it shows live | draft | change for the whole and per streak; the
Programme page links to it when there is a draft; another site's id and no session are refused."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.test_preview import SITE, daily, journal_orders
from tests.unit.web.test_console import (  # noqa: F401  (fixtures)
    APP_ID,
    APP_SECRET,
    CONSOLE_SECRET,
    api,
    follow_ups,
    signed,
    tokens,
)
from worker import keys
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.store import program_versions
from worker.web.app import create_app

PAGE = f"/dashboard/sites/{SITE}/preview"


@pytest.fixture
def client(api: TestClient) -> TestClient:  # noqa: F811  (the imported fixture)
    return api


@pytest.fixture
def session(client: TestClient) -> str:
    return tokens(client.get("/dashboard/", params={"instance": signed()}).text)[0]


def cells(page: str, item: str, measure: str) -> tuple[str, str, str]:
    """The live, draft and change cells of one measure in one item's table."""
    section = page[page.index(f'data-item="{item}"') :]
    found = re.search(
        rf'<tr data-measure="{re.escape(measure)}">\s*<th scope="row">[^<]*</th>\s*'
        r'<td class="live">(.*?)</td>\s*<td class="draft">(.*?)</td>\s*<td class="change [a-z]+">(.*?)</td>',
        section,
        re.DOTALL,
    )
    assert found, section[:2000]
    return found.group(1), found.group(2), found.group(3)


def test_without_a_draft_the_page_says_so_and_links_to_the_programme(client, session, fake_store) -> None:
    program_versions.publish_document(fake_store, SITE, daily(3), who="admin")
    answer = client.get(PAGE, params={"session": session})
    assert answer.status_code == 200 and "<h1>Preview</h1>" in answer.text
    assert "There is no draft to preview" in answer.text
    assert f'href="/dashboard/sites/{SITE}/program?session=' in answer.text
    assert 'aria-current="page">Preview</a>' in answer.text
    assert "<script>" not in answer.text and "style=" not in answer.text


def test_the_draft_beside_live_per_streak(client, session, fake_store) -> None:
    program_versions.publish_document(fake_store, SITE, daily(3), who="admin")
    program_versions.save_draft(fake_store, SITE, json.dumps(daily(2, extra=True)), "owner-1")
    journal_orders(fake_store, {"ann": 3, "ben": 2})
    answer = client.get(PAGE, params={"session": session})
    assert answer.status_code == 200
    assert cells(answer.text, "streak:daily", "rewardLogs") == ("1", "2", "+1")
    assert cells(answer.text, "challenge:orders", "rewardLogs")[0] == '<span class="absent">not live</span>'
    assert "Only in the draft: publishing adds it." in answer.text
    assert "Replayed <strong>5</strong> events" in answer.text
    programme = client.get(f"/dashboard/sites/{SITE}/program", params={"session": session}).text
    assert "Preview the draft</a>" in programme


def test_an_empty_journal_is_said(client, session, fake_store) -> None:
    program_versions.save_draft(fake_store, SITE, json.dumps(daily(2)), "owner-1")
    answer = client.get(PAGE, params={"session": session})
    assert answer.status_code == 200 and "nothing to replay yet" in answer.text


def test_another_site_or_no_session_is_refused(client, session) -> None:
    other = client.get("/dashboard/sites/site-b/preview", params={"session": session})
    assert other.status_code == 403 and "another site" in other.text
    assert client.get(PAGE).status_code == 401


def test_a_journal_over_the_cap_is_previewed_in_part_with_a_warning(fake_async, fake_store) -> None:
    capped = Settings(
        redis_url="redis://unused",
        wix_app_id=APP_ID,
        wix_app_secret=APP_SECRET,
        console_secret=CONSOLE_SECRET,
        dry_run_max_events=2,
        _env_file=None,  # type: ignore[call-arg]
    )
    client = TestClient(
        create_app(capped, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    )
    program_versions.save_draft(fake_store, SITE, json.dumps(daily(2)), "owner-1")
    journal_orders(fake_store, {"ann": 3, "ben": 2})
    session = tokens(client.get("/dashboard/", params={"instance": signed()}).text)[0]
    answer = client.get(PAGE, params={"session": session})
    assert answer.status_code == 200
    assert "Only part of the journal was replayed" in answer.text and "DRY_RUN_MAX_EVENTS" in answer.text
    assert "Replayed <strong>2</strong> events" in answer.text


def test_a_draft_no_longer_valid_is_shown_with_its_problems(client, session, fake_store) -> None:
    stale = daily(2)
    stale["streaks"][0]["milestones"][0]["milestoneTargetValue"] = 0
    fake_store.set(keys.program_draft(SITE), json.dumps({"document": stale, "who": "owner", "at": "x"}))
    answer = client.get(PAGE, params={"session": session})
    assert answer.status_code == 200 and "The draft is no longer a valid programme" in answer.text
    assert "<code>streaks[0].milestones[0].milestoneTargetValue</code>" in answer.text
