"""The Programme page says each points rule's budget use this period, and when it is reached."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import time_machine
from fastapi.testclient import TestClient

from tests.unit.web.test_console import api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker.store import points_caps, program_versions
from worker.store.points_caps import Limit

SITE = "site-a"
NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)
RULES = [
    {"on": "order_paid", "points": 1, "per": 1, "budget": {"points": 100, "period": "monthly"}},
    {"on": "checkout_completed", "points": 1, "per": 1},
    {"on": "order_approved", "points": 1, "per": 1, "budget": {"points": 5000, "period": "yearly"}},
]


def test_each_budget_is_shown_with_its_use_and_a_reached_one_says_so(api: TestClient, fake_store) -> None:  # noqa: F811
    program_versions.publish_document(fake_store, SITE, {"pointsRules": RULES}, who="admin")
    month = Limit(100, "monthly:2026-03-01", datetime(2026, 4, 1, tzinfo=UTC))
    points_caps.reserve(fake_store, SITE, 0, "c1", "k1", 150, NOW, member_cap=None, budget=month)
    with time_machine.travel(NOW, tick=False):
        session, _ = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
        page = api.get(f"/dashboard/sites/{SITE}/program", params={"session": session}).text
    found = re.search(r'<section id="budgets".*?</section>', page, re.DOTALL)
    assert found, page
    section = found.group(0)
    assert "100 of 100 points used this monthly period: <strong>budget reached</strong>" in section
    assert "earns nothing until 2026-04-01 00:00" in section
    assert (
        "pointsRules[2] (<code>order_approved</code>): 0 of 5000 points used this yearly period." in section
    )
    assert "pointsRules[1]" not in section


def test_a_programme_without_budgets_shows_no_section(api: TestClient, fake_store) -> None:  # noqa: F811
    program_versions.publish_document(fake_store, SITE, {"pointsRules": RULES[1:2]}, who="admin")
    session, _ = tokens(api.get("/dashboard/", params={"instance": signed()}).text)
    assert (
        "Points budgets" not in api.get(f"/dashboard/sites/{SITE}/program", params={"session": session}).text
    )
