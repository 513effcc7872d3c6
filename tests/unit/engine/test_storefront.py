"""The widget's templates, themes and floating widgets in the program document (engine/storefront.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from worker.engine.program import ProgramInvalid, parse_program
from worker.engine.storefront import (
    BUILT_IN_COPY,
    COPY_KEYS,
    UnknownResource,
    contrast_ratio,
)

GOOD_THEME: dict[str, Any] = {
    "id": "dark",
    "colors": {
        "primary": "#ffcc00",
        "onPrimary": "#000000",
        "background": "#101010",
        "text": "#f5f5f5",
        "muted": "#b0b0b0",
    },
    "fontFamily": "'Helvetica Neue', Arial, sans-serif",
    "cornerRadius": 4,
}


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ProgramInvalid) as invalid:
        parse_program(document)
    return {problem["path"]: problem["message"] for problem in invalid.value.problems}


class TestBuiltIns:
    def test_a_program_without_resources_has_the_defaults(self) -> None:
        """An empty program answers the built-in template, theme and bottom-right launcher for `default`."""
        program = parse_program({})
        assert program.template("default").defaultLocale == "en"
        assert sorted(program.template("default").copy_) == ["de", "en"]
        assert program.theme("default").colors.primary == "#1f5fbf"
        launcher = program.floating_widget("default")
        assert (launcher.position, launcher.label, launcher.icon) == ("bottom-right", "Rewards", "gift")

    def test_the_built_in_copy_has_every_key_in_english_and_german(self) -> None:
        """Both built-in locales give all the contract's copy keys."""
        for locale in ("en", "de"):
            assert set(BUILT_IN_COPY[locale]) == set(COPY_KEYS)
        assert parse_program({}).copy_for("default", "de")["close"] == "Schließen"

    def test_the_built_in_theme_passes_its_own_contrast_check(self) -> None:
        """The neutral theme would be accepted if a merchant wrote it."""
        theme = parse_program({}).theme("default").model_dump()
        parse_program({"themes": [{**theme, "id": "copy-of-default"}]})

    def test_a_merchants_default_overrides_the_built_in(self) -> None:
        """A program's own `default` theme is the one answered."""
        program = parse_program({"themes": [{**GOOD_THEME, "id": "default"}]})
        assert program.theme("default").colors.primary == "#ffcc00"

    def test_an_unknown_id_names_itself(self) -> None:
        """A template id the program lacks raises UnknownResource naming kind and id."""
        with pytest.raises(UnknownResource) as unknown:
            parse_program({}).template("summer")
        assert (unknown.value.kind, unknown.value.resource_id) == ("template", "summer")


class TestContrast:
    def test_ratio_matches_wcag(self) -> None:
        """Black on white is 21:1, a colour on itself 1:1, #767676 on white just passes AA."""
        assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
        assert contrast_ratio("#abcdef", "#abcdef") == pytest.approx(1)
        assert 4.5 <= contrast_ratio("#767676", "#FFFFFF") < 4.6

    def test_every_unreadable_pair_is_reported_with_its_path(self) -> None:
        """Light grey text, muted and white-on-yellow all fail AA, each named with its ratio."""
        theme = {**copy.deepcopy(GOOD_THEME), "id": "pale"}
        theme["colors"].update(
            background="#ffffff", text="#aaaaaa", muted="#cccccc", primary="#ffee00", onPrimary="#ffffff"
        )
        problems = problems_of({"themes": [GOOD_THEME, theme]})
        assert set(problems) == {
            "themes[1].colors.text",
            "themes[1].colors.muted",
            "themes[1].colors.onPrimary",
        }
        assert "contrast with background is 2.32:1" in problems["themes[1].colors.text"]
        assert "WCAG AA needs at least 4.5:1" in problems["themes[1].colors.onPrimary"]

    def test_colours_must_be_six_digit_hex(self) -> None:
        """`red` and `#fff` are refused by path."""
        theme = copy.deepcopy(GOOD_THEME)
        theme["colors"].update(primary="red", text="#fff")
        assert set(problems_of({"themes": [theme]})) == {"themes[0].colors.primary", "themes[0].colors.text"}

    def test_a_font_family_cannot_break_out_of_css(self) -> None:
        """A font family with `;` or braces is refused."""
        theme = {**GOOD_THEME, "fontFamily": "Arial; } body { display: none"}
        assert "themes[0].fontFamily" in problems_of({"themes": [theme]})


class TestTemplates:
    TEMPLATE: dict[str, Any] = {
        "id": "shop",
        "defaultLocale": "de",
        "copy": {
            "de": {"title": "Treuepunkte-Club", "callToAction": "Jetzt einkaufen"},
            "de-AT": {"title": "Treueclub Österreich"},
            "en": {"title": "Loyalty club"},
            "fr": {"title": "Club fidélité", "close": "Fermer"},
        },
    }

    def program(self) -> Any:
        return parse_program({"templates": [self.TEMPLATE]})

    def test_exact_locale_then_language_then_default(self) -> None:
        """de-AT is exact, de-CH falls to de, ja to the default locale (de)."""
        template = self.program().template("shop")
        assert template.locale_for("de-AT") == "de-AT"
        assert template.locale_for("DE-at") == "de-AT"
        assert template.locale_for("de-CH") == "de"
        assert template.locale_for("ja") == "de"
        assert template.locale_for(None) == "de"

    def test_a_locale_lacking_keys_takes_them_from_the_default_locale(self) -> None:
        """de-AT gives only a title: its call to action is the default locale's."""
        copy_at = self.program().copy_for("shop", "de-AT")
        assert copy_at["title"] == "Treueclub Österreich"
        assert copy_at["callToAction"] == "Jetzt einkaufen"

    def test_the_default_locale_is_filled_from_built_in_copy_in_its_language(self) -> None:
        """A German default lacking `close` gets the built-in German; every key is there."""
        copy_de = self.program().copy_for("shop", "de")
        assert copy_de["close"] == "Schließen"
        assert set(copy_de) == set(COPY_KEYS)

    def test_other_locales_fall_back_through_the_default_locale(self) -> None:
        """fr keeps its own keys; the rest come from the (German) default locale, not from English."""
        copy_fr = self.program().copy_for("shop", "fr")
        assert (copy_fr["title"], copy_fr["close"]) == ("Club fidélité", "Fermer")
        assert copy_fr["callToAction"] == "Jetzt einkaufen"
        assert copy_fr["pointsTitle"] == "Punkte"

    def test_a_locale_prefers_built_in_copy_in_its_language_to_another_languages(self) -> None:
        """English default with only a title; de gives only its title: the rest is built-in German."""
        program = parse_program(
            {"templates": [{"id": "t", "copy": {"en": {"title": "Club"}, "de": {"title": "Klub"}}}]}
        )
        copy_de = program.copy_for("t", "de")
        assert (copy_de["title"], copy_de["close"]) == ("Klub", "Schließen")
        assert program.copy_for("t", "en")["close"] == "Close"

    def test_a_default_locale_without_built_in_copy_is_filled_in_english(self) -> None:
        """A Dutch-only template's missing keys come from the built-in English."""
        program = parse_program(
            {"templates": [{"id": "nl", "defaultLocale": "nl", "copy": {"nl": {"title": "Beloningen"}}}]}
        )
        assert program.copy_for("nl", "nl")["title"] == "Beloningen"
        assert program.copy_for("nl", "nl")["close"] == "Close"

    def test_the_default_locale_needs_copy(self) -> None:
        """defaultLocale fr without copy.fr is a problem at defaultLocale."""
        template = {"id": "t", "defaultLocale": "fr", "copy": {"en": {"title": "Hi"}}}
        problems = problems_of({"templates": [template]})
        assert "has no copy" in problems["templates[0].defaultLocale"]

    def test_unknown_copy_keys_and_bad_locales_are_refused(self) -> None:
        """A misspelt key and a locale that is not a language tag are each named."""
        template = {"id": "t", "copy": {"en": {"titel": "Hi"}, "english!": {"title": "Hi"}}}
        paths = set(problems_of({"templates": [template]}))
        assert "templates[0].copy.en.titel" in paths
        assert any(path.startswith("templates[0].copy.english!") for path in paths)

    def test_duplicate_ids_are_problems(self) -> None:
        """Two floating widgets with one id: the second is named."""
        launcher = {"id": "corner", "label": "Rewards"}
        problems = problems_of({"floatingWidgets": [launcher, launcher]})
        assert problems == {"floatingWidgets[1].id": "duplicates the id of floatingWidgets[0]"}

    def test_floating_widget_fields_are_checked(self) -> None:
        """A position off the four corners and an unknown icon are refused."""
        launcher = {"id": "corner", "label": "Rewards", "position": "center", "icon": "heart"}
        assert set(problems_of({"floatingWidgets": [launcher]})) == {
            "floatingWidgets[0].position",
            "floatingWidgets[0].icon",
        }

    def test_storefront_and_programme_problems_come_together(self) -> None:
        """A broken streak and a broken theme are answered in one go."""
        theme = copy.deepcopy(GOOD_THEME)
        theme["colors"]["text"] = "#202020"
        document = {
            "streaks": [
                {
                    "id": "s",
                    "name": "S",
                    "activityIds": ["order_paid"],
                    "aggregationMethod": "count",
                    "aggregationPeriod": "weekly",
                    "aggregationTargetValue": 1.5,
                }
            ],
            "themes": [theme],
        }
        assert set(problems_of(document)) == {"streaks[0].aggregationTargetValue", "themes[0].colors.text"}
