"""Bonus windows and tier multipliers (pure), cap periods, and the schema's caps validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import wix_samples
from worker.engine.caps import cap_period
from worker.engine.program import ProgramInvalid, parse_program
from worker.loyalty.points_limits import multiply, product_share
from worker.loyalty.points_rules import PointsEarn, points_to_earn
from worker.wix.events import NormalizedEvent, normalize

RULE = {"on": "order_paid", "points": 1, "per": 1}
FRIDAY = {
    "id": "black-friday",
    "multiplier": 3,
    "startsAt": "2026-11-27T00:00:00-05:00",
    "endsAt": "2026-11-30T00:00:00-05:00",
}


def paid(when: str, lines: list[tuple[str, str]] | None = None, total: str = "100.00") -> NormalizedEvent:
    """An order_paid of `total` that occurred at `when`, with line items (catalog item id, total)."""
    payload = wix_samples.payment_status_updated()
    order = payload["actionEvent"]["body"]["order"]
    order["priceSummary"]["total"]["amount"] = total
    if lines is not None:
        order["lineItems"] = [
            {
                "id": f"00000000-0000-0000-0000-00000000000{n}",
                "quantity": 1,
                "catalogReference": {"catalogItemId": item},
                "totalPriceAfterTax": {"amount": amount},
            }
            for n, (item, amount) in enumerate(lines)
        ]
    payload["eventTime"] = when
    return normalize(
        event_type="wix.ecom.v1.order_payment_status_updated", instance_id="i", event_id="e", payload=payload
    )


def earned(document: dict[str, Any], event: NormalizedEvent, tier: str | None = None) -> list[int]:
    program = parse_program(document)
    return [multiply(earn, program, event, tier).earn.points for earn in points_to_earn(event, program)]


class TestBonusWindows:
    def test_an_order_inside_the_window_earns_times_n(self) -> None:
        """$100 at 1 point per $1 on Black Friday (New York) earns 300; the Monday after earns 100."""
        document = {"pointsRules": [RULE], "bonusWindows": [FRIDAY]}
        assert earned(document, paid("2026-11-28T15:00:00Z")) == [300]
        assert earned(document, paid("2026-11-30T05:00:00Z")) == [100]  # the window has just closed

    def test_the_window_is_placed_by_the_events_time_not_today(self) -> None:
        """Whenever it is processed, an order that occurred just before the window opened earns x1."""
        document = {"pointsRules": [RULE], "bonusWindows": [FRIDAY]}
        assert earned(document, paid("2026-11-27T04:59:59Z")) == [100]
        assert earned(document, paid("2026-11-27T05:00:00Z")) == [300]

    def test_a_product_window_multiplies_only_its_products_share(self) -> None:
        """Half the order is the promoted product: 50 x3 + 50 = 200 points."""
        window = {**FRIDAY, "productIds": ["promo"]}
        event = paid("2026-11-28T15:00:00Z", [("promo", "50.00"), ("other", "50.00")])
        assert product_share(event, ["promo"]) == Decimal("0.5")
        assert earned({"pointsRules": [RULE], "bonusWindows": [window]}, event) == [200]

    def test_overlapping_windows_do_not_stack_the_best_applies(self) -> None:
        document = {
            "pointsRules": [RULE],
            "bonusWindows": [FRIDAY, {**FRIDAY, "id": "double", "multiplier": 2}],
        }
        assert earned(document, paid("2026-11-28T15:00:00Z")) == [300]

    def test_a_window_for_some_rules_leaves_the_others(self) -> None:
        document = {"pointsRules": [RULE, {**RULE, "points": 2}], "bonusWindows": [{**FRIDAY, "rules": [1]}]}
        assert earned(document, paid("2026-11-28T15:00:00Z")) == [100, 600]


class TestTierMultipliers:
    def test_the_members_tier_multiplies_on_top_of_a_window(self) -> None:
        """Gold x1.5 inside a x3 window: 100 x 4.5 = 450; a tier not listed earns x1."""
        document = {"pointsRules": [{**RULE, "tierMultipliers": {"gold": 1.5}}], "bonusWindows": [FRIDAY]}
        assert earned(document, paid("2026-11-28T15:00:00Z"), tier="gold") == [450]
        assert earned(document, paid("2026-12-02T15:00:00Z"), tier="gold") == [150]
        assert earned(document, paid("2026-12-02T15:00:00Z"), tier="silver") == [100]
        assert earned(document, paid("2026-12-02T15:00:00Z"), tier=None) == [100]

    def test_the_result_is_rounded_down_and_says_why(self) -> None:
        document = {
            "pointsRules": [{"on": "order_paid", "points": 1, "per": 10, "tierMultipliers": {"t": 1.5}}]
        }
        event = paid("2026-12-02T15:00:00Z", total="30.00")
        [earn] = points_to_earn(event, parse_program(document))
        result = multiply(earn, parse_program(document), event, "t").earn
        assert result.points == 4  # 3 x 1.5 = 4.5
        assert "tier t x1.5" in result.description

    def test_an_earn_from_no_known_rule_is_left_alone(self) -> None:
        earn = PointsEarn("c", 5, "wrw:other:key", "5 points")
        assert (
            multiply(earn, parse_program({"pointsRules": [RULE]}), paid("2026-12-02T15:00:00Z"), "x").earn
            == earn
        )


class TestCapPeriods:
    def test_periods_are_cut_in_the_programs_timezone(self) -> None:
        """23:30 UTC on 31 Dec is already next year in Berlin, still this year in New York."""
        moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        assert cap_period(moment, "yearly", ZoneInfo("Europe/Berlin"))[0] == "yearly:2027-01-01"
        key, end = cap_period(moment, "yearly", ZoneInfo("America/New_York"))
        assert key == "yearly:2026-01-01"
        assert end == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
        assert cap_period(moment, "monthly", ZoneInfo("America/New_York"))[0] == "monthly:2026-12-01"
        assert cap_period(moment, "weekly", ZoneInfo("UTC"))[0] == "weekly:2026-12-28"


class TestValidation:
    @pytest.mark.parametrize(
        ("document", "problem"),
        [
            (
                {"pointsRules": [{**RULE, "maxPerPeriod": 500}]},
                "pointsRules[0]: maxPerPeriod and period go together: give both or neither",
            ),
            (
                {"pointsRules": [{**RULE, "period": "monthly"}]},
                "pointsRules[0]: maxPerPeriod and period go together: give both or neither",
            ),
            (
                {"bonusWindows": [{**FRIDAY, "endsAt": "2026-11-26T00:00:00-05:00"}]},
                "bonusWindows[0].endsAt: must be after startsAt",
            ),
            (
                {"bonusWindows": [{**FRIDAY, "startsAt": "2026-11-27T00:00:00"}]},
                "bonusWindows[0].startsAt: must include a timezone offset",
            ),
            ({"bonusWindows": [FRIDAY, FRIDAY]}, "bonusWindows[1].id: duplicates another bonus window id"),
            ({"bonusWindows": [{**FRIDAY, "rules": [0]}]}, "bonusWindows[0].rules[0]: no pointsRules[0]"),
            (
                {"pointsRules": [{**RULE, "tierMultipliers": {"gold": 0}}]},
                "pointsRules[0].tierMultipliers.gold",
            ),
            ({"pointsRules": [{**RULE, "budget": {"points": 10, "period": "hourly"}}]}, "budget.period"),
            (
                {
                    "challenges": [
                        {
                            "id": "c",
                            "name": "C",
                            "activityIds": ["a"],
                            "aggregationMethod": "count",
                            "aggregationPeriod": "monthly",
                            "completionTargetValue": 1,
                            "milestones": [
                                {
                                    "id": "m",
                                    "name": "M",
                                    "milestoneTargetValue": 1,
                                    "reward": {"type": "points", "points": 5, "maxPerPeriod": 1},
                                }
                            ],
                        }
                    ]
                },
                "challenges[0].milestones[0].reward: maxPerPeriod and period go together",
            ),
        ],
    )
    def test_a_problem_is_reported_with_its_path(self, document: dict[str, Any], problem: str) -> None:
        with pytest.raises(ProgramInvalid) as caught:
            parse_program(document)
        assert problem in str(caught.value)

    def test_a_full_caps_program_is_valid(self) -> None:
        rule = {**RULE, "maxPerPeriod": 500, "period": "yearly", "budget": {"points": 10, "period": "daily"}}
        program = parse_program({"pointsRules": [rule], "bonusWindows": [{**FRIDAY, "rules": [0]}]})
        assert program.pointsRules[0].budget is not None
