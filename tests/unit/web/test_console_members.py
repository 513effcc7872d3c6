"""The Members routes over HTTP (fake Redis, a stand-in Wix client): the page renders when Wix is down,
ids that cannot be a member are a 404, a POST needs its CSRF token, and bad input is a 422 that says what
is wrong and changes nothing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.unit.web.test_console import SITE, api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker.dev.programs import BASE_PROGRAM
from worker.store import audit_log
from worker.store.progress import ProgressStore
from worker.sync.member_directory import record_contact
from worker.web import wix_dependency
from worker.wix.client import WixError

CONTACT = "c-1"


class DownWix:
    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> Any:
        raise WixError("Wix answered 503 to get-account")


class UpWix:
    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> Any:
        return {"id": "acc-1", "points": {"balance": 120}, "tier": {"id": "gold", "points": 120}}

    def get_tiers_program(self, instance_id: str) -> Any:
        return {"tiers": [], "programSettings": {"status": "DISABLED"}}  # a site without Wix tiers


class TieredWix(UpWix):
    def get_tiers_program(self, instance_id: str) -> Any:
        return {
            "tiers": [
                {"id": "gold", "tierDefinition": {"name": "Gold"}, "requiredPoints": 100},
                {"id": "vip", "tierDefinition": {"name": "VIP"}, "requiredPoints": 500},
            ],
            "programSettings": {"status": "ACTIVE"},
        }


@pytest.fixture
def member_page(api, fake_store) -> tuple[TestClient, str]:  # noqa: F811
    ProgressStore(fake_store).save_program(SITE, BASE_PROGRAM)
    record_contact(fake_store, SITE, CONTACT, "jane@example.com")
    entered = api.get(f"/dashboard/?instance={quote(signed())}")
    session, _ = tokens(entered.text)
    return api, session


def set_wix(client: TestClient, wix: Any) -> None:
    client.app.dependency_overrides[wix_dependency.wix_for_request] = lambda: wix  # type: ignore[attr-defined]


def test_wix_down_the_page_still_renders_with_points_unavailable(member_page) -> None:
    client, session = member_page
    set_wix(client, DownWix())
    page = client.get(f"/dashboard/sites/{SITE}/members/{CONTACT}", params={"session": session})
    assert page.status_code == 200
    assert re.search(r'id="member-points">unavailable', page.text)
    set_wix(client, UpWix())
    page = client.get(f"/dashboard/sites/{SITE}/members/{CONTACT}", params={"session": session})
    assert 'id="member-points">120<' in page.text and 'id="member-tier">gold<' in page.text


def test_the_member_page_names_the_wix_tier_and_what_the_next_needs(member_page, fake_store) -> None:
    """With Wix tiers ACTIVE the page names the tier and the points the next one needs."""
    client, session = member_page
    set_wix(client, TieredWix())
    page = client.get(f"/dashboard/sites/{SITE}/members/{CONTACT}", params={"session": session})
    assert 'id="member-tier">Gold (120 points in the window; 380 more to VIP)<' in page.text


@pytest.mark.parametrize("contact_id", ["nobody", "c-1%7D:rewards", "c%00"])
def test_an_unknown_or_impossible_member_is_a_404(member_page, contact_id: str) -> None:
    client, session = member_page
    set_wix(client, None)
    page = client.get(f"/dashboard/sites/{SITE}/members/{contact_id}", params={"session": session})
    assert page.status_code == 404 and "no such member" in page.text


def test_a_post_without_csrf_is_refused_and_bad_points_are_a_422(member_page, fake_store) -> None:
    client, session = member_page
    set_wix(client, None)
    url = f"/dashboard/sites/{SITE}/members/{CONTACT}"
    page = client.get(url, params={"session": session})
    _, csrf = tokens(page.text)
    points_form = re.search(r'/points">(.*?)</form>', page.text, re.S)
    assert points_form, page.text
    action_id = re.search(r'name="action_id" value="([^"]+)"', points_form.group(1))
    assert action_id, page.text
    form = {"session": session, "amount": "12abc", "reason": "x", "action_id": action_id.group(1)}
    assert client.post(f"{url}/points", data=form).status_code == 403  # no CSRF token
    refused = client.post(f"{url}/points", data={**form, "csrf": csrf})
    assert refused.status_code == 422 and "whole number" in refused.text
    no_id = client.post(f"{url}/status", data={**form, "csrf": csrf, "action_id": "", "status": "paused"})
    assert no_id.status_code == 400 and "action id" in no_id.text
    assert not [e for e in audit_log.recent(fake_store, SITE) if e["action"].startswith("member_")]


def test_search_finds_by_email_and_says_when_there_is_no_such_member(member_page) -> None:
    client, session = member_page
    found = client.get(
        f"/dashboard/sites/{SITE}/members", params={"session": session, "q": "JANE@example.com"}
    )
    assert f"/members/{CONTACT}?session=" in found.text
    missing = client.get(
        f"/dashboard/sites/{SITE}/members", params={"session": session, "q": "zed@example.com"}
    )
    assert missing.status_code == 200 and "No such member" in missing.text
