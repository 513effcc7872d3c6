"""The Storefront page's domain (worker/console/storefront.py) and its stores: the site's own items, the
contrast shown beside a colour, which sections an edit changes, publishing only those sections (the
draft keeps its other changes and gets the same sections), and the choice saved with its outbox intent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from worker import keys
from worker.console import storefront
from worker.console.checklist import checklist
from worker.console.storefront_sample import sample_member
from worker.dev.programs import challenge, coupon, milestone, program, rule, streak
from worker.dispatch import ON_INSTALLED, RecordedDispatcher
from worker.engine.program import ProgramInvalid, parse_program
from worker.engine.storefront import BUILT_IN_FLOATING_WIDGET, BUILT_IN_TEMPLATE, BUILT_IN_THEME
from worker.installs.lifecycle import INSTALL_INTENT
from worker.store import instances, program_versions, storefront_choice
from worker.store.storefront_choice import StorefrontChoice

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

SITE = "site-a"
DARK = {
    "primary": "#ffcc00",
    "onPrimary": "#000000",
    "background": "#101010",
    "text": "#f5f5f5",
    "muted": "#b0b0b0",
}


def test_the_sites_own_items_are_the_live_programmes_and_default() -> None:
    document = {
        "themes": [{"id": "dark", "colors": DARK}],
        "templates": [{"id": "default", "copy": {"en": {}}}],
    }
    found = storefront.options(document)
    assert found.themes == ["default", "dark"]
    assert found.templates == ["default"]  # the programme's own default, not twice
    assert found.floatingWidgets == ["default"]


def test_the_contrast_is_shown_beside_the_foreground_colour_with_its_ratio() -> None:
    values = {f"theme.colors.{k}": v for k, v in {**DARK, "muted": "#333333"}.items()}
    shown = storefront.contrasts(values)
    assert shown["theme.colors.text"] == ("Contrast with background: 17.45:1 (at least 4.5:1)", True)
    assert shown["theme.colors.muted"][1] is False and "1.5:1" in shown["theme.colors.muted"][0]
    assert "theme.colors.background" not in shown  # a background has no contrast of its own
    assert "theme.colors.text" not in storefront.contrasts({**values, "theme.colors.text": "white"})


def test_only_the_sections_an_edit_changes_are_replaced() -> None:
    document = {
        "themes": [
            {"id": "dark", "colors": DARK},
            {"id": "light", "colors": BUILT_IN_THEME.colors.model_dump()},
        ]
    }
    same = (BUILT_IN_TEMPLATE, BUILT_IN_THEME, BUILT_IN_FLOATING_WIDGET)
    assert storefront.changed_sections(document, same) == {}  # the built-in items as they are
    brighter = BUILT_IN_THEME.model_copy(update={"id": "dark"})
    sections = storefront.changed_sections(document, (BUILT_IN_TEMPLATE, brighter, BUILT_IN_FLOATING_WIDGET))
    assert [theme["id"] for theme in sections["themes"]] == ["light", "dark"]
    assert sections["themes"][1]["colors"] == BUILT_IN_THEME.colors.model_dump()


class TestPublishSections:
    def test_a_site_without_a_programme_gets_one_with_only_the_sections(self, fake_store) -> None:
        summary = program_versions.publish_sections(
            fake_store,
            SITE,
            {"themes": [{"id": "dark", "colors": DARK}]},
            who="owner-1",
            note="Storefront: x",
        )
        assert summary["version"] == 1
        live = program_versions.document_named(fake_store, SITE, "live")
        assert live == {"timezone": "UTC", "themes": [{"id": "dark", "colors": DARK}]}

    def test_an_invalid_section_publishes_nothing(self, fake_store) -> None:
        bad = {"themes": [{"id": "dark", "colors": {**DARK, "text": "#111111"}}]}
        with pytest.raises(ProgramInvalid):
            program_versions.publish_sections(fake_store, SITE, bad, who="owner-1", note="x")
        assert fake_store.get(keys.program(SITE)) is None


class TestSavingTheChoice:
    def test_a_site_that_chose_nothing_gets_default_shown(self, fake_store) -> None:
        assert storefront_choice.get(fake_store, SITE) == StorefrontChoice(
            "default", "default", "default", True
        )

    def test_the_switch_stores_the_choice_with_its_intent_and_sends_the_install_task(
        self, fake_store
    ) -> None:
        sent = RecordedDispatcher()
        outcome = storefront.set_shown(fake_store, sent, SITE, False, "owner-1")
        assert "taken off" in outcome.notice
        assert storefront_choice.get(fake_store, SITE).shown is False
        intent = json.loads(fake_store.hget(keys.instance_outbox(SITE), INSTALL_INTENT))
        assert intent["task"] == ON_INSTALLED and intent["kwargs"] == {"instance_id": SITE}
        assert fake_store.zscore(keys.OUTBOX_INDEX, keys.instance_outbox(SITE)) is not None  # the relay looks
        assert sent.resent == [(ON_INSTALLED, {"instance_id": SITE}, "rewards")]

    def test_a_lost_send_leaves_the_choice_and_the_intent_for_the_relay(self, fake_store) -> None:
        class Down(RecordedDispatcher):
            def resend(self, task: str, kwargs: dict[str, object], queue: str) -> None:
                raise ConnectionError("the broker is down")

        storefront.set_shown(fake_store, Down(), SITE, False, "owner-1")
        assert storefront_choice.get(fake_store, SITE).shown is False
        assert fake_store.hexists(keys.instance_outbox(SITE), INSTALL_INTENT)


def test_the_home_checklist_says_when_the_widget_is_switched_off(fake_store) -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    instances.record_embedding(fake_store, SITE, at, parameters={"themeId": "dark"}, disabled=True)
    [widget] = [item for item in checklist(fake_store, SITE) if item.key == "widget"]
    assert widget.done and "Switched off on the Storefront page" in widget.detail
    instances.record_embedding(fake_store, SITE, at, parameters={"themeId": "dark"})
    [widget] = [item for item in checklist(fake_store, SITE) if item.key == "widget"]
    assert "Switched off" not in widget.detail


def test_the_sample_member_has_made_up_progress_over_the_sites_live_streaks_and_challenges() -> None:
    """One run short of each streak's first milestone, 60% through each challenge, a coupon named after
    the first milestone; shaped as /widget/v1/me answers."""
    document = program(
        streaks=[
            streak(
                "weekly",
                "Weekly",
                period="weekly",
                milestones=[milestone("m4", "Four", 4, coupon("Ten", 10))],
            )
        ],
        challenges=[
            challenge(
                "five", "Five orders", completion=5, period="monthly", milestones=[milestone("c2", "Two", 2)]
            )
        ],
        rules=[rule("order_paid", streak="weekly"), rule("order_paid", challenge="five")],
    )
    sample = sample_member(parse_program(document), SITE, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    [weekly] = sample["streaks"]
    assert weekly["currentRun"] == 3 and weekly["nextMilestone"]["name"] == "Four"
    [five] = sample["challenges"]
    assert five["value"] == "3" and five["milestones"][0]["achieved"] is True
    assert sample["rewards"][0]["name"] == "Four" and sample["rewards"][0]["couponCode"] == "SAMPLE-10"
    assert sample_member(None, SITE, datetime(2026, 12, 7, tzinfo=UTC))["streaks"] == []
    spend = sample["spend"]  # the Spend points section, shaped as GET /widget/v1/loyalty-rewards answers
    assert spend["balance"] == sample["points"]["balance"] and spend["coupons"] == []
    assert [r["costInPoints"] for r in spend["rewards"]] == [100, 250]
