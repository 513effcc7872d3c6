"""The embedded script Wix injects into the merchant's site (`wix-app/embedded-script.html`) and the
parameters the app sends with Embed Script (wix-facts.md §6.1, §8).

Wix substitutes `{{name}}` placeholders in the script's HTML attribute values with the parameters; the
parameters' keys must be exactly the script's placeholders (else Wix answers 400 "Parameters map sent to
embedded script is not the same as discovered in the script code") and every value is a string. Every
visitor sees them: nothing secret goes there.
"""

from __future__ import annotations

import re
from pathlib import Path

from worker.engine.program import Program
from worker.engine.storefront import DEFAULT_ID

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
    program: Program | None = None, *, instance_id: str = EXAMPLE_INSTANCE, host: str = EXAMPLE_HOST
) -> dict[str, str]:
    """The Embed Script parameters for a site: where the widget comes from (`host`, the service's public
    origin), whose it is (`accountId`, the instance id) and which template, theme and floating widget it
    shows: the built-in `default` ones until the merchant chooses (the program, when it has one, is where
    that choice will be read; a program's own `default` items already replace the built-in ones).
    Exactly the script's placeholders, all strings."""
    del program  # no choice to read yet: every site starts with `default`
    return {
        "host": host.rstrip("/"),
        "accountId": instance_id,
        "templateId": DEFAULT_ID,
        "themeId": DEFAULT_ID,
        "floatingWidgetId": DEFAULT_ID,
    }
