"""The widget's API over real HTTP: uvicorn, real Redis, a real Celery worker and the fake Wix as a process.

A member token minted in the fake Wix buys a widget session; after real activity (the records API) and
a points reward the worker earned in Wix, `/widget/v1/me` answers the numbers the progress API gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    FakeWixProcess,
    apply_program_with_key,
    service_stack,
    wait_for,
)
from worker.dev.programs import challenge, milestone, points, program, streak

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000w701"
MEMBER, CONTACT = "a517751b-0000-4000-8000-0000000000m1", "88615e02-0000-4000-8000-0000000000c1"
ORIGIN = {"origin": "https://shop.example"}

PROGRAM: dict[str, Any] = program(
    timezone="Europe/Berlin",
    streaks=[
        streak(
            "weekly",
            "Weekly shopper",
            period="weekly",
            target=2,
            milestones=[milestone("two", "Two weeks", 2)],
        )
    ],
    challenges=[
        challenge(
            "spend-50",
            "Spend 50",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[milestone("fifty", "Fifty spent", 50, points(25))],
        )
    ],
    templates=[
        {"id": "shop", "defaultLocale": "de", "copy": {"de": {"title": "Treueclub"}, "en": {"title": "Club"}}}
    ],
)


@pytest.fixture(scope="module")
def service(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The web process and a worker pointed at the fake Wix; the program applied, an API key made."""
    env = fake_wix.env(module_redis_url, WIDGET_TOKEN_SECRET="integration-widget-secret-32-bytes-long")
    with service_stack(env) as stack:
        key = apply_program_with_key(stack.base_url, INSTANCE, PROGRAM)
        fake_wix.control("POST", f"instances/{INSTANCE}/members", json={"id": MEMBER, "contactId": CONTACT})
        fake_wix.control(
            "PUT", f"instances/{INSTANCE}/program", json={"pointDefinition": {"customName": "Stars"}}
        )
        yield stack.base_url, key


def record(base: str, key: dict[str, str], kind: str, item: str, uid: str, value: str) -> None:
    body = {
        "contactId": CONTACT,
        f"{kind}Id": item,
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": uid,
    }
    answer = httpx.post(f"{base}/schema/{kind}_log/record", json=body, headers=key, timeout=5)
    assert answer.status_code == 201, answer.text


def test_a_member_session_shows_the_progress_apis_numbers(service, fake_wix: FakeWixProcess) -> None:
    """Session from a fake-Wix member token; /me equals the progress API after real activity and points."""
    base, key = service
    record(base, key, "streak", "weekly", "w-1", "1")
    record(base, key, "challenge", "spend-50", "c-1", "60")

    def issued() -> bool:
        progress = httpx.get(f"{base}/v1/members/{CONTACT}/progress", headers=key, timeout=5).json()
        return bool(progress["rewardLogs"]) and progress["rewardLogs"][0]["status"] == "issued"

    wait_for(issued, 30, "the worker to earn the points reward in the fake Wix")

    wix_token = fake_wix.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": MEMBER})[
        "token"
    ]
    session = httpx.post(
        f"{base}/widget/v1/session",
        headers={**ORIGIN, "authorization": f"Bearer {wix_token}"},
        json={"accountId": INSTANCE},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    assert session.headers["access-control-allow-origin"] == "*"
    assert (session.json()["mode"], session.json()["contactId"]) == ("member", CONTACT)

    widget_auth = {**ORIGIN, "authorization": f"Bearer {session.json()['token']}"}
    me = httpx.get(f"{base}/widget/v1/me", params={"instance": INSTANCE}, headers=widget_auth, timeout=10)
    assert me.status_code == 200, me.text
    progress = httpx.get(f"{base}/v1/members/{CONTACT}/progress", headers=key, timeout=10).json()
    me_body = me.json()

    [streak], [streak_progress] = me_body["streaks"], progress["streaks"]
    assert streak["currentRun"] == 0 and streak_progress["streakProgress"] is None  # 1 of 2 this week
    assert (streak["periodValue"], streak["periodTarget"], streak["periodComplete"]) == ("1", "2", False)
    assert streak["periodValue"] == streak_progress["taskProgress"]["value"]
    assert streak["nextMilestone"]["id"] == "two"

    [challenge], [challenge_progress] = me_body["challenges"], progress["challenges"]
    assert challenge["value"] == challenge_progress["challengeProgress"]["currentProgressValue"] == "60"
    assert challenge["target"] == "100"
    assert [(m["id"], m["achieved"]) for m in challenge["milestones"]] == [("fifty", True)]

    [reward] = me_body["rewards"]
    [reward_log] = progress["rewardLogs"]
    assert (reward["id"], reward["status"], reward["points"]) == (reward_log["id"], "issued", 25)

    assert progress["points"]["balance"] == 25
    assert progress["points"]["pointsName"] == "Stars"
    assert me_body["points"] == {"balance": 25, "pointsName": "Stars", "expiration": None}


def test_a_visitor_is_a_guest_and_public_content_is_cacheable(service, fake_wix: FakeWixProcess) -> None:
    """A visitor token is guest mode; /public answers German copy, CORS, and 304 on its ETag."""
    base, _ = service
    visitor = fake_wix.control("POST", f"instances/{INSTANCE}/visitor-tokens", json={})["token"]
    session = httpx.post(
        f"{base}/widget/v1/session", headers={"authorization": f"Bearer {visitor}"}, timeout=10
    )
    assert session.json() == {"mode": "guest", "instanceId": INSTANCE}

    params = {"instance": INSTANCE, "template": "shop", "locale": "de-DE"}
    public = httpx.get(f"{base}/widget/v1/public", params=params, headers=ORIGIN, timeout=5)
    assert public.status_code == 200
    assert public.headers["access-control-allow-origin"] == "*"
    assert (public.json()["locale"], public.json()["copy"]["title"]) == ("de", "Treueclub")
    again = httpx.get(
        f"{base}/widget/v1/public",
        params=params,
        headers={"if-none-match": public.headers["etag"]},
        timeout=5,
    )
    assert again.status_code == 304

    script = httpx.get(f"{base}/widget/v1/widget.js", headers={"accept-encoding": "br"}, timeout=5)
    assert script.status_code == 200
    assert script.headers["content-encoding"] == "br"
