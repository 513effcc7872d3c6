"""The Storefront page's domain (the seed's "Configuration" page): which template, theme and floating
widget the site's widget shows, their editors, and whether the widget is on the site at all.

The choice: the three ids, each one of the site's own (the live programme's items, and the built-in
`default`), stored per site (worker/store/storefront_choice.py) and sent to Wix with Embed Script by the
install task (worker/installs/lifecycle.py), queued through the instance's outbox in the same MULTI as the
choice: a lost send is relayed. The switch sends `disabled: true` (or `false` again) the same way.

The editors change the programme document's `templates`, `themes` and `floatingWidgets`. A Save must make
them live for the widget without publishing a merchant's pending programme draft, so it publishes a NEW
VERSION that is the live document with only those sections replaced (noted "Storefront: ..."), and
writes the same sections into the draft, when there is one, so publishing it later does not undo them
(`program_versions.publish_sections`, one MULTI). An edit that changes nothing publishes nothing.

Each posted field is named by where it goes (`template.copy.de.title`, `theme.colors.text`,
`floatingWidget.label`); a refused Save answers 422 with each problem by its field and saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from math import floor
from typing import Any, get_args

import redis
from pydantic import BaseModel, ValidationError

from worker.console.programme import live_document
from worker.console.storefront_sample import sample_member
from worker.dispatch import Dispatcher
from worker.engine.program import ProgramInvalid
from worker.engine.storefront import (
    BUILT_IN_COPY,
    CONTRAST_PAIRS,
    COPY_KEYS,
    DEFAULT_ID,
    WCAG_AA_NORMAL_TEXT,
    FloatingWidget,
    Template,
    Theme,
    ThemeColors,
    UnknownResource,
    contrast_ratio,
    find_floating_widget,
    find_template,
    find_theme,
    storefront_problems,
)
from worker.installs.lifecycle import install_intent, send_on_installed
from worker.store import program_versions, storefront_choice
from worker.store.progress import NoProgram, ProgressStore
from worker.store.storefront_choice import StorefrontChoice

LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
COLOR_NAMES = tuple(ThemeColors.model_fields)
POSITIONS: tuple[str, ...] = get_args(FloatingWidget.model_fields["position"].annotation)
ICONS: tuple[str, ...] = get_args(FloatingWidget.model_fields["icon"].annotation)
KINDS = {"templates": "template", "themes": "theme", "floatingWidgets": "floatingWidget"}
CHOICE_FIELDS = {"templateId": "templates", "themeId": "themes", "floatingWidgetId": "floatingWidgets"}
MAX_FORM_FIELDS = 2000  # 25 copy keys for many locales; more is not a form of ours


@dataclass(frozen=True)
class Outcome:
    """What a POST did: a notice, or the problems by field (nothing saved) with a 4xx."""

    notice: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class Options:
    """The site's own items of each kind: the live programme's ids, and `default` (built-in or its own)."""

    templates: list[str]
    themes: list[str]
    floatingWidgets: list[str]


@dataclass(frozen=True)
class Editing:
    """What the page shows: the ids chosen (saved, or picked in the selects and not yet saved), the
    editors' values by field name, the template's locales, and whether the widget is on the site."""

    choice: StorefrontChoice
    values: dict[str, str]
    locales: list[str]
    options: Options


def _items(document: Mapping[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    found = (document or {}).get(kind) or []
    return [item for item in found if isinstance(item, dict) and isinstance(item.get("id"), str)]


def options(document: Mapping[str, Any] | None) -> Options:
    def ids(kind: str) -> list[str]:
        own = [item["id"] for item in _items(document, kind)]
        return own if DEFAULT_ID in own else [DEFAULT_ID, *own]

    return Options(ids("templates"), ids("themes"), ids("floatingWidgets"))


def _models(document: Mapping[str, Any] | None, kind: str, model: type[BaseModel]) -> list[Any]:
    """The live programme's items of a kind as models (an item that no longer validates is left out)."""
    models = []
    for item in _items(document, kind):
        try:
            models.append(model.model_validate(item))
        except ValidationError:
            continue
    return models


def chosen_items(
    document: Mapping[str, Any] | None, choice: StorefrontChoice
) -> tuple[Template, Theme, FloatingWidget]:
    """The chosen items (a built-in `default` when the programme has none); an id the programme no
    longer has gives `default`."""

    def pick(find: Any, kind: str, model: type[BaseModel], wanted: str) -> Any:
        items = _models(document, kind, model)
        try:
            return find(items, wanted)
        except UnknownResource:
            return find(items, DEFAULT_ID)

    return (
        pick(find_template, "templates", Template, choice.templateId),
        pick(find_theme, "themes", Theme, choice.themeId),
        pick(find_floating_widget, "floatingWidgets", FloatingWidget, choice.floatingWidgetId),
    )


def editor_values(template: Template, theme: Theme, widget: FloatingWidget) -> dict[str, str]:
    """The editors' fields for these items, by field name."""
    values = {
        "template.id": template.id,
        "template.defaultLocale": template.defaultLocale,
        "theme.id": theme.id,
    }
    for locale, copy in template.copy_.items():
        for key, text in copy.given().items():
            values[f"template.copy.{locale}.{key}"] = text
    for name, color in theme.colors.model_dump().items():
        values[f"theme.colors.{name}"] = color
    values.update(
        {
            "floatingWidget.id": widget.id,
            "floatingWidget.position": widget.position,
            "floatingWidget.icon": widget.icon,
            "floatingWidget.label": widget.label,
        }
    )
    return values


def posted_locales(form: Mapping[str, str]) -> list[str]:
    """The template locales a posted form has fields for, in order, and the one it adds."""
    locales: list[str] = []
    for name in form:
        if name.startswith("template.copy."):
            locale = name.removeprefix("template.copy.").rsplit(".", 1)[0]
            if locale not in locales:
                locales.append(locale)
    added = form.get("template.newLocale", "").strip()
    if added and added not in locales:
        locales.append(added)
    return locales


def editing(client: redis.Redis, instance_id: str, picked: Mapping[str, str] | None = None) -> Editing:
    """The page's state: the saved choice, or the ids picked in the selects (not saved) when they are
    the site's own, and the editors' values for those items (with theme fields being tried, so the
    contrast beside a colour follows it before a Save)."""
    document = live_document(client, instance_id)
    saved, known = storefront_choice.get(client, instance_id), options(document)
    wanted: dict[str, Any] = {
        name: value
        for name, value in (picked or {}).items()
        if name in CHOICE_FIELDS and value in getattr(known, CHOICE_FIELDS[name])
    }
    choice = replace(saved, **wanted)
    template, theme, widget = chosen_items(document, choice)
    values = editor_values(template, theme, widget)
    # colours being tried (the theme editor asks for its contrast before a Save)
    values.update(
        {name: text for name, text in (picked or {}).items() if name in values and name.startswith("theme.")}
    )
    return Editing(choice, values, list(template.copy_), known)


def sample_for(client: redis.Redis, instance_id: str, now: datetime) -> dict[str, Any]:
    """The preview's sample member over the site's live programme (none: no streaks or challenges)."""
    try:
        program = ProgressStore(client).program(instance_id)
    except (NoProgram, ProgramInvalid):
        program = None
    return sample_member(program, instance_id, now)


def preview_locales(editing: Editing) -> list[str]:
    """The locales the preview offers: the template's own (the built-in template's are English, German)."""
    return editing.locales or list(BUILT_IN_COPY)


def contrasts(values: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
    """Beside each foreground colour field: its contrast with its background, and whether it passes."""
    shown: dict[str, tuple[str, bool]] = {}
    for foreground, background in CONTRAST_PAIRS:
        front, back = (
            values.get(f"theme.colors.{foreground}", ""),
            values.get(f"theme.colors.{background}", ""),
        )
        if COLOR.fullmatch(front) and COLOR.fullmatch(back):
            ratio = contrast_ratio(front, back)
            text = (
                f"Contrast with {background}: {floor(ratio * 100) / 100}:1 (at least {WCAG_AA_NORMAL_TEXT}:1)"
            )
            shown[f"theme.colors.{foreground}"] = (text, ratio >= WCAG_AA_NORMAL_TEXT)
    return shown


# --- Saving --------------------------------------------------------------------------------------------


def _field_of(prefix: str, location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part != "[key]"]
    return ".".join([prefix, *parts])


def _validated(model: type[BaseModel], data: dict[str, Any], prefix: str, problems: dict[str, str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.setdefault(_field_of(prefix, error["loc"]), error["msg"])
        return None


def _posted_template(form: Mapping[str, str], problems: dict[str, str]) -> Template | None:
    added = form.get("template.newLocale", "").strip()
    if added and not LOCALE.fullmatch(added):
        problems["template.newLocale"] = "a language tag such as fr or de-AT"
    copy: dict[str, dict[str, str]] = {}
    for locale in posted_locales(form):
        if locale == added and not LOCALE.fullmatch(added):
            continue
        given = {key: form.get(f"template.copy.{locale}.{key}", "").strip() for key in COPY_KEYS}
        copy[locale] = {key: text for key, text in given.items() if text}
    data = {
        "id": form.get("template.id", "").strip(),
        "defaultLocale": form.get("template.defaultLocale", "").strip(),
        "copy": copy,
    }
    return _validated(Template, data, "template", problems)  # type: ignore[no-any-return]


def _posted_theme(base: Theme, form: Mapping[str, str], problems: dict[str, str]) -> Theme | None:
    colors = {name: form.get(f"theme.colors.{name}", "").strip() for name in COLOR_NAMES}
    data = {**base.model_dump(), "id": form.get("theme.id", "").strip(), "colors": colors}
    return _validated(Theme, data, "theme", problems)  # type: ignore[no-any-return]


def _posted_widget(
    base: FloatingWidget, form: Mapping[str, str], problems: dict[str, str]
) -> FloatingWidget | None:
    given = {
        name: form.get(f"floatingWidget.{name}", "").strip() for name in ("id", "position", "icon", "label")
    }
    return _validated(FloatingWidget, {**base.model_dump(), **given}, "floatingWidget", problems)  # type: ignore[no-any-return]


def posted_items(
    document: Mapping[str, Any] | None, form: Mapping[str, str]
) -> tuple[tuple[Template, Theme, FloatingWidget] | None, dict[str, str]]:
    """The three items the editors describe (each on the one it was opened on, for the fields a form
    does not edit), or the problems by field."""
    problems: dict[str, str] = {}
    known = options(document)
    picked: dict[str, Any] = {}
    for name, kind in CHOICE_FIELDS.items():
        picked[name] = form.get(name, DEFAULT_ID)
        if picked[name] not in getattr(known, kind):
            problems[name] = "is not one of the site's own: pick one from the list"
    _, base_theme, base_widget = chosen_items(document, StorefrontChoice(**picked))
    template = _posted_template(form, problems)
    theme = _posted_theme(base_theme, form, problems)
    widget = _posted_widget(base_widget, form, problems)
    if template is not None and theme is not None and widget is not None:
        for path, message in storefront_problems([template], [theme], [widget]):
            for kind, prefix in KINDS.items():
                path = path.replace(f"{kind}[0]", prefix)
            problems.setdefault(path, message)
    if problems or template is None or theme is None or widget is None:
        return None, problems
    return (template, theme, widget), problems


def changed_sections(
    document: Mapping[str, Any] | None, items: tuple[Template, Theme, FloatingWidget]
) -> dict[str, list[dict[str, Any]]]:
    """The sections an edit changes: each edited item put in its list (replacing the one with its id),
    for the items that differ from what the widget shows for that id today."""
    template, theme, widget = items
    current = chosen_items(document, StorefrontChoice(template.id, theme.id, widget.id))
    sections: dict[str, list[dict[str, Any]]] = {}
    pairs: list[tuple[str, Template | Theme | FloatingWidget, Template | Theme | FloatingWidget]] = list(
        zip(KINDS, items, current, strict=True)
    )
    for kind, edited, now in pairs:
        if edited.id == now.id and edited == now:
            continue
        item = edited.model_dump(by_alias=True, exclude_none=True)
        others = [own for own in _items(document, kind) if own["id"] != edited.id]
        sections[kind] = [*others, item]
    return sections


def save(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, form: Mapping[str, str], who: str
) -> Outcome:
    """Validate the editors; publish the changed sections (as the module docstring says); store the
    choice (the edited items' ids) and queue Embed Script with it. Nothing is saved when refused."""
    if len(form) > MAX_FORM_FIELDS:
        return Outcome(problems={"(form)": f"at most {MAX_FORM_FIELDS} fields"}, status=422)
    document = live_document(client, instance_id)
    items, problems = posted_items(document, form)
    if items is None:
        return Outcome(problems=problems, status=422)
    template, theme, widget = items
    sections, published = changed_sections(document, items), ""
    if sections:
        note = f"Storefront: template {template.id}, theme {theme.id}, floating widget {widget.id}"
        try:
            summary = program_versions.publish_sections(client, instance_id, sections, who=who, note=note)
        except ProgramInvalid as exc:
            return Outcome(problems={p["path"]: p["message"] for p in exc.problems}, status=422)
        published = f" Version {summary['version']} of the programme is live with them."
    saved = storefront_choice.get(client, instance_id)
    choice = StorefrontChoice(template.id, theme.id, widget.id, saved.shown)
    _send(client, follow_ups, instance_id, choice, who)
    return Outcome(
        f"Saved: template {template.id}, theme {theme.id}, floating widget {widget.id}.{published} "
        "The site's widget is being updated."
    )


def set_shown(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, shown: bool, who: str
) -> Outcome:
    """The switch: the widget on the site (Embed Script `disabled: false`) or off it (`true`)."""
    choice = replace(storefront_choice.get(client, instance_id), shown=shown)
    _send(client, follow_ups, instance_id, choice, who)
    return Outcome(
        "The widget is being put on your site." if shown else "The widget is being taken off your site."
    )


def _send(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, choice: StorefrontChoice, who: str
) -> None:
    """Commit the choice with the install task's intent, then send the task (a lost send is relayed)."""
    storefront_choice.save(client, instance_id, choice, who, intents=[install_intent(instance_id)])
    send_on_installed(follow_ups, instance_id)
