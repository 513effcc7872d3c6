"""What can be checked of the shipped files without a browser: the Wix snippet's shape (wix-facts.md
§6.1, §6.2) and widget.js's size budget. These run everywhere, Chromium or not."""

from __future__ import annotations

import gzip
import re

from tests.browser.harness import ROOT, SNIPPET

WIDGET_JS = ROOT / "worker" / "web" / "static" / "widget.js"
PARAMETERS = {"host", "accountId", "templateId", "themeId", "floatingWidgetId"}


class TestSnippet:
    def test_its_placeholders_are_the_five_parameters_in_attribute_values_only(self) -> None:
        """Wix substitutes placeholders only in attribute values, and its parameters must match them all."""
        text = SNIPPET.read_text()
        everywhere = re.findall(r"\{\{(\w+)\}\}", text)
        in_attributes = re.findall(r'[\w-]+="\{\{(\w+)\}\}"', text)
        assert set(everywhere) == PARAMETERS
        assert sorted(everywhere) == sorted(in_attributes)
        assert not re.search(r"<script[^>]*>[^<]*\{\{", text)

    def test_it_is_the_module_wix_injects_a_token_into(self) -> None:
        """`accesstoken="true"` on a module script exporting `injectAccessTokenFunction`, the session asked
        for with `fetchWithAuth`, and no top-level await (Wix injects the token after the module ran)."""
        text = SNIPPET.read_text()
        script = re.search(r'<script accesstoken="true" type="module">(.*?)</script>', text, re.S)
        assert script is not None
        code = script.group(1)
        assert "export const injectAccessTokenFunction = client.auth.getAccessTokenInjector();" in code
        assert 'from "@wix/sdk"' in code and 'from "@wix/site"' in code
        assert re.search(r"client\.fetchWithAuth\(`\$\{host\}/widget/v1/session`", code)
        top_level = [
            line for line in code.splitlines() if line.startswith("  ") and not line.startswith("   ")
        ]
        assert not [line for line in top_level if re.match(r"\s*(const \w+ = )?await\b", line)]


class TestWidgetScript:
    def test_it_stays_far_under_its_20_kb_gzip_budget(self) -> None:
        """One file, no build step: at most 20 KB gzipped (the issue), and we aim well under it: 12 KB with
        the member panel's Spend points, tier and referral sections (it was 10 KB before them)."""
        assert len(gzip.compress(WIDGET_JS.read_bytes(), 9)) < 12 * 1024

    def test_its_one_global_is_the_custom_element(self) -> None:
        """Everything lives in one IIFE; the only name it defines outside is the custom element."""
        text = WIDGET_JS.read_text()
        assert re.search(r"^\(\(\) => \{\n  \"use strict\";", text.split("*/", 1)[1].lstrip(), re.M)
        assert text.rstrip().endswith("})();")
        assert (
            "customElements.define(TAG, RewardsWidget)" in text and 'const TAG = "wix-rewards-widget"' in text
        )
        assert "innerHTML" not in text  # server text goes in as text nodes only
