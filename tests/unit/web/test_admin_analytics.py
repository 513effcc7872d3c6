"""The analytics admin API (`/admin/v1/instances/{id}/analytics[.csv]`): the overview of the counts the
effects wrote, the daily series as CSV, and clear 4xx answers for a wrong `days` or no credential."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from fastapi.testclient import TestClient

from worker import keys
from worker.analytics.series_csv import COLUMNS
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.web.app import create_app

ADMIN = {"authorization": "Bearer admin-token"}
INSTANCE = "inst-a"
BASE = f"/admin/v1/instances/{INSTANCE}"
TODAY = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # the last half hour of a year: the range crosses it


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def api(fake_async, fake_store, public_key_pem) -> TestClient:
    settings = Settings(
        redis_url="redis://unused", admin_token="admin-token", wix_public_key=public_key_pem, _env_file=None
    )
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    fake_store.hset(
        keys.stats_day(INSTANCE, "2026-12-30"),
        mapping={
            "orders": 4,
            "rewardLogs.issued": 2,
            "rewardLogs.redeemed": 1,
            "revenue.redeemed.EUR": 12500,
        },
    )
    fake_store.hset(keys.stats_day(INSTANCE, "2026-12-31"), mapping={"orders": 1, "events": 3})
    fake_store.hset(keys.stats_day(INSTANCE, "2026-12-20"), mapping={"orders": 50})  # outside 7 days
    return TestClient(app, raise_server_exceptions=False)


def test_the_overview_sums_the_days_in_range(api) -> None:
    answer = api.get(f"{BASE}/analytics", params={"days": 7}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["days"], body["from"], body["to"]) == (7, "2026-12-25", "2026-12-31")
    assert (body["totals"]["orders"], body["totals"]["events"]) == (5, 3)
    assert body["totals"]["redemptionRate"] == 0.5
    assert body["totals"]["revenue"]["currency"] == "EUR"
    assert body["totals"]["revenue"]["redeemed"] == "12.50"
    assert [day["orders"] for day in body["series"]] == [0, 0, 0, 0, 0, 4, 1]
    thirty = api.get(f"{BASE}/analytics", params={"days": 30}, headers=ADMIN).json()
    assert thirty["totals"]["orders"] == 55


def test_the_csv_is_a_header_and_one_row_a_day(api) -> None:
    answer = api.get(f"{BASE}/analytics.csv", params={"days": 7}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == list(COLUMNS)
    assert [row[0] for row in rows[1:]] == [f"2026-12-{d}" for d in range(25, 32)]
    by_date = {row["date"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert (by_date["2026-12-30"]["orders"], by_date["2026-12-30"]["revenueRedeemed"]) == ("4", "12.50")
    assert by_date["2026-12-30"]["redemptionRate"] == "0.5"
    assert by_date["2026-12-29"]["redemptionRate"] == ""  # nothing issued that day: no rate


@pytest.mark.parametrize("path", ["analytics", "analytics.csv"])
@pytest.mark.parametrize("days", ["8", "0", "365", "-7", "week", "7.5"])
def test_another_days_is_a_422_that_says_what_is_allowed(api, path, days) -> None:
    answer = api.get(f"{BASE}/{path}", params={"days": days}, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"
    if days.lstrip("-").isdigit():
        assert answer.json()["error"]["message"] == f"days must be one of 7, 30, 90, not {days}"


def test_no_credential_no_counts_and_no_bad_instance_id(api) -> None:
    assert api.get(f"{BASE}/analytics").status_code == 401
    assert api.get(f"{BASE}/analytics", headers={"authorization": "Bearer wrong"}).status_code in (401, 403)
    bad = api.get("/admin/v1/instances/has%20space/analytics", headers=ADMIN)
    assert bad.status_code == 422, bad.text
