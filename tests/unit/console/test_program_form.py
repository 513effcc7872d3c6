"""The Programme page's forms ⇄ the program document (worker/console/program_form.py): every field of a
rich document round-trips through its named fields; the add and remove buttons; what is not a number
comes back from the validation as a problem named by its field's path; the storefront's sections are
never touched; hostile posts (huge, far indices, unknown names, a broken working copy) change nothing
they should not."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from worker import keys
from worker.console import programme
from worker.console.program_form import (
    MAX_FIELDS,
    SCHEMA,
    Field,
    Group,
    Items,
    Schema,
    as_json,
    form_fields,
    read_post,
)
from worker.dev.programs import (
    BASE_PROGRAM,
    challenge,
    coupon,
    milestone,
    points,
    points_rule,
    program,
    rule,
    streak,
)
from worker.engine.program import ProgramInvalid, parse_program
from worker.store import audit_log, program_versions

SITE = "site-a"


def rich() -> dict[str, Any]:
    """A valid document that sets every field the forms edit at least once."""
    document = copy.deepcopy(BASE_PROGRAM)
    every_coupon = {
        "type": "coupon",
        "coupon": {"name": "Ship free", "freeShipping": True, "minimumSubtotal": 20},
        "validDays": 14,
        "maxPerPeriod": 2,
        "period": "yearly",
    }
    document["streaks"][0]["description"] = "Shop once a week"
    document["streaks"][0]["activityIds"] = ["order_paid", "review_posted"]
    document["streaks"][0]["aggregationTargetValue"] = 1
    document["streaks"][0]["milestones"].append(
        milestone("three-weeks", "Three", 3, every_coupon, instructions="Use it at checkout")
    )
    document["challenges"][0]["milestones"][0]["reward"] = coupon("Five off", money_off=5)
    document["challenges"][0]["description"] = "Spend it"
    document["rules"] = [
        rule("order_paid", streak="weekly-shopper"),
        rule("order_paid", challenge="spend-500", value="order.total"),
    ]
    document["pointsRules"] = [
        {
            **points_rule("order_paid", 1, 10),
            "maxPerPeriod": 500,
            "period": "monthly",
            "budget": {"points": 100000, "period": "monthly"},
        }
    ]
    document["bonusWindows"] = [
        {
            "id": "black-friday",
            "multiplier": 2,
            "startsAt": "2026-11-27T00:00:00-05:00",
            "endsAt": "2026-11-30T00:00:00-05:00",
            "productIds": ["p-1", "p-2"],
        }
    ]
    document["onCancel"] = "revoke"
    document["referrals"] = {
        "referrerReward": points(100),
        "friendReward": coupon("Ten off", percent_off=10),
        "holdDays": 14,
        "maxPerPeriod": 5,
        "period": "monthly",
    }
    parse_program(document)
    return document


def leaves(value: Any, where: str = "") -> set[str]:
    """Every scalar's path in a document (a list of scalars counts as one value)."""
    if isinstance(value, dict):
        return {p for key, item in value.items() for p in leaves(item, f"{where}.{key}" if where else key)}
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return {p for index, item in enumerate(value) for p in leaves(item, f"{where}[{index}]")}
    return {where}


def junk(schema: Schema, shape: dict[str, Any]) -> dict[str, Any]:
    """A mapping with `shape`'s lists (the same number of items) and every field of `schema` set to
    something else: what a post of `shape`'s fields must overwrite entirely."""
    scrambled: dict[str, Any] = {}
    for key, spec in schema.items():
        if isinstance(spec, Field):
            scrambled[key] = ["junk"] if spec.kind == "ids" else "junk"
        elif isinstance(spec, Group):
            scrambled[key] = junk(spec.schema, shape.get(key) or {})
        elif isinstance(spec, Items) and key in shape:
            scrambled[key] = [junk(spec.schema, item) for item in shape[key]]
    return scrambled


class TestRoundTrip:
    def test_every_value_of_the_document_has_its_field(self) -> None:
        document = rich()
        assert leaves(document) <= set(form_fields(document))
        values = form_fields(document)
        assert values["streaks[0].activityIds"] == "order_paid, review_posted"
        assert values["streaks[0].milestones[2].reward.coupon.freeShipping"] == "true"
        assert values["challenges[1].window.startsAt"] == "2026-11-02T00:00:00+01:00"
        assert values["challenges[0].aggregationPeriod"] == "monthly"
        assert values["challenges[1].aggregationPeriod"] == ""
        assert values["rules[1].value"] == "order.total"

    def test_the_fields_posted_over_a_scrambled_document_give_the_document_back(self) -> None:
        document = rich()
        scrambled = junk(SCHEMA, document)
        assert read_post(scrambled, form_fields(document)).document == document

    def test_the_fields_with_their_working_copy_give_the_document_back(self) -> None:
        document = rich()
        posted = read_post({"timezone": "UTC"}, {"document": as_json(document), **form_fields(document)})
        assert posted.document == document and posted.action == "" and posted.problem == ""

    def test_a_field_posted_alone_changes_only_its_value(self) -> None:
        document = rich()
        posted = read_post(document, {"challenges[0].milestones[1].milestoneTargetValue": "400"})
        expected = copy.deepcopy(document)
        expected["challenges"][0]["milestones"][1]["milestoneTargetValue"] = 400
        assert posted.document == expected

    def test_empty_optional_fields_remove_their_keys_and_groups(self) -> None:
        document = rich()
        fields = {
            "lateLogGraceHours": "",
            "streaks[0].description": " ",
            "streaks[0].milestones[0].reward.type": "",
            "challenges[1].window.startsAt": "",
            "challenges[1].window.endsAt": "",
            "challenges[1].aggregationPeriod": "weekly",
            "streaks[0].milestones[2].reward.coupon.freeShipping": "false",
            "streaks[0].milestones[2].reward.coupon.percentOffRate": "10",
        }
        changed = read_post(document, fields).document
        assert "lateLogGraceHours" not in changed
        assert "description" not in changed["streaks"][0]
        assert "reward" not in changed["streaks"][0]["milestones"][0]
        assert "window" not in changed["challenges"][1]
        assert changed["challenges"][1]["aggregationPeriod"] == "weekly"
        assert changed["streaks"][0]["milestones"][2]["reward"]["coupon"]["freeShipping"] is False
        parse_program(changed)  # still valid: only optional things were removed


class TestAddAndRemove:
    def test_add_puts_a_new_item_at_the_end_of_the_list_it_names(self) -> None:
        document = rich()
        posted = read_post(document, {"add": "challenges"})
        assert posted.action.startswith("Added a challenge (challenges[2])")
        new = posted.document["challenges"][2]
        assert new["id"] == "challenge-3" and new["name"] == "" and new["milestones"] == []
        assert posted.document["challenges"][:2] == document["challenges"]
        milestones = read_post(document, {"add": "challenges[1].milestones"}).document["challenges"][1]
        assert [m["id"] for m in milestones["milestones"]] == ["m-1"]  # the list did not exist before
        for name, kind in (("streaks", "streak"), ("rules", "rule"), ("pointsRules", "points rule")):
            added = read_post(document, {"add": name})
            assert len(added.document[name]) == len(document[name]) + 1
            assert f"Added a {kind}" in added.action

    def test_remove_takes_out_the_item_it_names(self) -> None:
        document = rich()
        posted = read_post(document, {"remove": "streaks[0].milestones[1]"})
        names = [m["name"] for m in posted.document["streaks"][0]["milestones"]]
        assert names == ["Two weeks running", "Three"]
        assert "Removed the milestone streaks[0].milestones[1]" in posted.action
        assert [
            r.get("challenge") for r in read_post(document, {"remove": "rules[0]"}).document["rules"]
        ] == ["spend-500"]

    def test_an_added_item_lives_in_the_working_copy_until_it_is_saved(self) -> None:
        """Two adds in a row, each post carrying the previous answer's working copy and its fields."""
        current = rich()
        first = read_post(current, {"add": "challenges"}).document
        second = read_post(current, {"document": as_json(first), **form_fields(first), "add": "challenges"})
        assert [c["id"] for c in second.document["challenges"]][-2:] == ["challenge-3", "challenge-4"]
        filled = {"document": as_json(second.document), "challenges[3].name": "Fourth"}
        assert read_post(current, filled).document["challenges"][3]["name"] == "Fourth"

    @pytest.mark.parametrize(
        "button",
        [
            {"remove": "streaks[5]"},
            {"remove": "streaks"},
            {"remove": "timezone"},
            {"add": "streaks[0]"},
            {"add": "templates"},
            {"add": "streaks[9].milestones"},
            {"add": "x" * 5000},
        ],
    )
    def test_a_button_naming_nothing_it_may_change_changes_nothing(self, button: dict[str, str]) -> None:
        document = rich()
        posted = read_post(document, button)
        assert posted.document == document and posted.action == ""


class TestValidation:
    def test_what_is_not_a_number_comes_back_as_a_problem_named_by_its_field(self) -> None:
        fields = {
            "streaks[0].milestones[0].milestoneTargetValue": "three",
            "lateLogGraceHours": "1e999",
            "pointsRules[0].points": "NaN",
            "challenges[0].completionTargetValue": "",
            "streaks[0].milestones[0].reward.validDays": "2.5",
        }
        document = read_post(rich(), fields).document
        assert document["streaks"][0]["milestones"][0]["milestoneTargetValue"] == "three"  # kept as posted
        with pytest.raises(ProgramInvalid) as refused:
            parse_program(document)
        paths = {problem["path"] for problem in refused.value.problems}
        assert set(fields) <= paths

    def test_an_invalid_post_saves_nothing_and_comes_back_as_posted(self, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, rich(), who="admin")
        audit_before = audit_log.recent(fake_store, SITE)
        fields = {"streaks[0].name": "Weekly", "streaks[0].milestones[0].milestoneTargetValue": "-1"}
        outcome = programme.save_fields(fake_store, SITE, fields, "owner-1")
        assert outcome.status == 422 and outcome.source == "fields"
        assert "greater than 0" in outcome.by_path["streaks[0].milestones[0].milestoneTargetValue"]
        assert outcome.document is not None and outcome.document["streaks"][0]["name"] == "Weekly"
        assert fake_store.get(keys.program_draft(SITE)) is None
        assert audit_log.recent(fake_store, SITE) == audit_before

    def test_a_valid_post_becomes_the_draft_with_its_audit_entry(self, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, rich(), who="admin")
        outcome = programme.save_fields(fake_store, SITE, {"streaks[1].name": "Resting"}, "owner-1")
        assert outcome.status == 200 and "The draft is saved" in outcome.notice
        assert program_versions.draft(fake_store, SITE)["document"]["streaks"][1]["name"] == "Resting"
        assert audit_log.recent(fake_store, SITE, 1)[0]["action"] == "draft_saved"

    def test_a_button_saves_nothing(self, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, rich(), who="admin")
        outcome = programme.save_fields(fake_store, SITE, {"add": "rules"}, "owner-1")
        assert outcome.status == 200 and outcome.document is not None and len(outcome.document["rules"]) == 3
        assert fake_store.get(keys.program_draft(SITE)) is None


class TestUntouchedAndHostile:
    def test_the_storefront_sections_come_from_the_current_document_not_the_post(self) -> None:
        current = {**rich(), "templates": [{"id": "current"}], "themes": [{"id": "t"}]}
        stale = {**rich(), "templates": [{"id": "stale"}], "floatingWidgets": [{"id": "w"}]}
        posted = read_post(current, {"document": json.dumps(stale), "streaks[0].name": "Renamed"})
        assert posted.document["templates"] == [{"id": "current"}] and posted.document["themes"] == [
            {"id": "t"}
        ]
        assert "floatingWidgets" not in posted.document
        assert list(posted.document) == list(current)  # the current document's key order
        assert posted.document["streaks"][0]["name"] == "Renamed"

    def test_far_indices_and_unknown_names_are_ignored(self) -> None:
        document = program(streaks=[streak("daily", "Daily", period="daily")])
        hostile = {
            "streaks[999999].name": "far",
            "streaks[0].milestones[7].name": "far",
            "streaks[0].bogus": "x",
            "streaks[0].name.deeper": "x",
            "streaks.name": "x",
            "templates[0].id": "x",
            "__class__": "x",
            "streaks[0]": "x",
            "streaks[-1].name": "x",
            "streaks[0].milestones": "x",
        }
        assert read_post(document, hostile).document == document

    def test_one_new_item_per_list_at_most_from_its_fields(self) -> None:
        document = program(challenges=[challenge("c", "C", completion=2, period="monthly")])
        posted = read_post(document, {"challenges[1].name": "Next", "challenges[2].name": "After"})
        assert [c["name"] for c in posted.document["challenges"]] == ["C", "Next"]

    def test_a_huge_form_or_a_broken_working_copy_is_refused_by_name(self) -> None:
        document = rich()
        huge = {f"streaks[0].x{i}": "" for i in range(MAX_FIELDS + 1)}
        assert "too large" in read_post(document, huge).problem
        assert "too large" in read_post(document, {"streaks[0].name": "x" * 300_000}).problem
        for broken in ("[1, 2]", "{", "a: [1", yaml.safe_dump([[[[[]]]]] * 3000)):
            assert read_post(document, {"document": broken}).problem != "", broken

    def test_a_post_that_cannot_be_read_is_a_named_problem_and_saves_nothing(self, fake_store) -> None:
        outcome = programme.save_fields(fake_store, SITE, {"document": "[1]"}, "owner-1")
        assert outcome.status == 422 and "(form)" in outcome.by_path
        assert fake_store.get(keys.program_draft(SITE)) is None


def test_a_points_reward_round_trips() -> None:
    document = program(
        streaks=[streak("s", "S", period="daily", milestones=[milestone("m", "M", 2, points(50))])],
        rules=[rule("order_paid", streak="s")],
    )
    assert read_post(junk(SCHEMA, document), form_fields(document)).document == document


def test_a_forms_save_keeps_the_caps_multipliers_and_bonus_windows_it_does_not_show() -> None:
    """The forms edit a points rule's `points`; its caps, budget and tier multipliers and the program's
    bonus windows (YAML only) come through unchanged."""
    caps = {"maxPerPeriod": 5, "period": "daily", "budget": {"points": 9, "period": "yearly"}}
    rule_doc = {"on": "order_paid", "points": 1, "per": 1, "tierMultipliers": {"gold": 2}, **caps}
    window = {
        "id": "w",
        "multiplier": 2,
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2026-01-02T00:00:00Z",
    }
    document = {"pointsRules": [rule_doc], "bonusWindows": [window]}
    posted = read_post(document, {"document": as_json(document), "pointsRules[0].points": "3"}).document
    assert posted == {"pointsRules": [{**rule_doc, "points": 3}], "bonusWindows": [window]}
    parse_program(posted)
