"""The console's Overview page (`/dashboard/sites/{id}/overview`) and its CSV (`.../overview.csv`): the
totals, the charts and their tables as the analytics answer has them (a chosen answer here; the counts
themselves end to end in tests/browser/test_console_overview.py), the period links, a new site's "No data
yet", no inline style or script; another site, no session and a bad period each refused with a page that
says why."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.overview_answer import WEEK, answer
from tests.unit.web.test_console import api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker.console import overview

SITE = "site-a"
PAGE = f"/dashboard/sites/{SITE}/overview"


@pytest.fixture
def session(api: TestClient) -> str:  # noqa: F811  (the imported fixture)
    return tokens(api.get("/dashboard/", params={"instance": signed()}).text)[0]


@pytest.fixture
def active(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The analytics answer of a week with activity; what it was asked for is recorded."""
    asked: list[tuple[str, int]] = []

    def chosen(client: Any, instance_id: str, days: int, now: Any) -> dict[str, Any]:
        asked.append((instance_id, days))
        return answer()

    monkeypatch.setattr(overview, "overview", chosen)
    return asked


def card(page: str, key: str) -> str:
    found = re.search(rf'data-card="{re.escape(key)}">\s*<span class="card-label">[^<]*</span>\s*'
                      r'<strong class="card-value">([^<]*)</strong>', page)  # fmt: skip
    assert found is not None, key
    return found.group(1)


def table_rows(page: str, table_id: str) -> list[list[str]]:
    body = page[page.index(f'id="{table_id}"') :]
    body = body[: body.index("</table>")]
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)
    ]


def test_the_page_shows_the_totals_the_charts_and_their_tables(
    api: TestClient,  # noqa: F811
    session: str,
    active: list[tuple[str, int]],
) -> None:
    page = api.get(PAGE, params={"session": session, "days": "7"})
    assert page.status_code == 200, page.text
    text = page.text
    assert active == [(SITE, 7)]
    assert (card(text, "events"), card(text, "orders"), card(text, "members")) == ("1,239", "1,239", "5")
    assert card(text, "rewardLogs.redeemed") == "1" and card(text, "redemptionRate") == "33.3%"
    assert card(text, "revenue.engaged") == "12,390.50 USD" and "also 20.00 EUR" in text
    for chart in ("events", "orders", "members", "logs", "pointsEarned", "rewardLogs", "revenue", "funnel"):
        assert f'<svg class="chart" id="chart-{chart}"' in text, chart
    assert text.count('role="img"') == 11  # 5 bar charts, 2 line charts, the funnel, 3 comparisons
    orders = table_rows(text, "chart-orders-table")
    assert orders[0] == ["Day", "Orders"] and orders[1:] == [
        [day, value] for day, value in zip(WEEK, ["0", "0", "0", "0", "2", "3", "1,234"], strict=True)
    ]
    assert table_rows(text, "chart-funnel-table")[4] == ["Redeemed it", "1", "33%", "20%"]
    assert table_rows(text, "by-kind")[1] == ["Coupons", "2", "2", "1", "1", "0"]
    items = table_rows(text, "items-table")
    assert items[1][0].startswith("Order &lt;b&gt;daily&lt;/b&gt;")  # the item's name escaped
    assert items[2][0].startswith("ten (removed)") and items[2][-1] == "1 completed, 0 failed"
    assert 'aria-current="page">Overview</a>' in text and 'aria-current="page">7 days</a>' in text
    assert f'href="{PAGE}.csv?days=7&amp;session=' in text


def test_no_inline_style_or_script_and_the_consoles_csp(api: TestClient, session: str, active: Any) -> None:  # noqa: F811
    page = api.get(PAGE, params={"session": session})
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "style=" not in page.text and "<style" not in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    assert re.findall(r"\son[a-z]+=", page.text) == []  # no event handler attributes either


def test_a_new_site_shows_no_data_yet_for_the_period_asked(api: TestClient, session: str) -> None:  # noqa: F811
    page = api.get(PAGE, params={"session": session, "days": "30"})
    assert page.status_code == 200, page.text
    assert "No data yet: nothing was counted in these 30 days" in page.text
    assert 'aria-current="page">30 days</a>' in page.text
    assert len(table_rows(page.text, "chart-orders-table")) == 31  # the header and 30 days of zeros
    assert "The programme has no streak or challenge yet." in page.text


def test_the_csv_is_the_series_of_the_sessions_site(api: TestClient, session: str, active: Any) -> None:  # noqa: F811
    answer_ = api.get(f"{PAGE}.csv", params={"session": session, "days": "90"})
    assert answer_.status_code == 200, answer_.text
    assert answer_.headers["content-type"].startswith("text/csv")
    assert (
        answer_.headers["content-disposition"]
        == f'attachment; filename="analytics-{SITE}-{WEEK[0]}-{WEEK[-1]}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer_.text)))
    assert [row["orders"] for row in rows] == ["0", "0", "0", "0", "2", "3", "1234"]
    assert rows[-1]["revenueEngaged"] == "12340.50"
    assert active == [(SITE, 90)]


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}.csv"])
def test_another_site_no_session_or_a_bad_period_is_refused(
    api: TestClient,  # noqa: F811
    session: str,
    active: list[tuple[str, int]],
    path: str,
) -> None:
    other = api.get(path.replace(SITE, "site-b"), params={"session": session})
    assert other.status_code == 403 and "another site" in other.text
    assert api.get(path).status_code == 401
    bad = api.get(path, params={"session": session, "days": "365"})
    assert bad.status_code == 400 and "days must be one of 7, 30, 90" in bad.text
    assert active == []  # nothing was counted for any of them
