"""`wix-app/`: the app's extensions as a self-hoster registers them in Wix's Dev Center, and their check.

- `app.json`: the extensions in one place (webhooks and their event types, the action provider's base
  URI and its actions, the triggers' folder, the embedded script, the dashboard page, the permissions).
- `actions/{actionKey}.json`: name, action key, description, input and output JSON Schemas (draft-07;
  wix-facts.md §5.1), each with `examples`.
- `triggers/{triggerKey}.json`: name, trigger key, description and the payload schema, which must
  follow Wix's rules (wix-facts.md §5.2).
- the embedded script (wix-facts.md §6.1): `{{placeholders}}` only inside HTML attribute values,
  exactly the parameters the service embeds it with, none of them secret-looking.

`check(root)` answers every problem as one `Problem` (file, JSON path, message); the code decides what
"agrees with the code" means: the action keys `worker/web/wix_actions.py` serves, the parameters it
accepts (each input example goes through its own parsing), the answers it documents (each must fit the
output schema), the routes the receiver and the actions are mounted on, the event types
`worker/wix/envelope.py` handles. The real answers are checked against the output schemas by the tests.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import SchemaError

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "wix-app"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
BASE_URL = "{PUBLIC_BASE_URL}"
INVOKE_PATH = "/v1/invoke"  # under the action provider's base URI (wix-facts.md §5.1, §8)
PLACEMENTS = ("HEAD", "BODY_START", "BODY_END")
SCRIPT_TYPES = ("ESSENTIAL", "FUNCTIONAL", "ANALYTICS", "ADVERTISING")
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})
PAYLOAD_KEY = re.compile(r"[A-Za-z0-9_]+")
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
SECRET_LOOKING = re.compile(
    r"secret|token|passw|api_?key|private|credential|signature|session|whsec", re.IGNORECASE
)
EMBEDDED_SCRIPT_MODULE = "worker.installs.embedded_script"
_CALL = re.compile(r"(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9._~/{}-]*)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: in which file, where in it (a JSON path, `$` for the whole file), and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


@dataclass(frozen=True)
class EmbeddedScript:
    """What the install code says about the embedded script (`worker.installs.embedded_script`)."""

    script_path: Path
    placeholders: Callable[[str], set[str]]
    embed_parameters: Callable[[Any], Mapping[str, str]]


def load_embedded_script() -> EmbeddedScript | None:
    """The install code's view of the embedded script, or None while that module is not there."""
    import importlib

    try:
        module = importlib.import_module(EMBEDDED_SCRIPT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and EMBEDDED_SCRIPT_MODULE.startswith(exc.name):
            return None
        raise
    return EmbeddedScript(Path(module.SCRIPT_PATH), module.placeholders, module.embed_parameters)


@dataclass
class Report:
    """The problems found, and what could not be checked (and why)."""

    problems: list[Problem] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)


# -- JSON files ----------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def read_json(path: Path) -> Any:
    """A JSON file's value; ValueError says why it is not one (a duplicate key included)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise ValueError(f"the key {exc.args[0]!r} appears twice in one object") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _at(path: str, *parts: str | int) -> str:
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


# -- JSON Schema -----------------------------------------------------------------------------------------


def _date_time(value: object) -> bool:
    """As worker.progress.record.parse_moment reads a time: ISO-8601 with its offset."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return len(value) == 36 and str(uuid.UUID(value)) == value.lower()


def _checkers() -> FormatChecker:
    """Draft-07's formats that matter here, checked as the code checks them."""
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_date_time)
    checker.checks("uuid", raises=ValueError)(_uuid)
    return checker


FORMATS = _checkers()


def schema_errors(schema: Any, value: Any) -> Iterator[tuple[str, str]]:
    """Where and why `value` does not fit `schema` (a JSON path inside the value, and the message)."""
    validator = Draft7Validator(schema, format_checker=FORMATS)
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        yield error.json_path, error.message


def _schema_problems(file: str, path: str, schema: Any) -> list[Problem]:
    """A schema that Wix can take: an object, draft-07, valid against draft-07's meta-schema."""
    if not isinstance(schema, dict):
        return [Problem(file, path, "must be a JSON Schema (an object)")]
    problems = []
    if schema.get("$schema") != DRAFT_07:
        problems.append(Problem(file, _at(path, "$schema"), f"must be {DRAFT_07!r} (Wix takes draft-07)"))
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        where = path + exc.json_path.removeprefix("$")
        problems.append(Problem(file, where, f"not a valid draft-07 schema: {exc.message}"))
    return problems


def _examples_problems(file: str, path: str, schema: dict[str, Any]) -> tuple[list[Problem], list[Any]]:
    examples = schema.get("examples")
    if not isinstance(examples, list) or not examples:
        return [Problem(file, _at(path, "examples"), "needs at least one example")], []
    problems = [
        Problem(file, _at(path, "examples", index) + where.removeprefix("$"), message)
        for index, example in enumerate(examples)
        for where, message in schema_errors(schema, example)
    ]
    return problems, examples


def _text(file: str, document: Mapping[str, Any], name: str, path: str = "$") -> list[Problem]:
    value = document.get(name)
    if isinstance(value, str) and value.strip():
        return []
    return [Problem(file, _at(path, name), "is required (a non-empty string)")]


# -- Actions -----------------------------------------------------------------------------------------------


def _invocation_claims(action_key: str, params: Any) -> dict[str, Any]:
    """The decoded token of an action call, as Wix sends it (wix-facts.md §5.1)."""
    request = {"actionKey": action_key, "actionParams": params, "activationContext": {}}
    return {"data": {"request": request, "metadata": {"requestId": "check", "instanceId": "check"}}}


def code_action_keys() -> list[str]:
    """The action keys the invoke route serves, as it lists them when refusing an unknown one."""
    from worker.web.errors import ApiError
    from worker.web.wix_actions import parse_invocation

    try:
        parse_invocation(_invocation_claims("?", {}))
    except ApiError as exc:
        if exc.code == "unknown_action":
            return list(exc.details["known"])
        raise
    raise AssertionError("the invoke route took the action key '?'")


def code_refusal(action_key: str, params: dict[str, Any]) -> str | None:
    """Why the invoke route would refuse these `actionParams`, or None. Its own parsing does the work:
    `_action` checks everything it can without Redis and hands back the work itself, not done here."""
    from worker.engine.logs import LogRejected
    from worker.web.errors import ApiError
    from worker.web.wix_actions import _action, parse_invocation

    try:
        _action(parse_invocation(_invocation_claims(action_key, params)), _NO_FOLLOW_UPS)
    except ApiError as exc:
        return exc.message
    except LogRejected as exc:
        return str(exc)
    return None


class _NoFollowUps:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the check sends nothing ({name})")


_NO_FOLLOW_UPS: Any = _NoFollowUps()


def documented_results() -> dict[str, list[Any]]:
    """The answers the invoke route's OpenAPI documents, by action key."""
    from worker.web.wix_actions_openapi import INVOKE_DOCS

    examples = INVOKE_DOCS["responses"][200]["content"]["application/json"]["examples"]
    return {key: [example["value"]["result"]] for key, example in examples.items()}


def check_action(file: str, document: Any, stem: str) -> list[Problem]:
    """One action file: its fields, its two schemas, their examples, and what the code makes of them."""
    if not isinstance(document, dict):
        return [Problem(file, "$", "must be an object")]
    problems = [*_text(file, document, "name"), *_text(file, document, "description")]
    action_key = document.get("actionKey")
    if action_key != stem:
        problems.append(Problem(file, "$.actionKey", f"must be {stem!r}, the file's name"))
    if action_key not in code_action_keys():
        known = ", ".join(code_action_keys())
        problems.append(Problem(file, "$.actionKey", f"{action_key!r} is not served by the code ({known})"))
        return problems
    for name in ("inputSchema", "outputSchema"):
        schema = document.get(name)
        found = _schema_problems(file, f"$.{name}", schema)
        problems += found
        if found:
            continue
        assert isinstance(schema, dict)
        if schema.get("type") != "object":
            problems.append(Problem(file, f"$.{name}.type", "must be 'object'"))
        example_problems, examples = _examples_problems(file, f"$.{name}", schema)
        problems += example_problems
        if name == "inputSchema":
            problems += _input_problems(file, schema, action_key, examples)
        else:
            problems += [
                Problem(file, f"$.{name}", f"the code's documented answer does not fit: {where}: {message}")
                for result in documented_results().get(action_key, [])
                for where, message in schema_errors(schema, result)
            ]
    return problems


def _input_problems(file: str, schema: dict[str, Any], action_key: str, examples: list[Any]) -> list[Problem]:
    """What Wix renders as the configuration form: every field titled and typed, and the code takes
    every example."""
    problems = []
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [Problem(file, "$.inputSchema.properties", "must list the action's fields")]
    for name, prop in properties.items():
        for keyword in ("title", "type"):
            if not isinstance(prop, dict) or keyword not in prop:
                problems.append(Problem(file, f"$.inputSchema.properties.{name}", f"needs a {keyword}"))
    for name in schema.get("required", []):
        if name not in properties:
            problems.append(Problem(file, "$.inputSchema.required", f"{name!r} is not a property"))
    for index, example in enumerate(examples):
        if (refusal := code_refusal(action_key, example)) is not None:
            problems.append(
                Problem(file, f"$.inputSchema.examples[{index}]", f"the code refuses it: {refusal}")
            )
    if examples and isinstance(examples[0], dict) and not problems:
        problems += _fields_problems(file, schema, action_key, examples[0])
    return problems


def _fields_problems(
    file: str, schema: dict[str, Any], action_key: str, example: dict[str, Any]
) -> list[Problem]:
    """The form's fields are the ones the code reads (it refuses a field of the wrong shape, naming it),
    and every field the code cannot do without is required (so Wix asks for it)."""
    problems = []
    required = schema.get("required", [])
    for name in schema["properties"]:
        where = f"$.inputSchema.properties.{name}"
        refusal = code_refusal(action_key, {**example, name: {"not": "a value"}})
        if refusal is None or name not in refusal:
            problems.append(Problem(file, where, "the code does not read this field"))
        without = {key: value for key, value in example.items() if key != name}
        if name not in required and code_refusal(action_key, without) is not None:
            problems.append(Problem(file, "$.inputSchema.required", f"the code needs {name!r}: require it"))
    return problems


# -- Triggers ------------------------------------------------------------------------------------------------


def check_trigger(file: str, document: Any, stem: str) -> list[Problem]:
    """One trigger file: name, key, description, and a payload schema that follows wix-facts.md §5.2."""
    if not isinstance(document, dict):
        return [Problem(file, "$", "must be an object")]
    problems = [*_text(file, document, "name"), *_text(file, document, "description")]
    if document.get("triggerKey") != stem:
        problems.append(Problem(file, "$.triggerKey", f"must be {stem!r}, the file's name"))
    schema = document.get("payloadSchema")
    found = _schema_problems(file, "$.payloadSchema", schema)
    if found:
        return problems + found
    assert isinstance(schema, dict)
    return problems + payload_schema_problems(file, "$.payloadSchema", schema)


def payload_schema_problems(file: str, path: str, schema: dict[str, Any]) -> list[Problem]:
    """Wix's rules for a trigger's payload schema (wix-facts.md §5.2)."""
    problems = []
    if schema.get("type") != "object":
        problems.append(Problem(file, _at(path, "type"), "the payload's root must be type 'object'"))
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [*problems, Problem(file, _at(path, "properties"), "the payload needs properties")]
    problems += _key_problems(file, _at(path, "properties"), properties)
    for name, prop in properties.items():
        where = _at(path, "properties", name)
        if not isinstance(prop, dict):
            problems.append(Problem(file, where, "must be a schema (an object)"))
            continue
        for keyword in ("title", "type", "examples"):
            if keyword not in prop:
                problems.append(Problem(file, where, f"a first-level property needs {keyword!r}"))
        problems += _nested_problems(file, where, prop)
        if isinstance(prop.get("examples"), list):
            for index, example in enumerate(prop["examples"]):
                problems += [
                    Problem(file, _at(where, "examples", index), f"does not fit the property: {message}")
                    for _, message in schema_errors(prop, example)
                ]
    problems += _contact_problems(file, path, properties)
    return problems


def _key_problems(file: str, path: str, properties: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for name, prop in properties.items():
        if not PAYLOAD_KEY.fullmatch(name) or name.startswith("_"):
            problems.append(
                Problem(file, _at(path, name), "a payload key must be [A-Za-z0-9_] and not start with _")
            )
        if isinstance(prop, dict):
            if isinstance(prop.get("properties"), dict):
                problems += _key_problems(file, _at(path, name, "properties"), prop["properties"])
            items = prop.get("items")
            if isinstance(items, dict) and isinstance(items.get("properties"), dict):
                problems += _key_problems(file, _at(path, name, "items", "properties"), items["properties"])
    return problems


def _nested_problems(file: str, path: str, prop: dict[str, Any]) -> list[Problem]:
    """Arrays only of objects; below the first level, only scalar properties."""
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items")
        if not isinstance(items, dict) or items.get("type") != "object":
            return [Problem(file, _at(path, "items"), "an array in a payload must be an array of objects")]
        return _scalars_only(file, _at(path, "items"), items)
    if kind == "object":
        return _scalars_only(file, path, prop)
    if isinstance(kind, list):
        return [Problem(file, _at(path, "type"), "must be one type, not a list")]
    return []


def _scalars_only(file: str, path: str, schema: dict[str, Any]) -> list[Problem]:
    nested = schema.get("properties")
    if not isinstance(nested, dict):
        return [Problem(file, _at(path, "properties"), "a nested object needs its properties")]
    return [
        Problem(file, _at(path, "properties", name), "a nested property must be a scalar type")
        for name, sub in nested.items()
        if not isinstance(sub, dict) or sub.get("type") not in SCALAR_TYPES
    ]


def _contact_problems(file: str, path: str, properties: Mapping[str, Any]) -> list[Problem]:
    """Exactly one `contactId`, a string with `format: uuid` (the property Wix connects to the contact)."""
    problems = []
    contact = properties.get("contactId")
    where = _at(path, "properties", "contactId")
    if not isinstance(contact, dict):
        problems.append(Problem(file, _at(path, "properties"), "needs a 'contactId' (format uuid)"))
    elif contact.get("type") != "string" or contact.get("format") != "uuid":
        problems.append(Problem(file, where, "must be type 'string' with format 'uuid'"))
    for name, prop in properties.items():
        if name != "contactId" and isinstance(prop, dict) and prop.get("identityType") == "contact":
            problems.append(
                Problem(file, _at(path, "properties", name), "only contactId is connected to the contact")
            )
    return problems


# -- Embedded script -----------------------------------------------------------------------------------------


class _AttributeValues(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values += [value for _, value in attrs if value]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def placeholders_outside_attributes(html: str) -> list[str]:
    """The `{{placeholders}}` that sit anywhere but inside an HTML attribute value (Wix fills only those)."""
    parser = _AttributeValues()
    parser.feed(html)
    parser.close()
    inside: dict[str, int] = {}
    for value in parser.values:
        for name in PLACEHOLDER.findall(value):
            inside[name] = inside.get(name, 0) + 1
    outside = []
    for name in PLACEHOLDER.findall(html):
        if inside.get(name, 0) > 0:
            inside[name] -= 1
        else:
            outside.append(name.strip())
    return outside


def check_embedded_script(
    file: str, html: str, script: EmbeddedScript | None, secrets: Iterable[str] = ()
) -> list[Problem]:
    """Placeholders only in attribute values, exactly the parameters the service embeds, none secret."""
    problems = [
        Problem(file, "$", f"{{{{{name}}}}} is outside an HTML attribute value (Wix fills only those)")
        for name in placeholders_outside_attributes(html)
    ]
    names = script.placeholders(html) if script else {name.strip() for name in PLACEHOLDER.findall(html)}
    problems += [
        Problem(file, "$", f"the parameter {name!r} looks secret: every visitor can read it")
        for name in sorted(names)
        if SECRET_LOOKING.search(name)
    ]
    if script is None:
        return problems
    parameters = script.embed_parameters(None)
    if missing := sorted(names - set(parameters)):
        problems.append(Problem(file, "$", f"embed_parameters() does not give {', '.join(missing)}"))
    if extra := sorted(set(parameters) - names):
        problems.append(
            Problem(file, "$", f"embed_parameters() gives {', '.join(extra)}, not in the script (Wix: 400)")
        )
    known_secrets = {secret for secret in secrets if secret}
    for name, value in sorted(parameters.items()):
        if not isinstance(value, str):
            problems.append(Problem(file, "$", f"the parameter {name!r} must be a string (Wix: strings)"))
        elif value in known_secrets:
            problems.append(Problem(file, "$", f"the parameter {name!r} holds one of the service's secrets"))
    return problems


# -- app.json ------------------------------------------------------------------------------------------------


def code_routes() -> dict[str, str]:
    """Where the code mounts what Wix calls: the webhook receiver and the action provider's invoke."""
    from fastapi.routing import APIRoute

    from worker.web import receiver, wix_actions

    def only(router: Any) -> str:
        paths = [route.path for route in router.routes if isinstance(route, APIRoute)]
        return str(paths[0])

    return {"webhooks": only(receiver.router), "invoke": only(wix_actions.router)}


def code_event_types() -> frozenset[str]:
    from worker.wix.envelope import HANDLED_EVENT_TYPES

    return HANDLED_EVENT_TYPES


def _part(file: str, app: dict[str, Any], name: str, problems: list[Problem]) -> dict[str, Any]:
    """`app[name]`, an object; {} (and a problem) when it is not one."""
    value = app.get(name)
    if isinstance(value, dict):
        return value
    problems.append(Problem(file, f"$.{name}", "must be an object"))
    return {}


def _url_problems(file: str, path: str, url: Any, expected_path: str | None = None) -> list[Problem]:
    if not isinstance(url, str) or not url.startswith(BASE_URL + "/"):
        return [Problem(file, path, f"must be a URL under {BASE_URL}/")]
    if expected_path is not None and url.removeprefix(BASE_URL) != expected_path:
        return [Problem(file, path, f"must be {BASE_URL}{expected_path} (where the code serves it)")]
    return []


def check_app(file: str, app: Any, action_files: list[str]) -> list[Problem]:
    """app.json: every extension named, its URLs where the code serves them, its permissions explained."""
    if not isinstance(app, dict):
        return [Problem(file, "$", "must be an object")]
    problems = [*_text(file, app, "name"), *_text(file, app, "description")]
    routes = code_routes()
    webhooks = _part(file, app, "webhooks", problems)
    problems += _url_problems(file, "$.webhooks.url", webhooks.get("url"), routes["webhooks"])
    events = webhooks.get("events")
    if not isinstance(events, list):
        problems.append(Problem(file, "$.webhooks.events", "must list the event types"))
        events = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            problems.append(Problem(file, f"$.webhooks.events[{index}]", "must be an object"))
            continue
        problems += [*_text(file, event, "eventType", f"$.webhooks.events[{index}]")]
        problems += [*_text(file, event, "name", f"$.webhooks.events[{index}]")]
    listed = {event.get("eventType") for event in events if isinstance(event, dict)}
    handled = code_event_types()
    if missing := sorted(handled - listed):
        problems.append(
            Problem(file, "$.webhooks.events", f"missing {', '.join(missing)} (worker/wix/envelope.py)")
        )
    if extra := sorted(str(event) for event in listed - handled):
        problems.append(
            Problem(file, "$.webhooks.events", f"{', '.join(extra)}: not handled by worker/wix/envelope.py")
        )
    problems += _provider_problems(file, app.get("actionProvider"), routes["invoke"], action_files)
    problems += _script_problems(file, app.get("embeddedScript"))
    page = _part(file, app, "dashboardPage", problems)
    problems += _text(file, page, "name", "$.dashboardPage")
    problems += _url_problems(file, "$.dashboardPage.url", page.get("url"))
    problems += _permission_problems(file, app.get("permissions"))
    problems += _settings_problems(file, _part(file, app, "oauth", problems).get("settings"))
    if _part(file, app, "triggers", problems).get("directory") != "triggers":
        problems.append(Problem(file, "$.triggers.directory", "must be 'triggers'"))
    return problems


def _settings_problems(file: str, settings: Any) -> list[Problem]:
    """The service's settings a self-hoster fills in from the Dev Center, each a real setting."""
    from worker.settings import Settings

    if not isinstance(settings, dict):
        return [Problem(file, "$.oauth.settings", "must map each setting to where its value comes from")]
    problems = [
        Problem(file, f"$.oauth.settings.{name}", "is not a setting of worker/settings.py")
        for name in settings
        if name.lower() not in Settings.model_fields
    ]
    problems += [
        Problem(file, "$.oauth.settings", f"must name {name}")
        for name in ("WIX_APP_ID", "WIX_APP_SECRET", "WIX_PUBLIC_KEY", "PUBLIC_BASE_URL")
        if name not in settings
    ]
    problems += [problem for name in settings for problem in _text(file, settings, name, "$.oauth.settings")]
    return problems


def _provider_problems(file: str, provider: Any, invoke: str, action_files: list[str]) -> list[Problem]:
    if not isinstance(provider, dict):
        return [Problem(file, "$.actionProvider", "must describe the action provider extension")]
    problems = _text(file, provider, "name", "$.actionProvider")
    base = provider.get("baseUri")
    if not invoke.endswith(INVOKE_PATH):
        problems.append(
            Problem(file, "$.actionProvider.baseUri", f"the code serves {invoke}, not .../v1/invoke")
        )
    else:
        problems += _url_problems(file, "$.actionProvider.baseUri", base, invoke.removesuffix(INVOKE_PATH))
    actions = provider.get("actions")
    if not isinstance(actions, list) or sorted(map(str, actions)) != sorted(action_files):
        problems.append(
            Problem(
                file, "$.actionProvider.actions", f"must list the action files: {', '.join(action_files)}"
            )
        )
    return problems


def _script_problems(file: str, script: Any) -> list[Problem]:
    if not isinstance(script, dict):
        return [Problem(file, "$.embeddedScript", "must describe the embedded script")]
    problems = [
        *_text(file, script, "name", "$.embeddedScript"),
        *_text(file, script, "file", "$.embeddedScript"),
    ]
    if script.get("placement") not in PLACEMENTS:
        problems.append(
            Problem(file, "$.embeddedScript.placement", f"must be one of {', '.join(PLACEMENTS)}")
        )
    if script.get("scriptType") not in SCRIPT_TYPES:
        problems.append(
            Problem(file, "$.embeddedScript.scriptType", f"must be one of {', '.join(SCRIPT_TYPES)}")
        )
    return problems


def _permission_problems(file: str, permissions: Any) -> list[Problem]:
    if not isinstance(permissions, list) or not permissions:
        return [Problem(file, "$.permissions", "must list the permissions the app needs")]
    problems = []
    for index, permission in enumerate(permissions):
        where = f"$.permissions[{index}]"
        if not isinstance(permission, dict):
            problems.append(Problem(file, where, "must be an object"))
            continue
        problems += [*_text(file, permission, "name", where), *_text(file, permission, "why", where)]
        calls = permission.get("calls")
        if not isinstance(calls, list) or not calls:
            problems.append(Problem(file, f"{where}.calls", "must list the Wix calls that need it"))
            continue
        problems += [
            Problem(file, f"{where}.calls[{n}]", "must be 'METHOD /path' (a Wix REST route)")
            for n, call in enumerate(calls)
            if not isinstance(call, str) or not _CALL.fullmatch(call)
        ]
    return problems


# -- Everything ---------------------------------------------------------------------------------------------


@dataclass
class Definitions:
    """`wix-app/` as read: app.json and the action and trigger files, by key."""

    root: Path
    app: dict[str, Any]
    actions: dict[str, dict[str, Any]]
    triggers: dict[str, dict[str, Any]]


def _label(root: Path, path: Path) -> str:
    return f"{root.name}/{path.relative_to(root).as_posix()}"


def _read_all(root: Path, folder: str, report: Report) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for path in sorted((root / folder).glob("*.json")):
        label = _label(root, path)
        try:
            found[path.stem] = (label, read_json(path))
        except ValueError as exc:
            report.problems.append(Problem(label, "$", str(exc)))
    return found


def check(
    root: Path = DEFAULT_ROOT,
    *,
    embedded: EmbeddedScript | None = None,
    secrets: Iterable[str] = (),
) -> Report:
    """Every file of `root` (the repository's `wix-app/`) checked; `embedded` stands in for the install
    code's view of the script (tests), else `worker.installs.embedded_script` is asked; no parameter
    may hold one of `secrets`."""
    report = Report()
    app_path = root / "app.json"
    app: Any = None
    try:
        app = read_json(app_path)
    except FileNotFoundError:
        report.problems.append(Problem(_label(root, app_path), "$", "missing"))
    except ValueError as exc:
        report.problems.append(Problem(_label(root, app_path), "$", str(exc)))

    actions = _read_all(root, "actions", report)
    for stem, (label, document) in actions.items():
        report.problems += check_action(label, document, stem)
    missing_actions = sorted(set(code_action_keys()) - set(actions))
    report.problems += [
        Problem(f"{root.name}/actions/{key}.json", "$", "missing: the code serves this action")
        for key in missing_actions
    ]
    for stem, (label, document) in _read_all(root, "triggers", report).items():
        report.problems += check_trigger(label, document, stem)
    if app is not None:
        action_files = [f"actions/{stem}.json" for stem in actions]
        report.problems += check_app(_label(root, app_path), app, action_files)
        _check_script(root, app, embedded or load_embedded_script(), secrets, report)
    return report


def _check_script(
    root: Path,
    app: dict[str, Any],
    script: EmbeddedScript | None,
    secrets: Iterable[str],
    report: Report,
) -> None:
    described = app.get("embeddedScript")
    name = described.get("file") if isinstance(described, dict) else None
    if not isinstance(name, str) or not name:
        return  # check_app names it
    path = root / name
    label = _label(root, path)
    elsewhere = (
        root.resolve() == DEFAULT_ROOT
        and script is not None
        and script.script_path.resolve() != path.resolve()
    )
    if script is not None and (script.script_path.name != path.name or elsewhere):
        report.problems.append(
            Problem(label, "$", f"the install code embeds {script.script_path}, not this file")
        )
    if not path.is_file():
        if script is None:
            report.not_checked.append(
                f"{label}: not there yet, nor {EMBEDDED_SCRIPT_MODULE} (the install part of issue 13)"
            )
        else:
            report.problems.append(Problem(label, "$", "missing"))
        return
    if script is None:
        report.not_checked.append(
            f"{label}: its parameters against embed_parameters() ({EMBEDDED_SCRIPT_MODULE} is not there)"
        )
    html = path.read_text(encoding="utf-8")
    report.problems += check_embedded_script(label, html, script, secrets)


def load(root: Path = DEFAULT_ROOT) -> Definitions:
    """`wix-app/` as read (run `check` first: this assumes the files are sound)."""
    app = read_json(root / "app.json")
    actions = {path.stem: read_json(path) for path in sorted((root / "actions").glob("*.json"))}
    triggers = {path.stem: read_json(path) for path in sorted((root / "triggers").glob("*.json"))}
    return Definitions(root, app, actions, triggers)
