"""The member's tier and what the next one needs, from Wix's tiers program and the account's `tier`."""

from __future__ import annotations

from typing import Any

import pytest

from worker.dev.programs import program
from worker.engine.program import parse_program
from worker.progress.tiers import TIERS_TTL_SECONDS, active_tiers, cached_tiers_program, tier_progress
from worker.storefront.widget_json import member_view
from worker.wix.client import WixApiError, WixTransientError

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

SILVER, GOLD = "9b0e2f4c-0000-4000-8000-000000000001", "9b0e2f4c-0000-4000-8000-000000000002"


def tiers_program(status: str = "ACTIVE") -> dict[str, Any]:
    """What `GET /loyalty-tiers/v1/tiers/program` answers, Gold listed first (Wix does not sort)."""
    return {
        "tiers": [
            {"id": GOLD, "tierDefinition": {"name": "Gold"}, "requiredPoints": 300},
            {"id": SILVER, "tierDefinition": {"name": "Silver"}, "requiredPoints": 100},
        ],
        "programSettings": {
            "status": status,
            "rollingWindow": {"durationInMonths": 12},
            "baseTierDefinition": {"name": "Bronze"},
        },
    }


def account(points: int, tier_id: str | None = None) -> dict[str, Any]:
    tier: dict[str, Any] = {"points": points}
    if tier_id is not None:
        tier["id"] = tier_id
    return {"id": "a-1", "points": {"balance": points}, "tier": tier}


class TestTierProgress:
    def test_a_member_in_silver_sees_what_gold_needs(self) -> None:
        """180 points in the window, Silver: 120 more points to Gold."""
        assert tier_progress(tiers_program(), account(180, SILVER)) == {
            "id": SILVER,
            "name": "Silver",
            "points": 180,
            "next": {"id": GOLD, "name": "Gold", "requiredPoints": 300, "pointsNeeded": 120},
        }

    def test_the_base_tier_is_named_by_the_settings_and_points_to_the_first_tier(self) -> None:
        progress = tier_progress(tiers_program(), account(40))
        assert progress is not None
        assert (progress["id"], progress["name"], progress["next"]["pointsNeeded"]) == (None, "Bronze", 60)

    def test_the_top_tier_has_no_next(self) -> None:
        progress = tier_progress(tiers_program(), account(450, GOLD))
        assert progress is not None and progress["next"] is None

    @pytest.mark.parametrize("status", ["DISABLED", "DRAFT", "PAUSED"])
    def test_tiers_not_active_show_none(self, status: str) -> None:
        assert active_tiers(tiers_program(status)) == []
        assert tier_progress(tiers_program(status), account(180, SILVER)) is None

    def test_a_site_without_tiers_shows_none(self) -> None:
        """Wix's answer for a site that never set tiers up: no tiers, DISABLED; the account has no tier."""
        program = {"tiers": [], "programSettings": {"status": "DISABLED"}}
        assert tier_progress(program, {"id": "a-1", "points": {"balance": 5}}) is None
        assert tier_progress(None, account(180, SILVER)) is None


def test_the_widget_shows_the_progress_apis_tier() -> None:
    """`/widget/v1/me`'s `tier` is the progress API's, as it is."""
    tier = tier_progress(tiers_program(), account(180, SILVER))
    progress = {"contactId": "c-1", "streaks": [], "challenges": [], "rewardLogs": [], "points": None}
    progress["tier"] = tier
    assert member_view(parse_program(program()), "inst", progress)["tier"] == tier


class CountingWix:
    """Answers the tiers program, or raises `error`; counts the calls."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls, self.error = 0, error

    def get_tiers_program(self, instance_id: str) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return tiers_program()


class TestCachedTiersProgram:
    def test_kept_per_site_for_a_while(self, fake_store) -> None:
        """Shoppers opening the widget do not each cost a Wix call."""
        wix = CountingWix()
        for _ in range(3):
            assert cached_tiers_program(wix, "inst-a", fake_store) == tiers_program()  # type: ignore[arg-type]
        assert wix.calls == 1
        assert 0 < fake_store.ttl("wrw:cache:loyalty-tiers:inst-a") <= TIERS_TTL_SECONDS

    @pytest.mark.parametrize("status", [403, 404])
    def test_a_site_whose_tiers_cannot_be_read_has_none_kept_as_well(self, fake_store, status: int) -> None:
        wix = CountingWix(WixApiError("refused", status=status))
        for _ in range(2):
            assert cached_tiers_program(wix, "inst-a", fake_store) is None  # type: ignore[arg-type]
        assert wix.calls == 1

    def test_wix_not_answering_now_is_not_kept(self, fake_store) -> None:
        wix = CountingWix(WixTransientError("503"))
        with pytest.raises(WixTransientError):
            cached_tiers_program(wix, "inst-a", fake_store)  # type: ignore[arg-type]
        assert fake_store.get("wrw:cache:loyalty-tiers:inst-a") is None
