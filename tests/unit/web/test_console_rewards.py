"""The console's Rewards page (`/dashboard/sites/{id}/rewards`, `.csv`, `.../send-again`) and the admin
API's `reward-logs`: the filtered list and its next page, a bad filter a 422 naming it, the CSV as a
download of the filtered rows, a failed reward sent again once when posted twice (audited), CSRF and
another site refused."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.test_rewards import put_log
from tests.unit.web.test_console import ADMIN_TOKEN, api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker import keys
from worker.store import audit_log

SITE = "site-a"
PAGE = f"/dashboard/sites/{SITE}/rewards"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(api: TestClient, fake_store) -> TestClient:  # noqa: F811  (the imported fixture)
    put_log(fake_store, 1, SITE, status="failed", error="Wix refused the coupon", contactId="c1")
    put_log(fake_store, 2, SITE, status="issued", couponCode="RW-ABC", contactId="c2")
    put_log(fake_store, 3, SITE, status="pending", reward={"type": "points", "points": 50}, contactId="c3")
    return api


def opened(client: TestClient, **params: str) -> tuple[str, str, str]:
    session, csrf = tokens(client.get("/dashboard/", params={"instance": signed()}).text)
    page = client.get(PAGE, params={"session": session, **params})
    return session, csrf, page.text


def rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-reward-log="([^"]+)" data-status="([^"]+)"', html)


class TestList:
    def test_every_log_newest_first_then_filtered(self, client) -> None:
        _, _, html = opened(client)
        assert [status for _, status in rows(html)] == ["pending", "issued", "failed"]
        _, _, html = opened(client, status="failed")
        assert rows(html) == [(f"rl_{1:024x}", "failed")]
        assert "Wix refused the coupon" in html and "Send again" in html

    def test_the_next_page_link_carries_the_filters(self, client) -> None:
        _, _, html = opened(client, kind="coupon", limit="1")
        assert len(rows(html)) == 1
        link = re.search(r'id="next-page" href="([^"]+)"', html)
        assert link is not None and "kind=coupon" in link.group(1)
        following = client.get(link.group(1).replace("&amp;", "&"))
        assert [status for _, status in rows(following.text)] == ["failed"]

    def test_a_bad_filter_is_a_422_naming_it(self, client) -> None:
        session, _, _ = opened(client)
        answer = client.get(PAGE, params={"session": session, "from": "2026-02-30"})
        assert answer.status_code == 422
        assert "<code>from</code>: must be a date as YYYY-MM-DD" in answer.text
        assert 'id="filter-from" name="from" value="2026-02-30" aria-invalid="true"' in answer.text

    def test_the_csv_downloads_the_filtered_rows(self, client) -> None:
        session, _, _ = opened(client)
        answer = client.get(f"{PAGE}.csv", params={"session": session, "status": "issued"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        table = list(csv.reader(io.StringIO(answer.text)))
        assert len(table) == 2 and table[1][table[0].index("Coupon code")] == "RW-ABC"
        assert client.get(f"{PAGE}.csv", params={"session": session, "kind": "gold"}).status_code == 422


class TestSendAgain:
    def test_posted_twice_it_is_sent_once(self, client, fake_store, follow_ups) -> None:  # noqa: F811
        session, csrf, _ = opened(client)
        url = f"{PAGE}/c1/rl_{1:024x}/send-again"
        form = {"session": session, "csrf": csrf, "status": "failed"}
        first, second = client.post(url, data=form), client.post(url, data=form)
        assert first.status_code == second.status_code == 200
        assert "Sent again" in first.text and "Nothing sent: the reward is pending" in second.text
        assert follow_ups.sent == [(SITE, f"rl_{1:024x}")]
        assert rows(second.text) == []  # the page keeps the filter: no failed reward left
        assert [e["action"] for e in audit_log.recent(fake_store, SITE)].count("reward_sent_again") == 1

    def test_an_unknown_reward_is_a_404(self, client, follow_ups) -> None:  # noqa: F811
        session, csrf, _ = opened(client)
        answer = client.post(f"{PAGE}/c2/rl_{1:024x}/send-again", data={"session": session, "csrf": csrf})
        assert answer.status_code == 404 and follow_ups.sent == []

    def test_without_csrf_nothing_changes(self, client, fake_store, follow_ups) -> None:  # noqa: F811
        session, _, _ = opened(client)
        answer = client.post(f"{PAGE}/c1/rl_{1:024x}/send-again", data={"session": session})
        assert answer.status_code == 403 and follow_ups.sent == []
        assert '"status": "failed"' in str(fake_store.get(keys.member_reward(SITE, "c1", f"rl_{1:024x}")))

    def test_another_sites_rewards_are_refused(self, client) -> None:
        session, csrf, _ = opened(client)
        for path in ("rewards", "rewards.csv"):
            answer = client.get(f"/dashboard/sites/site-b/{path}", params={"session": session})
            assert answer.status_code == 403
        answer = client.post(
            f"/dashboard/sites/site-b/rewards/c1/rl_{1:024x}/send-again",
            data={"session": session, "csrf": csrf},
        )
        assert answer.status_code == 403


class TestAdminApi:
    def test_the_same_filters_as_json_with_a_cursor(self, client) -> None:
        url = f"/admin/v1/instances/{SITE}/reward-logs"
        first = client.get(url, params={"limit": "2"}, headers=ADMIN).json()
        assert [r["status"] for r in first["rewardLogs"]] == ["pending", "issued"]
        rest = client.get(url, params={"limit": "2", "cursor": first["next"]}, headers=ADMIN).json()
        assert [r["status"] for r in rest["rewardLogs"]] == ["failed"] and rest["next"] is None
        points = client.get(url, params={"kind": "points"}, headers=ADMIN).json()
        assert [r["contactId"] for r in points["rewardLogs"]] == ["c3"]

    def test_a_bad_filter_is_a_422_and_no_token_a_401(self, client) -> None:
        url = f"/admin/v1/instances/{SITE}/reward-logs"
        answer = client.get(url, params={"status": "gone"}, headers=ADMIN)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"] == [
            {
                "path": "status",
                "message": "must be one of pending, issued, failed, expired, redeemed, revoked",
            }
        ]
        assert client.get(url).status_code == 401
