"""The program document: DESIGN.md's example is valid; every problem is reported with its path."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from worker.engine.program import ProgramInvalid, load_document, parse_program

DESIGN_EXAMPLE = """
timezone: Europe/Berlin
lateLogGraceHours: 72
streaks:
  - id: weekly-shopper
    name: Weekly shopper
    description: Order at least once a week
    status: live
    activityIds: [order_paid]
    aggregationMethod: count
    aggregationPeriod: weekly
    aggregationTargetValue: 1
    completionTargetValue: 8
    milestones:
      - id: two-weeks
        name: Two weeks running
        milestoneTargetValue: 2
        rewardInstructions: Use this code at checkout
        reward: {type: coupon, coupon: {name: 5% off, percentOffRate: 5}, validDays: 30}
      - {id: four-weeks, name: Four weeks running, milestoneTargetValue: 4,
         reward: {type: points, points: 100}}
challenges:
  - id: spend-500
    name: Spend $500 this month
    status: live
    activityIds: [order_paid]
    aggregationMethod: sum
    aggregationPeriod: monthly
    completionTargetValue: 500
    milestones:
      - {id: half, name: Halfway, milestoneTargetValue: 250, reward: {type: manual}}
      - {id: full, name: Done, milestoneTargetValue: 500,
         reward: {type: coupon, coupon: {name: $20 off, moneyOffAmount: 20}, validDays: 60}}
rules:
  - {on: order_paid, streak: weekly-shopper, activityId: order_paid, value: count}
  - {on: order_paid, challenge: spend-500, activityId: order_paid, value: order.total}
pointsRules:
  - {on: checkout_completed, points: 1, per: 10}
"""


@pytest.fixture
def document() -> dict[str, Any]:
    return load_document(DESIGN_EXAMPLE)


def problems_of(document: Any) -> dict[str, str]:
    with pytest.raises(ProgramInvalid) as invalid:
        parse_program(document)
    return {problem["path"]: problem["message"] for problem in invalid.value.problems}


class TestValid:
    def test_the_design_example_is_valid(self, document) -> None:
        """DESIGN.md's own example parses, with money as Decimal."""
        program = parse_program(document)
        assert program.streak("weekly-shopper").completionTargetValue == 8
        assert program.challenge("spend-500").completionTargetValue == Decimal(500)
        assert program.zone.key == "Europe/Berlin"
        assert program.pointsRules[0].per == Decimal(10)


class TestProblems:
    def test_every_field_problem_is_reported_with_its_path(self, document) -> None:
        """Several mistakes at once come back together, each at its path."""
        broken = copy.deepcopy(document)
        broken["streaks"][0]["milestones"][1]["milestoneTargetValue"] = 0
        broken["streaks"][0]["aggregationPeriod"] = "hourly"
        broken["challenges"][0]["completionTargetValue"] = -5
        problems = problems_of(broken)
        assert problems["streaks[0].milestones[1].milestoneTargetValue"] == "Input should be greater than 0"
        assert "streaks[0].aggregationPeriod" in problems
        assert "challenges[0].completionTargetValue" in problems

    def test_unknown_fields_are_refused(self, document) -> None:
        """A misspelt field is named rather than silently dropped."""
        document["streaks"][0]["aggregationTarget"] = 1
        assert "streaks[0].aggregationTarget" in problems_of(document)

    def test_an_unknown_timezone(self, document) -> None:
        """The timezone must be IANA."""
        document["timezone"] = "Mars/Olympus"
        assert "Mars/Olympus" in problems_of(document)["timezone"]

    def test_duplicate_ids(self, document) -> None:
        """Streak and challenge ids are unique across the document."""
        document["challenges"][0]["id"] = "weekly-shopper"
        assert problems_of(document)["challenges[0].id"] == "duplicates the id of streaks[0]"

    def test_milestones_beyond_completion(self, document) -> None:
        """A milestone the run can never reach is a mistake."""
        document["streaks"][0]["milestones"][1]["milestoneTargetValue"] = 9
        assert (
            "<= completionTargetValue"
            in problems_of(document)["streaks[0].milestones[1].milestoneTargetValue"]
        )

    def test_rules_must_point_at_existing_items_and_activities(self, document) -> None:
        """A rule naming a missing streak, or an activity the target does not take, is refused."""
        document["rules"][0]["streak"] = "nope"
        document["rules"][1]["activityId"] = "visited_store"
        problems = problems_of(document)
        assert problems["rules[0].streak"] == "no streak with id 'nope'"
        assert "does not take 'visited_store'" in problems["rules[1].activityId"]

    def test_a_challenge_needs_a_period_or_a_window(self, document) -> None:
        """Exactly one of aggregationPeriod and window."""
        document["challenges"][0]["window"] = {
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2026-02-01T00:00:00Z",
        }
        assert problems_of(document)["challenges[0]"] == "needs exactly one of aggregationPeriod and window"

    def test_a_window_must_end_after_it_starts(self, document) -> None:
        """A one-off window runs forwards."""
        del document["challenges"][0]["aggregationPeriod"]
        document["challenges"][0]["window"] = {
            "startsAt": "2026-02-01T00:00:00Z",
            "endsAt": "2026-01-01T00:00:00Z",
        }
        assert problems_of(document)["challenges[0].window.endsAt"] == "must be after startsAt"

    def test_a_coupon_reward_needs_exactly_one_discount(self, document) -> None:
        """Percent and money off together is ambiguous."""
        document["streaks"][0]["milestones"][0]["reward"]["coupon"]["moneyOffAmount"] = 3
        assert "exactly one of" in problems_of(document)["streaks[0].milestones[0].reward.coupon"]

    def test_a_points_reward_needs_points(self, document) -> None:
        """Points rewards say how many."""
        del document["streaks"][0]["milestones"][1]["reward"]["points"]
        assert (
            problems_of(document)["streaks[0].milestones[1].reward.points"]
            == "is required for a points reward"
        )

    def test_not_a_mapping(self) -> None:
        """A list or a string is not a program."""
        assert problems_of(["a"]) == {"(document)": "must be a mapping (YAML or JSON object)"}


class TestLoadDocument:
    def test_on_is_a_key_not_a_boolean(self) -> None:
        """YAML 1.1 reads `on:` as true; rules need it as the key it is."""
        assert load_document("rules: [{on: order_paid}]") == {"rules": [{"on": "order_paid"}]}

    def test_json_is_accepted(self) -> None:
        """JSON documents load the same way."""
        assert load_document('{"timezone": "UTC", "streaks": []}') == {"timezone": "UTC", "streaks": []}

    def test_broken_yaml_is_a_document_problem(self) -> None:
        """Unparseable text is reported, not raised raw."""
        with pytest.raises(ProgramInvalid) as invalid:
            load_document("streaks: [")
        assert invalid.value.problems[0]["path"] == "(document)"
