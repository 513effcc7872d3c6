"""The embedded script Wix injects into the merchant's site (`wix-app/embedded-script.html`) and the
parameters the app sends with Embed Script (wix-facts.md §6.1, §8).

Wix substitutes `{{name}}` placeholders in the script's HTML attribute values with the parameters; the
parameters' keys must be exactly the script's placeholders (else Wix answers 400 "Parameters map sent to
embedded script is not the same as discovered in the script code") and every value is a string. Every
visitor sees them: nothing secret goes there. The template, theme and floating widget are the site's own
choice (the console's Storefront page); the install, a reinstall and every Storefront save send them, and
`disabled: true` when the merchant switched the widget off (worker/installs/lifecycle.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from worker.engine.program import Program
from worker.engine.storefront import DEFAULT_ID
from worker.store.storefront_choice import StorefrontChoice

SCRIPT_PATH = Path(__file__).resolve().parents[2] / "wix-app" / "embedded-script.html"

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

EXAMPLE_HOST = "https://rewards.example.com"
EXAMPLE_INSTANCE = "00000000-0000-0000-0000-000000000000"


def placeholders(text: str) -> set[str]:
    """The names of the `{{placeholders}}` in a script's text."""
    return set(PLACEHOLDER.findall(text))


def script_placeholders() -> set[str]:
    """The placeholders of the shipped script."""
    return placeholders(SCRIPT_PATH.read_text(encoding="utf-8"))


def embed_parameters(
    program: Program | None = None,
    *,
    choice: StorefrontChoice | None = None,
    instance_id: str = EXAMPLE_INSTANCE,
    host: str = EXAMPLE_HOST,
) -> dict[str, str]:
    """The Embed Script parameters for a site: where the widget comes from (`host`, the service's public
    origin), whose it is (`accountId`, the instance id) and which template, theme and floating widget it
    shows: the site's `choice` (the console's Storefront page, worker/store/storefront_choice.py), else
    `default`. An id the live `program` no longer has (the merchant removed it in the YAML) falls back to
    `default`, so the site shows the built-in item rather than no widget; without a program the choice is
    sent as it is. Exactly the script's placeholders, all strings."""
    chosen = choice or StorefrontChoice()
    ids = {
        "templateId": chosen.templateId,
        "themeId": chosen.themeId,
        "floatingWidgetId": chosen.floatingWidgetId,
    }
    if program is not None:
        known = {
            "templateId": {item.id for item in program.templates},
            "themeId": {item.id for item in program.themes},
            "floatingWidgetId": {item.id for item in program.floatingWidgets},
        }
        ids = {name: value if value in known[name] else DEFAULT_ID for name, value in ids.items()}
    return {"host": host.rstrip("/"), "accountId": instance_id, **ids}
