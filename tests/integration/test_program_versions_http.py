"""The programme's lifecycle over real HTTP against the web process and real Redis: a draft is invisible
to the storefront, publishing shows it in the widget's `/public` answer, rollback brings the old back."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.integration.conftest import ADMIN
from worker.dev.programs import milestone, program, streak

INSTANCE = "inst-versions"
ADMIN_URL = f"/admin/v1/instances/{INSTANCE}"

PROGRAM: dict[str, Any] = program(
    timezone="Europe/Berlin",
    streaks=[
        streak("weekly", "Weekly shopper", period="weekly", milestones=[milestone("two", "Two weeks", 2)])
    ],
    templates=[{"id": "shop", "defaultLocale": "en", "copy": {"en": {"title": "Club"}}}],
)


def public_streak_name(base: str) -> str:
    answer = httpx.get(
        f"{base}/widget/v1/public", params={"instance": INSTANCE, "template": "shop"}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["streaks"][0]["name"])


def call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    answer = httpx.request(method, url, headers=ADMIN, timeout=5, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_draft_publish_and_rollback_show_in_the_widgets_public_answer(web: str) -> None:
    """Draft: /public still says the old name; publish: the new one; rollback: the old one again."""
    admin = f"{web}{ADMIN_URL}"
    assert call("PUT", f"{admin}/program", json=PROGRAM)["version"] == 1
    draft = copy.deepcopy(PROGRAM)
    draft["streaks"][0]["name"] = "Every week counts"

    call("PUT", f"{admin}/program/draft", json=draft)
    assert public_streak_name(web) == "Weekly shopper"
    diff = call("GET", f"{admin}/program/diff", params={"from": "live", "to": "draft"})
    assert [(c["path"], c["new"]) for c in diff["changes"]] == [("streaks[0].name", "Every week counts")]

    assert call("POST", f"{admin}/program/publish", json={"note": "friendlier", "who": "ana"})["version"] == 2
    assert public_streak_name(web) == "Every week counts"

    rolled = call("POST", f"{admin}/program/rollback", json={"version": 1, "who": "ana"})
    assert (rolled["version"], rolled["note"]) == (3, "rollback to 1")
    assert public_streak_name(web) == "Weekly shopper"

    versions = call("GET", f"{admin}/program/versions")["versions"]
    assert [(v["version"], v["who"]) for v in versions] == [(3, "ana"), (2, "ana"), (1, "admin")]
    entries = call("GET", f"{web}/admin/v1/instances/{INSTANCE}/audit-log")["entries"]
    assert [e["action"] for e in entries] == ["rolled_back", "published", "draft_saved", "published"]


def test_a_bad_draft_is_422_and_the_storefront_sees_nothing_of_it(web: str) -> None:
    """A negative milestone target over HTTP: 422 naming the field; no draft kept."""
    admin = f"{web}{ADMIN_URL}-bad"
    bad = copy.deepcopy(PROGRAM)
    bad["streaks"][0]["milestones"][0]["milestoneTargetValue"] = -1
    answer = httpx.put(f"{admin}/program/draft", json=bad, headers=ADMIN, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["path"].startswith("streaks[0].milestones[0]")
    assert httpx.get(f"{admin}/program/draft", headers=ADMIN, timeout=5).status_code == 404
