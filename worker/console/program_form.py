"""The Programme page's forms ⇄ the program document.

Every field is named by its path in the document (`streaks[0].name`,
`challenges[1].window.startsAt`, `streaks[0].milestones[2].reward.coupon.percentOffRate`), the notation
of the validation's problems, so a problem lands beside the field it concerns. `SCHEMA` lists every
field the forms edit: the settings (timezone, lateLogGraceHours), streaks, challenges, their milestones
and rewards, rules and points rules. Everything else in the document (the storefront's templates,
themes and floating widgets) is not the forms' business: it is taken unchanged from the current
document when the forms are saved.

A post is applied over a working copy of the form's sections (posted as the hidden `document` field, so
an added item survives until it is saved; else the current document): each known field sets its value,
an empty optional field removes its key, an unknown name is ignored, and an index may name an existing
item or the next one (never more). Numbers that are not numbers are kept as the text, for the validation
to name. The `add` and `remove` buttons name a list (`challenges[0].milestones`) or an item
(`rules[2]`) and change only the working copy.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from worker.engine.program import ProgramInvalid, load_document

Kind = Literal[
    "text",
    "optional_text",
    "long_text",
    "number",
    "optional_number",
    "choice",
    "optional_choice",
    "ids",
    "flag",
]
Document = dict[str, Any]

MAX_FIELDS = 5_000  # a programme's form has a few hundred; more is refused before anything is read
MAX_FORM_CHARS = 256 * 1024  # as the YAML tab's MAX_TEXT_CHARS
CONTROL_FIELDS = frozenset({"session", "csrf", "document", "add", "remove"})
FLAGS = {"true": True, "false": False}


@dataclass(frozen=True)
class Field:
    """One form field: how its text becomes the document's value, and what the merchant reads."""

    label: str
    kind: Kind
    choices: tuple[str, ...] = ()
    hint: str = ""

    shape = "field"

    @property
    def options(self) -> list[tuple[str, str]]:
        """A select's (value, text) options, without the empty "not set" one."""
        if self.kind == "flag":
            return [("true", "Yes"), ("false", "No")]
        return [(choice, choice) for choice in self.choices]

    @property
    def optional(self) -> bool:
        return self.kind in ("optional_text", "long_text", "optional_number", "optional_choice", "flag")


@dataclass(frozen=True)
class Group:
    """An optional mapping (a window, a reward, a coupon): gone when its `key` field is empty (with no
    `key`: when every field is empty)."""

    label: str
    schema: Schema
    key: str = ""
    shape = "group"


@dataclass(frozen=True)
class Items:
    """A list of mappings; `blank(existing)` is a new item for the `add` button."""

    label: str  # one item, as in "Add a {label}"
    plural: str
    schema: Schema
    blank: Callable[[list[Any]], Document]
    shape = "items"


Schema = Mapping[str, "Field | Group | Items"]

STATUSES = ("draft", "live", "paused")
METHODS = ("count", "sum")
PERIODS = ("daily", "weekly", "monthly")
CAP_PERIODS = ("daily", "weekly", "monthly", "yearly")


def _fresh_id(prefix: str, existing: list[Any]) -> str:
    """The first `prefix-N` (N from the list's length + 1) no item of the list has as its id."""
    taken = {item.get("id") for item in existing if isinstance(item, dict)}
    n = len(existing) + 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


COUPON: Schema = {
    "name": Field("Coupon name", "text"),
    "percentOffRate": Field(
        "Percent off", "optional_number", hint="one of percent off, money off, free shipping"
    ),
    "moneyOffAmount": Field("Money off", "optional_number"),
    "freeShipping": Field("Free shipping", "flag"),
    "minimumSubtotal": Field("Minimum subtotal", "optional_number"),
}
REWARD: Schema = {
    "type": Field("Reward", "optional_choice", ("coupon", "points", "manual")),
    "points": Field("Points", "optional_number", hint="for a points reward"),
    "validDays": Field("Valid for (days)", "optional_number"),
    "coupon": Group("Coupon", COUPON),
    "maxPerPeriod": Field("At most per member", "optional_number", hint="times per period; not set: no cap"),
    "period": Field("Per", "optional_choice", CAP_PERIODS),
}
MILESTONE: Schema = {
    "id": Field("Id", "text"),
    "name": Field("Name", "text"),
    "milestoneTargetValue": Field("Target", "number"),
    "rewardInstructions": Field("Reward instructions", "long_text"),
    "reward": Group("Reward", REWARD, key="type"),
}


def _milestones() -> Items:
    return Items(
        "milestone",
        "Milestones",
        MILESTONE,
        lambda existing: {"id": _fresh_id("m", existing), "name": "", "milestoneTargetValue": ""},
    )


STREAK: Schema = {
    "id": Field("Id", "text"),
    "name": Field("Name", "text"),
    "description": Field("Description", "long_text"),
    "status": Field("Status", "optional_choice", STATUSES, hint="not set: draft"),
    "activityIds": Field("Activities", "ids", hint="comma-separated, e.g. order_paid"),
    "aggregationMethod": Field("Counts", "choice", METHODS),
    "aggregationPeriod": Field("Period", "choice", PERIODS),
    "aggregationTargetValue": Field("Target per period", "number"),
    "completionTargetValue": Field("Periods to complete", "optional_number"),
    "milestones": _milestones(),
}
WINDOW: Schema = {
    "startsAt": Field("Starts at", "text", hint="e.g. 2026-12-01T00:00:00+00:00"),
    "endsAt": Field("Ends at", "text"),
}
CHALLENGE: Schema = {
    "id": Field("Id", "text"),
    "name": Field("Name", "text"),
    "description": Field("Description", "long_text"),
    "status": Field("Status", "optional_choice", STATUSES, hint="not set: draft"),
    "activityIds": Field("Activities", "ids", hint="comma-separated, e.g. order_paid"),
    "aggregationMethod": Field("Counts", "choice", METHODS),
    "aggregationPeriod": Field("Period", "optional_choice", PERIODS, hint="or a window, not both"),
    "window": Group("Window", WINDOW),
    "completionTargetValue": Field("Target", "number"),
    "milestones": _milestones(),
}
RULE: Schema = {
    "on": Field("On event", "text", hint="an activity type, e.g. order_paid"),
    "streak": Field("Streak id", "optional_text", hint="a streak or a challenge, not both"),
    "challenge": Field("Challenge id", "optional_text"),
    "activityId": Field("Activity", "text"),
    "value": Field("Value", "optional_text", hint="not set: count"),
}
ORDER_CONDITIONS: Schema = {  # productIds and collectionIds: in the YAML tab
    "minimumTotal": Field("Minimum total", "optional_number"),
    "firstOrderOnly": Field("First order only", "flag"),
}
POINTS_RULE: Schema = {
    "on": Field("On event", "optional_text", hint="e.g. order_paid, member_created, birthday"),
    "activity": Field("Or on activity", "optional_text", hint="a custom activity id, e.g. review"),
    "points": Field("Points", "number"),
    "per": Field("Per", "optional_number", hint="e.g. 1 point per 10 of the order's total; not set: flat"),
    "when": Group("Only orders", ORDER_CONDITIONS),
    "maxPerPeriod": Field("Cap per member", "optional_number", hint="points per period; not set: no cap"),
    "period": Field("Cap period", "optional_choice", CAP_PERIODS),
    "budget": Group(
        "Budget (all members together)",
        {
            "points": Field("Points", "optional_number", hint="per period; not set: no budget"),
            "period": Field("Period", "optional_choice", CAP_PERIODS),
        },
        key="points",
    ),
}  # tierMultipliers: in the YAML tab
BONUS_WINDOW: Schema = {
    "id": Field("Id", "text"),
    "multiplier": Field("Multiply points by", "number", hint="e.g. 2"),
    "startsAt": Field("Starts at", "text", hint="e.g. 2026-11-27T00:00:00-05:00"),
    "endsAt": Field("Ends at", "text"),
    "productIds": Field("Only these products", "ids", hint="comma-separated Wix product ids; empty: all"),
}  # rules (which points rules, by position): in the YAML tab
REFERRALS: Schema = {
    "referrerReward": Group("The member who shares the link earns", REWARD, key="type"),
    "friendReward": Group("The friend earns", REWARD, key="type"),
    "holdDays": Field("Rewards wait (days)", "optional_number", hint="the return window; not set: 14"),
    "maxPerPeriod": Field("Referrals rewarded per member", "optional_number", hint="not set: no cap"),
    "period": Field("Per", "optional_choice", PERIODS, hint="not set: monthly"),
}


def _item(prefix: str, kind: str) -> Callable[[list[Any]], Document]:
    def blank(existing: list[Any]) -> Document:
        item: Document = {"id": _fresh_id(prefix, existing), "name": "", "status": "draft", "activityIds": []}
        if kind == "streak":
            return {
                **item,
                "aggregationMethod": "count",
                "aggregationPeriod": "daily",
                "aggregationTargetValue": 1,
                "milestones": [],
            }
        return {
            **item,
            "aggregationMethod": "count",
            "aggregationPeriod": "monthly",
            "completionTargetValue": "",
            "milestones": [],
        }

    return blank


SCHEMA: Schema = {
    "timezone": Field("Timezone", "text", hint="an IANA name, e.g. Europe/Berlin"),
    "lateLogGraceHours": Field("Late events accepted for (hours)", "optional_number", hint="not set: 72"),
    "streaks": Items("streak", "Streaks", STREAK, _item("streak", "streak")),
    "challenges": Items("challenge", "Challenges", CHALLENGE, _item("challenge", "challenge")),
    "rules": Items("rule", "Rules", RULE, lambda existing: {"on": "", "activityId": ""}),
    "pointsRules": Items(
        "points rule", "Points rules", POINTS_RULE, lambda existing: {"on": "", "points": "", "per": ""}
    ),
    "bonusWindows": Items(
        "bonus window",
        "Bonus windows",
        BONUS_WINDOW,
        lambda existing: {"id": _fresh_id("bonus", existing), "multiplier": "", "startsAt": "", "endsAt": ""},
    ),
    "onCancel": Field(
        "When an order is cancelled or refunded",
        "optional_choice",
        ("keep", "revoke"),
        hint="not set: keep its rewards; revoke: take back its unredeemed rewards",
    ),
    "referrals": Group("Referrals", REFERRALS, key=""),
}
FORM_KEYS = tuple(SCHEMA)  # the document's sections the forms edit; the rest is left as it is


# document → fields ------------------------------------------------------------------------------


def shown(value: Any) -> str:
    """A document value as the text of its field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def form_fields(document: Mapping[str, Any]) -> dict[str, str]:
    """Every field of the forms for `document`, by its path, with its text ("" where the key is absent)."""
    fields: dict[str, str] = {}
    _fields_of(SCHEMA, document, "", fields)
    return fields


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _fields_of(schema: Schema, mapping: Mapping[str, Any], where: str, fields: dict[str, str]) -> None:
    for key, spec in schema.items():
        path, value = _join(where, key), mapping.get(key)
        if isinstance(spec, Field):
            fields[path] = shown(value)
        elif isinstance(spec, Group):
            _fields_of(spec.schema, value if isinstance(value, dict) else {}, path, fields)
        else:
            for index, item in enumerate(value if isinstance(value, list) else []):
                if isinstance(item, dict):
                    _fields_of(spec.schema, item, f"{path}[{index}]", fields)


# fields → document ------------------------------------------------------------------------------

_SEGMENT = re.compile(r"([A-Za-z]{1,40})(?:\[(\d{1,6})\])?")


def _segments(name: str) -> list[tuple[str, int | None]] | None:
    """`streaks[0].milestones[1].name` as [("streaks", 0), ("milestones", 1), ("name", None)]."""
    if len(name) > 200:
        return None
    segments: list[tuple[str, int | None]] = []
    for part in name.split("."):
        found = _SEGMENT.fullmatch(part)
        if found is None:
            return None
        segments.append((found.group(1), int(found.group(2)) if found.group(2) is not None else None))
    return segments


def number(text: str) -> int | float | str:
    """A posted number as a number; what is not one is kept, for the validation to name."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _value(spec: Field, text: str) -> Any:
    """The document's value for a field's posted text; None removes the key."""
    text = text.strip()
    if text == "" and spec.optional:
        return None
    if spec.kind in ("number", "optional_number"):
        return number(text) if text else ""
    if spec.kind == "ids":
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.kind == "flag":
        return FLAGS.get(text, text)
    return text


class _Overlay:
    """Posted fields applied to a working copy; a list grows by at most one item per post."""

    def __init__(self, working: Document) -> None:
        self.working = working
        self.grown: set[int] = set()

    def apply(self, name: str, text: str) -> None:
        segments = _segments(name)
        if segments is None:
            return
        container: Any = self.working
        schema: Schema = SCHEMA
        for position, (key, index) in enumerate(segments):
            spec = schema.get(key)
            last = position == len(segments) - 1
            if spec is None or not isinstance(container, dict):
                return
            if isinstance(spec, Field):
                if last and index is None:
                    value = _value(spec, text)
                    if value is None:
                        container.pop(key, None)
                    else:
                        container[key] = value
                return
            if last:
                return
            if isinstance(spec, Group):
                if index is not None:
                    return
                container = container.setdefault(key, {})
            else:
                if index is None:
                    return
                container = self._item(container, key, index, spec)
            schema = spec.schema

    def _item(self, container: Document, key: str, index: int, spec: Items) -> Any:
        items = container.get(key, [])
        if not isinstance(items, list):
            return None
        if index == len(items) and id(items) not in self.grown:
            container[key] = items
            self.grown.add(id(items))
            items.append(spec.blank(items))
        return items[index] if index < len(items) else None


def _prune(schema: Schema, mapping: Document) -> None:
    """Remove the optional groups left empty (a window with no dates, a reward with no type)."""
    for key, spec in schema.items():
        value = mapping.get(key)
        if isinstance(spec, Group) and isinstance(value, dict):
            _prune(spec.schema, value)
            empty = (
                value.get(spec.key) in (None, "")
                if spec.key
                else all(v in ("", None) for v in value.values())
            )
            if empty:
                del mapping[key]
        elif isinstance(spec, Items) and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _prune(spec.schema, item)


def _list_at(working: Document, path: str, *, item: bool) -> tuple[list[Any], Items, int | None] | None:
    """The list (and its spec) a button's value names: `rules` or `challenges[0].milestones` (for add),
    `rules[2]` (for remove, with the index, which must exist)."""
    segments = _segments(path)
    if segments is None:
        return None
    container: Any = working
    schema: Schema = SCHEMA
    for position, (key, index) in enumerate(segments):
        spec = schema.get(key)
        if not isinstance(container, dict) or spec is None or isinstance(spec, Field):
            return None
        value = container.get(key, [] if isinstance(spec, Items) else {})
        if position == len(segments) - 1:
            if not isinstance(spec, Items) or not isinstance(value, list):
                return None
            if item and (index is None or index >= len(value)):
                return None
            if not item and index is not None:
                return None
            return value, spec, index
        if isinstance(spec, Items):
            if index is None or not isinstance(value, list) or index >= len(value):
                return None
            container = value[index]
        else:
            container = value
        schema = spec.schema
    return None


@dataclass(frozen=True)
class Posted:
    """A post of the forms read: the whole document it makes, what its button did (if any), or why it
    could not be read."""

    document: Document
    action: str = ""  # "added a challenge", "removed streaks[1]": the page's notice
    problem: str = ""


def sections(document: Mapping[str, Any]) -> Document:
    """The parts of a document the forms edit (the hidden working copy)."""
    return {key: document[key] for key in FORM_KEYS if key in document}


def working_copy(current: Document, posted: str | None) -> Document:
    """The posted working copy of the forms' sections, else the current document's; ProgramInvalid when
    the posted one is not a mapping within a program's limits."""
    if posted is None:
        return copy.deepcopy(sections(current))
    if len(posted) > MAX_FORM_CHARS:
        raise ProgramInvalid([{"path": "(form)", "message": "the form's working copy is too large"}])
    loaded = load_document(posted)
    if not isinstance(loaded, dict):
        raise ProgramInvalid([{"path": "(form)", "message": "the form's working copy is not a mapping"}])
    return sections(loaded)


def merged(current: Mapping[str, Any], working: Mapping[str, Any]) -> Document:
    """The current document with the forms' sections replaced by the working copy's, in the current
    document's key order; the rest (templates, themes, floating widgets, ...) as it is."""
    document: Document = {}
    for key, value in current.items():
        if key not in FORM_KEYS:
            document[key] = value
        elif key in working:
            document[key] = working[key]
    for key in FORM_KEYS:
        if key in working and key not in document:
            document[key] = working[key]
    return document


def read_post(current: Document, form: Mapping[str, str]) -> Posted:
    """The document a post of the forms makes from the `current` one (the draft or the live program)."""
    if len(form) > MAX_FIELDS or sum(len(k) + len(v) for k, v in form.items()) > MAX_FORM_CHARS:
        return Posted(
            current,
            problem=f"the form is too large: at most {MAX_FIELDS} fields, {MAX_FORM_CHARS} characters",
        )
    try:
        working = working_copy(current, form.get("document"))
    except ProgramInvalid as exc:
        return Posted(current, problem=exc.problems[0]["message"])
    overlay = _Overlay(working)
    for name, text in form.items():
        if name not in CONTROL_FIELDS:
            overlay.apply(name, text)
    _prune(SCHEMA, working)
    action = _button(working, form.get("add"), form.get("remove"))
    return Posted(merged(current, working), action=action)


def _button(working: Document, add: str | None, remove: str | None) -> str:
    """Apply the add or remove button's change to the working copy; what it did, for the notice."""
    if add is not None:
        found = _list_at(working, add, item=False)
        if found is not None:
            items, spec, _ = found
            items.append(spec.blank(items))
            _attach(working, add, items)
            return f"Added a {spec.label} ({add}[{len(items) - 1}]): fill it in, then save the draft."
    if remove is not None:
        found = _list_at(working, remove, item=True)
        if found is not None:
            items, spec, index = found
            del items[index or 0]
            return f"Removed the {spec.label} {remove}: save the draft to keep the change."
    return ""


def _attach(working: Document, path: str, items: list[Any]) -> None:
    """Put a list `_list_at` made up (the key was absent) into its place."""
    segments = _segments(path) or []
    container: Any = working
    for key, index in segments[:-1]:
        container = container[key] if index is None else container[key][index]
    container.setdefault(segments[-1][0], items)


def as_json(document: Mapping[str, Any]) -> str:
    """The hidden working copy: the forms' sections of `document`."""
    return json.dumps(sections(document), ensure_ascii=False, default=str)
