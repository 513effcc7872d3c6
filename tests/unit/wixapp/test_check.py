"""`python -m worker wix-app check`: the repository's `wix-app/` is clean, and each rule refuses a
broken file with one line naming the file, the JSON path and what is wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from worker.cli import main
from worker.settings import get_settings
from worker.wixapp.definitions import (
    DEFAULT_ROOT,
    DRAFT_07,
    EmbeddedScript,
    check,
    load_embedded_script,
)

CONTACT = "24de6f0b-60ce-4faa-9138-2e39f1415615"
SCRIPT = (
    '<div id="rewards-root" data-account-id="{{accountId}}"></div>\n'
    '<script src="https://rewards.example.com/widget.js" data-template-id="{{templateId}}"\n'
    '        data-theme-id="{{themeId}}" async></script>\n'
)
PARAMETERS = {"accountId": "acc-1", "templateId": "default", "themeId": "default"}


def trigger() -> dict[str, Any]:
    """A trigger definition that follows every rule of wix-facts.md §5.2."""
    properties = {
        "contactId": {
            "title": "Contact", "type": "string", "format": "uuid", "identityType": "contact",
            "examples": [CONTACT],
        },
        "orderId": {"title": "Order id", "type": "string", "examples": ["880fa895-dfd5-4d50"]},
        "total": {"title": "Total", "type": "number", "examples": [49.5]},
        "paidAt": {
            "title": "Paid at", "type": "string", "format": "date-time", "examples": ["2026-11-24T10:00:00Z"],
        },
        "lineItems": {
            "title": "Line items", "type": "array", "examples": [[{"name": "Mug", "quantity": 1}]],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
        "shipping": {
            "title": "Shipping", "type": "object", "examples": [{"city": "Berlin"}],
            "properties": {"city": {"type": "string"}},
        },
    }  # fmt: skip
    return {
        "name": "Order paid",
        "triggerKey": "order_paid",
        "description": "An order is paid (once per order).",
        "payloadSchema": {"$schema": DRAFT_07, "type": "object", "properties": properties},
    }


def stub(root: Path, parameters: dict[str, Any] | None = None) -> EmbeddedScript:
    """Stands in for worker.installs.embedded_script (the install helper's module)."""
    return EmbeddedScript(
        script_path=root / "embedded-script.html",
        placeholders=lambda text: set(re.findall(r"\{\{(\w+)\}\}", text)),
        embed_parameters=lambda program: dict(PARAMETERS if parameters is None else parameters),
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the repository's wix-app/, with a sound trigger and embedded script added."""
    copy = tmp_path / "wix-app"
    shutil.copytree(DEFAULT_ROOT, copy)
    (copy / "triggers").mkdir(exist_ok=True)
    write(copy / "triggers" / "order_paid.json", trigger())
    (copy / "embedded-script.html").write_text(SCRIPT, encoding="utf-8")
    return copy


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A copy of the repository's wix-app/ as it is (its script and install code too, once there),
    with the sound trigger added."""
    copy = tmp_path / "wix-app"
    shutil.copytree(DEFAULT_ROOT, copy)
    (copy / "triggers").mkdir(exist_ok=True)
    write(copy / "triggers" / "order_paid.json", trigger())
    return copy


def write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def edit(path: Path, change: Callable[[Any], None]) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    change(value)
    write(path, value)


def lines(root: Path, **options: Any) -> list[str]:
    options.setdefault("embedded", stub(root))
    return [str(problem) for problem in check(root, **options).problems]


class TestTheRepository:
    def test_the_repositorys_wix_app_has_no_problems(self) -> None:
        """Every file under wix-app/ passes every rule, against the code as it is."""
        report = check(DEFAULT_ROOT)
        assert [str(problem) for problem in report.problems] == []
        if load_embedded_script() is not None:
            assert report.not_checked == []
        else:  # the install part of issue 13 brings the module; until then only the script waits
            assert report.not_checked and all(
                note.startswith("wix-app/embedded-script.html: ") for note in report.not_checked
            )

    def test_a_sound_trigger_and_script_pass(self, root: Path) -> None:
        """The fixture's trigger and script follow the rules: the refusals below are each one rule."""
        assert lines(root) == []


class TestActions:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            pytest.param(
                lambda d: d["inputSchema"].pop("$schema"),
                "wix-app/actions/execute-streak.json: $.inputSchema.$schema: must be "
                "'http://json-schema.org/draft-07/schema#' (Wix takes draft-07)",
                id="not-draft-07",
            ),
            pytest.param(
                lambda d: d["inputSchema"]["properties"]["streakId"].update(type="strnig"),
                "wix-app/actions/execute-streak.json: $.inputSchema.properties.streakId.type: "
                "not a valid draft-07 schema",
                id="invalid-schema",
            ),
            pytest.param(
                lambda d: d["inputSchema"]["properties"]["activityAt"].pop("title"),
                "wix-app/actions/execute-streak.json: $.inputSchema.properties.activityAt: needs a title",
                id="field-without-title",
            ),
            pytest.param(
                lambda d: (
                    d["inputSchema"]["required"].remove("streakId"),
                    d["inputSchema"]["examples"][0].pop("streakId"),
                ),
                "wix-app/actions/execute-streak.json: $.inputSchema.examples[0]: the code refuses it: "
                "execute-streak: actionParams are not as expected: request.actionParams.streakId is required",
                id="example-the-code-refuses",
            ),
            pytest.param(
                lambda d: d["inputSchema"]["examples"][0].update(activityAt="2026-11-24 10:00"),
                "wix-app/actions/execute-streak.json: $.inputSchema.examples[0].activityAt: "
                "'2026-11-24 10:00' is not a 'date-time'",
                id="example-the-schema-refuses",
            ),
            pytest.param(
                lambda d: d["inputSchema"]["properties"].update(note={"title": "Note", "type": "string"}),
                "wix-app/actions/execute-streak.json: $.inputSchema.properties.note: "
                "the code does not read this field",
                id="field-the-code-does-not-read",
            ),
            pytest.param(
                lambda d: d["inputSchema"]["required"].remove("activityAt"),
                "wix-app/actions/execute-streak.json: $.inputSchema.required: "
                "the code needs 'activityAt': require it",
                id="field-the-code-needs-is-optional",
            ),
            pytest.param(
                lambda d: d["inputSchema"].pop("examples"),
                "wix-app/actions/execute-streak.json: $.inputSchema.examples: needs at least one example",
                id="no-example",
            ),
            pytest.param(
                lambda d: d["outputSchema"]["properties"].pop("taskProgress"),
                "wix-app/actions/execute-streak.json: $.outputSchema: the code's documented answer does not "
                "fit: $: Additional properties are not allowed ('taskProgress' was unexpected)",
                id="output-missing-a-field-the-code-answers",
            ),
            pytest.param(
                lambda d: d["outputSchema"]["examples"][0].update(duplicate="no"),
                "wix-app/actions/execute-streak.json: $.outputSchema.examples[0].duplicate: "
                "'no' is not of type 'boolean'",
                id="output-example-misfit",
            ),
            pytest.param(
                lambda d: d.update(actionKey="execute-challenge"),
                "wix-app/actions/execute-streak.json: $.actionKey: must be 'execute-streak', the file's name",
                id="key-not-the-file-name",
            ),
            pytest.param(
                lambda d: d.update(name=""),
                "wix-app/actions/execute-streak.json: $.name: is required (a non-empty string)",
                id="no-name",
            ),
        ],
    )
    def test_each_rule_refuses_a_broken_action(self, root: Path, change: Any, expected: str) -> None:
        """A broken execute-streak.json is refused with its file, JSON path and reason."""
        edit(root / "actions" / "execute-streak.json", change)
        found = lines(root)
        assert any(line.startswith(expected) for line in found), found

    def test_an_action_the_code_does_not_serve(self, root: Path) -> None:
        """An action file whose key the invoke route does not know is refused, and app.json must list it."""
        document = json.loads((root / "actions" / "execute-streak.json").read_text())
        write(root / "actions" / "give-points.json", {**document, "actionKey": "give-points"})
        found = lines(root)
        assert any(
            line.startswith("wix-app/actions/give-points.json: $.actionKey: 'give-points' is not served")
            for line in found
        ), found

    def test_a_missing_action_file(self, root: Path) -> None:
        """Every action the code serves needs its file."""
        (root / "actions" / "update-reward-log.json").unlink()
        found = lines(root)
        assert "wix-app/actions/update-reward-log.json: $: missing: the code serves this action" in found
        assert any(line.startswith("wix-app/app.json: $.actionProvider.actions: must list") for line in found)

    def test_json_with_a_duplicate_key_or_a_syntax_error(self, root: Path) -> None:
        """A key twice in one object (the last would silently win) and broken JSON are each refused."""
        path = root / "actions" / "execute-streak.json"
        path.write_text(path.read_text().replace('"name": "Execute Streak"', '"name": "A", "name": "B"'))
        (root / "actions" / "execute-challenge.json").write_text("{")
        found = lines(root)
        assert (
            "wix-app/actions/execute-streak.json: $: the key 'name' appears twice in one object" in found
        ), found
        assert any(
            line.startswith("wix-app/actions/execute-challenge.json: $: not valid JSON") for line in found
        )


class TestTriggers:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            pytest.param(
                lambda s: s.update(type="array"),
                "$.payloadSchema.type: the payload's root must be type 'object'",
                id="root-not-an-object",
            ),
            pytest.param(
                lambda s: s["properties"].update({"order-id": s["properties"]["total"]}),
                "$.payloadSchema.properties.order-id: a payload key must be [A-Za-z0-9_] and not start",
                id="key-with-a-dash",
            ),
            pytest.param(
                lambda s: s["properties"].update({"_total": s["properties"]["total"]}),
                "$.payloadSchema.properties._total: a payload key must be [A-Za-z0-9_] and not start with _",
                id="key-starting-with-underscore",
            ),
            pytest.param(
                lambda s: s["properties"]["shipping"]["properties"].update({"zip-code": {"type": "string"}}),
                "$.payloadSchema.properties.shipping.properties.zip-code: a payload key must be",
                id="nested-key-with-a-dash",
            ),
            pytest.param(
                lambda s: s["properties"]["total"].pop("examples"),
                "$.payloadSchema.properties.total: a first-level property needs 'examples'",
                id="no-examples",
            ),
            pytest.param(
                lambda s: s["properties"]["total"].pop("title"),
                "$.payloadSchema.properties.total: a first-level property needs 'title'",
                id="no-title",
            ),
            pytest.param(
                lambda s: s["properties"]["total"].pop("type"),
                "$.payloadSchema.properties.total: a first-level property needs 'type'",
                id="no-type",
            ),
            pytest.param(
                lambda s: s["properties"]["total"].update(examples=["49.5"]),
                "$.payloadSchema.properties.total.examples[0]: does not fit the property: "
                "'49.5' is not of type 'number'",
                id="example-misfit",
            ),
            pytest.param(
                lambda s: s["properties"].pop("contactId"),
                "$.payloadSchema.properties: needs a 'contactId' (format uuid)",
                id="no-contact-id",
            ),
            pytest.param(
                lambda s: s["properties"]["contactId"].pop("format"),
                "$.payloadSchema.properties.contactId: must be type 'string' with format 'uuid'",
                id="contact-id-not-uuid",
            ),
            pytest.param(
                lambda s: s["properties"].update(
                    buyerId={"title": "Buyer", "type": "string", "format": "uuid", "identityType": "contact",
                             "examples": [CONTACT]}
                ),
                "$.payloadSchema.properties.buyerId: only contactId is connected to the contact",
                id="second-contact",
            ),
            pytest.param(
                lambda s: s["properties"].update(
                    tags={"title": "Tags", "type": "array", "items": {"type": "string"}, "examples": [["a"]]}
                ),
                "$.payloadSchema.properties.tags.items: an array in a payload must be an array of objects",
                id="array-of-scalars",
            ),
            pytest.param(
                lambda s: s["properties"]["shipping"]["properties"].update(
                    address={"type": "object", "properties": {"city": {"type": "string"}}}
                ),
                "$.payloadSchema.properties.shipping.properties.address: a nested property must be a scalar",
                id="nested-object",
            ),
            pytest.param(
                lambda s: s["properties"]["lineItems"]["items"]["properties"].update(
                    sizes={"type": "array", "items": {"type": "object"}}
                ),
                "$.payloadSchema.properties.lineItems.items.properties.sizes: a nested property must be",
                id="array-in-array-items",
            ),
        ],
    )  # fmt: skip
    def test_each_of_wixs_payload_rules_refuses_a_broken_trigger(
        self, root: Path, change: Any, expected: str
    ) -> None:
        """A trigger payload schema breaking one of wix-facts.md §5.2's rules is refused, naming it."""
        edit(root / "triggers" / "order_paid.json", lambda d: change(d["payloadSchema"]))
        found = lines(root)
        assert any(line.startswith(f"wix-app/triggers/order_paid.json: {expected}") for line in found), found

    def test_the_trigger_key_is_the_file_name(self, root: Path) -> None:
        """triggers/{trigger_key}.json: the key inside must be the file's name."""
        edit(root / "triggers" / "order_paid.json", lambda d: d.update(triggerKey="order_fulfilled"))
        assert lines(root) == [
            "wix-app/triggers/order_paid.json: $.triggerKey: must be 'order_paid', the file's name"
        ]

    def test_a_trigger_without_a_payload_schema(self, root: Path) -> None:
        """The payload schema is what a self-hoster pastes: without it the file is refused."""
        edit(root / "triggers" / "order_paid.json", lambda d: d.pop("payloadSchema"))
        assert lines(root) == [
            "wix-app/triggers/order_paid.json: $.payloadSchema: must be a JSON Schema (an object)"
        ]


class TestEmbeddedScript:
    def test_a_placeholder_outside_an_attribute_value(self, root: Path) -> None:
        """Wix fills {{placeholders}} only inside attribute values: one in text or code is refused."""
        (root / "embedded-script.html").write_text(
            SCRIPT + "<script>window.account = '{{accountId}}';</script>\n", encoding="utf-8"
        )
        assert lines(root) == [
            "wix-app/embedded-script.html: $: {{accountId}} is outside an HTML attribute value "
            "(Wix fills only those)"
        ]

    def test_parameters_that_differ_from_the_placeholders(self, root: Path) -> None:
        """embed_parameters() must give exactly the script's placeholders (else Wix answers 400)."""
        parameters = {"accountId": "acc-1", "templateId": "default", "widgetId": "default"}
        assert lines(root, embedded=stub(root, parameters)) == [
            "wix-app/embedded-script.html: $: embed_parameters() does not give themeId",
            "wix-app/embedded-script.html: $: embed_parameters() gives widgetId, not in the script "
            "(Wix: 400)",
        ]

    def test_a_secret_looking_parameter(self, root: Path) -> None:
        """Every visitor can read the parameters: a token-like name is refused."""
        (root / "embedded-script.html").write_text(
            SCRIPT.replace("{{themeId}}", "{{accessToken}}"), encoding="utf-8"
        )
        parameters = {**PARAMETERS, "accessToken": "x"}
        del parameters["themeId"]
        assert lines(root, embedded=stub(root, parameters)) == [
            "wix-app/embedded-script.html: $: the parameter 'accessToken' looks secret: "
            "every visitor can read it"
        ]

    def test_a_parameter_holding_a_secret_or_not_a_string(self, root: Path) -> None:
        """A value equal to one of the service's secrets, or not a string, is refused."""
        parameters = {**PARAMETERS, "accountId": "s3cret-admin-token", "themeId": 7}
        assert lines(root, embedded=stub(root, parameters), secrets=["s3cret-admin-token"]) == [
            "wix-app/embedded-script.html: $: the parameter 'accountId' holds one of the service's secrets",
            "wix-app/embedded-script.html: $: the parameter 'themeId' must be a string (Wix: strings)",
        ]

    def test_the_install_code_embeds_another_file_or_the_file_is_missing(self, root: Path) -> None:
        """app.json's script file is the one the install code embeds, and it exists."""
        other = EmbeddedScript(root / "other.html", stub(root).placeholders, stub(root).embed_parameters)
        (root / "embedded-script.html").unlink()
        assert lines(root, embedded=other) == [
            f"wix-app/embedded-script.html: $: the install code embeds {root / 'other.html'}, not this file",
            "wix-app/embedded-script.html: $: missing",
        ]


class TestAppJson:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            pytest.param(
                lambda a: a["webhooks"].update(url="{PUBLIC_BASE_URL}/webhooks"),
                "$.webhooks.url: must be {PUBLIC_BASE_URL}/webhooks/wix (where the code serves it)",
                id="webhooks-url",
            ),
            pytest.param(
                lambda a: a["webhooks"]["events"].pop(0),
                "$.webhooks.events: missing wix.ecom.v1.order_approved (worker/wix/envelope.py)",
                id="event-missing",
            ),
            pytest.param(
                lambda a: a["webhooks"]["events"].append(
                    {"eventType": "OrderPaid", "name": "Stores: Order Paid"}
                ),
                "$.webhooks.events: OrderPaid: not handled by worker/wix/envelope.py",
                id="event-not-handled",
            ),
            pytest.param(
                lambda a: a["actionProvider"].update(baseUri="{PUBLIC_BASE_URL}/actions"),
                "$.actionProvider.baseUri: must be {PUBLIC_BASE_URL}/wix/actions (where the code serves it)",
                id="base-uri",
            ),
            pytest.param(
                lambda a: a["embeddedScript"].update(placement="FOOTER"),
                "$.embeddedScript.placement: must be one of HEAD, BODY_START, BODY_END",
                id="placement",
            ),
            pytest.param(
                lambda a: a["embeddedScript"].update(scriptType="NEEDED"),
                "$.embeddedScript.scriptType: must be one of ESSENTIAL, FUNCTIONAL, ANALYTICS, ADVERTISING",
                id="script-type",
            ),
            pytest.param(
                lambda a: a["dashboardPage"].update(url="https://elsewhere.example/dashboard/"),
                "$.dashboardPage.url: must be a URL under {PUBLIC_BASE_URL}/",
                id="dashboard-url",
            ),
            pytest.param(
                lambda a: a["oauth"]["settings"].update(WIX_APP_KEY="the key"),
                "$.oauth.settings.WIX_APP_KEY: is not a setting of worker/settings.py",
                id="not-a-setting",
            ),
            pytest.param(
                lambda a: a["oauth"]["settings"].pop("WIX_APP_SECRET"),
                "$.oauth.settings: must name WIX_APP_SECRET",
                id="setting-missing",
            ),
            pytest.param(
                lambda a: a["permissions"][0].pop("why"),
                "$.permissions[0].why: is required (a non-empty string)",
                id="permission-without-why",
            ),
            pytest.param(
                lambda a: a["permissions"][0]["calls"].insert(0, "fetch the program"),
                "$.permissions[0].calls[0]: must be 'METHOD /path' (a Wix REST route)",
                id="permission-call",
            ),
        ],
    )
    def test_each_rule_refuses_a_broken_app_json(self, root: Path, change: Any, expected: str) -> None:
        """A broken app.json is refused with the JSON path and the reason."""
        edit(root / "app.json", change)
        assert lines(root) == [f"wix-app/app.json: {expected}"]


class TestCommand:
    def test_a_clean_folder_exits_0(self, copied: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`wix-app check` on a clean folder prints no problem and exits 0."""
        assert main(["wix-app", "check", "--dir", str(copied)]) == 0
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "every definition checks out" in captured.err

    def test_problems_print_one_line_each_and_exit_1(
        self, copied: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`wix-app check` prints each problem on its own line and exits 1."""
        edit(copied / "app.json", lambda a: a["embeddedScript"].update(placement="FOOTER"))
        edit(copied / "actions" / "execute-streak.json", lambda d: d.update(name=""))
        assert main(["wix-app", "check", "--dir", str(copied)]) == 1
        assert capsys.readouterr().out.splitlines() == [
            "wix-app/actions/execute-streak.json: $.name: is required (a non-empty string)",
            "wix-app/app.json: $.embeddedScript.placement: must be one of HEAD, BODY_START, BODY_END",
        ]

    def test_show_fills_in_public_base_url(
        self, copied: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`wix-app show` prints every URL under PUBLIC_BASE_URL, the actions, triggers and permissions."""
        monkeypatch.setenv("PUBLIC_BASE_URL", "https://rewards.example.com/")
        get_settings.cache_clear()
        try:
            assert main(["wix-app", "show", "--dir", str(copied)]) == 0
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr().out
        assert "https://rewards.example.com/webhooks/wix" in out
        assert "base URI https://rewards.example.com/wix/actions" in out
        assert "URL https://rewards.example.com/dashboard/" in out
        assert "{PUBLIC_BASE_URL}" not in out
        assert "Execute Streak (action key execute-streak)" in out
        assert "Order paid (trigger key order_paid)" in out
        assert "- Manage Coupons: " in out
        assert "placement BODY_END, type FUNCTIONAL" in out

    def test_show_schemas_prints_each_schema_as_json(
        self, copied: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`wix-app show --schemas` adds every schema to paste, exactly as in its file."""
        assert main(["wix-app", "show", "--dir", str(copied), "--schemas"]) == 0
        out = capsys.readouterr().out
        header = "==== action execute-streak (Execute Streak): input schema\n"
        assert header in out
        pasted = json.JSONDecoder().raw_decode(out.split(header, 1)[1])[0]
        assert pasted == json.loads((copied / "actions" / "execute-streak.json").read_text())["inputSchema"]
        assert "==== trigger order_paid (Order paid): payload schema" in out

    def test_show_refuses_while_a_definition_is_broken(
        self, copied: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`wix-app show` prints nothing to paste while `check` finds a problem."""
        edit(copied / "actions" / "execute-streak.json", lambda d: d.update(name=""))
        assert main(["wix-app", "show", "--dir", str(copied)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "wix-app/actions/execute-streak.json: $.name: is required" in captured.err


def test_the_command_as_an_operator_runs_it() -> None:
    """`python -m worker wix-app check`, in its own process, passes on the repository's wix-app/."""
    env = {key: value for key, value in os.environ.items() if key != "PUBLIC_BASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "wix-app", "check"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert "wix-app: every definition checks out" in done.stderr


class TestAnyShape:
    @pytest.mark.parametrize("value", [None, 7, "text", [], [1], {}, {"x": []}])
    def test_any_value_in_place_of_a_part_is_a_problem_not_a_crash(self, root: Path, value: Any) -> None:
        """Whatever stands where an object or a list belongs, the check answers problems, never a crash
        (a text, where a text belongs, is fine)."""
        expected = not isinstance(value, str)
        good = (root / "app.json").read_text()
        for name in json.loads(good):
            edit(root / "app.json", lambda app, name=name: app.update({name: value}))
            assert bool(lines(root)) or not expected, name
            (root / "app.json").write_text(good)
        for path in [*sorted((root / "actions").glob("*.json")), root / "triggers" / "order_paid.json"]:
            good = path.read_text()
            for name in json.loads(good):
                edit(path, lambda document, name=name: document.update({name: value}))
                assert bool(lines(root)) or not expected, (path.name, name)
                path.write_text(good)
