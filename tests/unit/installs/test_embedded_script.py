"""The embedded script and its Embed Script parameters: exactly the script's placeholders, all strings
(else Wix answers 400, wix-facts.md §6.1)."""

from __future__ import annotations

from worker.dev.programs import BASE_PROGRAM
from worker.engine.program import parse_program
from worker.installs.embedded_script import SCRIPT_PATH, embed_parameters, placeholders, script_placeholders
from worker.store.storefront_choice import StorefrontChoice


class TestPlaceholders:
    def test_placeholders_are_the_double_braced_names(self) -> None:
        """`{{name}}` is a placeholder wherever it is; other braces are not."""
        text = '<a data-x="{{host}}" data-y="{{ accountId }}">{ not } {{host}}</a>'
        assert placeholders(text) == {"host", "accountId"}

    def test_the_shipped_script_is_in_wix_app(self) -> None:
        """The script Wix injects lives in wix-app/ and has the widget's five parameters."""
        assert SCRIPT_PATH.parts[-2:] == ("wix-app", "embedded-script.html")
        assert script_placeholders() == {"host", "accountId", "templateId", "themeId", "floatingWidgetId"}


class TestEmbedParameters:
    def test_the_parameters_are_exactly_the_scripts_placeholders_and_strings(self) -> None:
        """What is sent to Embed Script matches the script's placeholders key for key, values strings."""
        parameters = embed_parameters()
        assert set(parameters) == script_placeholders()
        assert all(isinstance(value, str) and value for value in parameters.values())

    def test_a_site_gets_its_host_and_instance_and_the_default_widget(self) -> None:
        """The service's origin (no trailing slash), the site's instance, `default` template/theme/widget."""
        program = parse_program(BASE_PROGRAM)
        parameters = embed_parameters(program, instance_id="inst-9", host="https://rewards.example.com/")
        assert parameters == {
            "host": "https://rewards.example.com",
            "accountId": "inst-9",
            "templateId": "default",
            "themeId": "default",
            "floatingWidgetId": "default",
        }

    def test_the_sites_choice_is_sent_and_an_id_the_programme_lost_falls_back_to_default(self) -> None:
        """The Storefront page's choice; a theme the live programme no longer has is `default` (the
        built-in one), not an id the widget would answer 404 for."""
        choice = StorefrontChoice("summer", "gone", "corner", shown=False)
        document = {
            **BASE_PROGRAM,
            "templates": [{"id": "summer", "copy": {"en": {"title": "Summer"}}}],
            "floatingWidgets": [{"id": "corner", "label": "Rewards"}],
        }
        parameters = embed_parameters(parse_program(document), choice=choice, instance_id="inst-9")
        assert (parameters["templateId"], parameters["themeId"], parameters["floatingWidgetId"]) == (
            "summer",
            "default",
            "corner",
        )
        without_program = embed_parameters(None, choice=choice, instance_id="inst-9")
        assert without_program["themeId"] == "gone"  # nothing to check it against: sent as chosen
