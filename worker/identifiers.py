"""The one rule for identifiers a client sends that end up in Redis key names (contact ids, unique
identifiers, reward log ids, instance ids, transaction and webhook ids).

A member's keys share the hash tag `{instanceId:contactId}`, then a suffix (`:uid:...`, `:rewards`):
an id holding `{` or `}` could move the tag or reach into another key (a contact `c}:uid:Q` would name
the log key of contact `c`'s `Q`), so braces are refused, with control characters, and lengths are
bounded. An instance id is stricter (letters, digits, `.`, `_`, `-`): it is the first part of the tag,
so it must not hold the `:` that separates it from the contact. The REST models, the Wix actions (via
`worker.progress.record`), the points sync and the store all use this module.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

MAX_LENGTH = 200
INSTANCE_MAX_LENGTH = 100
PATTERN = r"^[^{}\x00-\x1f\x7f]+$"
INSTANCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_ALLOWED = re.compile(r"[^{}\x00-\x1f\x7f]+")  # PATTERN, for fullmatch (`$` would pass a final newline)
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# What each pattern means, in words, for the 422 an API answers (worker.web.errors).
PATTERN_MEANINGS = {
    PATTERN: "must not contain {, } or control characters",
    INSTANCE_PATTERN: "must be letters, digits, '.', '_' or '-', beginning with a letter or digit",
}


class InvalidIdentifier(ValueError):
    """An identifier outside the rule; the message names the field and the rule."""


def identifier_problem(value: object, max_length: int = MAX_LENGTH) -> str | None:
    """What is wrong with `value` as an identifier, or None."""
    if not isinstance(value, str) or not value:
        return "is required (a non-empty string)"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if not _ALLOWED.fullmatch(value):
        return "must not contain {, } or control characters"
    return None


def check_identifier(value: object, field: str, max_length: int = MAX_LENGTH) -> str:
    """`value` when it follows the rule, else InvalidIdentifier naming `field`."""
    problem = identifier_problem(value, max_length)
    if problem is not None:
        raise InvalidIdentifier(f"{field} {problem}")
    assert isinstance(value, str)
    return value


def is_instance_id(value: str) -> bool:
    return len(value) <= INSTANCE_MAX_LENGTH and _INSTANCE.fullmatch(value) is not None


# The rule as pydantic field types (OpenAPI shows the pattern, so fuzzers keep to it).
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=PATTERN)]
ShortIdentifier = Annotated[str, Field(min_length=1, max_length=100, pattern=PATTERN)]
LongIdentifier = Annotated[str, Field(min_length=1, max_length=300, pattern=PATTERN)]
InstanceId = Annotated[str, Field(min_length=1, max_length=INSTANCE_MAX_LENGTH, pattern=INSTANCE_PATTERN)]


def validation_message(error: Any) -> str:
    """Pydantic's message, or the identifier rule in words where a pattern says it in regex."""
    pattern = (error.get("ctx") or {}).get("pattern")
    mismatch = error.get("type") == "string_pattern_mismatch"
    meaning = PATTERN_MEANINGS.get(pattern) if mismatch and isinstance(pattern, str) else None
    return meaning or str(error["msg"])
