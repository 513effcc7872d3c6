"""The trigger definitions a self-hoster registers in Wix's Dev Center: `wix-app/triggers/{key}.json`.

Each file holds the trigger's `name`, `triggerKey`, `description` and `payloadSchema` (JSON Schema
draft-07, following Wix's rules, wix-facts.md §5.2). The tests validate every payload the service
reports against its file, so the definitions and the reports cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TRIGGERS_DIR = Path(__file__).resolve().parents[2] / "wix-app" / "triggers"


@cache
def trigger_definition(trigger_key: str) -> dict[str, Any]:
    """The whole definition of one trigger; FileNotFoundError for a trigger with none."""
    if not trigger_key.replace("_", "").isalnum():
        raise FileNotFoundError(f"no trigger definition for {trigger_key!r}")
    definition: dict[str, Any] = json.loads((TRIGGERS_DIR / f"{trigger_key}.json").read_text())
    return definition


def trigger_payload_schema(trigger_key: str) -> dict[str, Any]:
    """The payload JSON Schema of one trigger."""
    schema: dict[str, Any] = trigger_definition(trigger_key)["payloadSchema"]
    return schema


def trigger_keys() -> list[str]:
    """Every trigger with a definition file."""
    return sorted(path.stem for path in TRIGGERS_DIR.glob("*.json"))
