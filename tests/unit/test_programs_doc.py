"""docs/programs.md cannot drift from the code: its examples pass (or fail) validation as it says, its
field tables name the models' fields with their defaults, and its worked example is what the engine does.

Markers in the page, each on the line before a fenced block:
- `<!-- program -->` / `<!-- program: NAME -->`: a full program, applied as `PUT .../program` applies it;
- `<!-- invalid-program -->`: a program with problems, followed by `<!-- answer -->` (the 422 body of the
  route) or `<!-- problems -->` (the lines `python -m worker program apply` prints);
- `<!-- fields: MODEL -->`: the next table lists MODEL's fields (first column) and defaults.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from worker import cli
from worker.dispatch import RecordedDispatcher
from worker.engine import program as program_module
from worker.engine import storefront
from worker.engine.closing import final_closures
from worker.engine.logs import accept_log
from worker.engine.program import Program, Streak
from worker.engine.recording import MemberState, Recorded, record_streak_log
from worker.engine.streaks import streak_runs
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.web.admin import apply_program
from worker.web.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "programs.md"
TEXT = DOC.read_text(encoding="utf-8")
INSTANCE = "docs-example"
ADMIN_TOKEN = "admin-secret"

_BLOCK = re.compile(r"<!-- ([a-z-]+)(?:: ([\w-]+))? -->\n```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
BLOCKS: list[tuple[str, str | None, str]] = [(m[1], m[2], m[4]) for m in _BLOCK.finditer(TEXT)]
PROGRAMS = {name or f"program-{i}": body for i, (kind, name, body) in enumerate(BLOCKS) if kind == "program"}
INVALID = [
    (body, BLOCKS[i + 1][0], BLOCKS[i + 1][2])
    for i, (kind, _, body) in enumerate(BLOCKS)
    if kind == "invalid-program"
]
_PROGRAM_MODELS = ("Program", "Streak", "Challenge", "Window", "Milestone", "Reward", "CouponSpec", "Rule")
MODELS: dict[str, type[BaseModel]] = {
    **{
        name: getattr(program_module, name)
        for name in (*_PROGRAM_MODELS, "PointsRule", "PointsBudget", "BonusWindow", "OrderConditions")
    },
    **{name: getattr(storefront, name) for name in ("Template", "Theme", "ThemeColors", "FloatingWidget")},
}
MODELS["Referrals"] = program_module.Referrals  # docs/programs.md "referrals"
_TABLE = re.compile(r"<!-- fields: (\w+) -->\n((?:\|.*\n)+)")
TABLES = {m[1]: m[2] for m in _TABLE.finditer(TEXT)}


def _fences() -> list[tuple[str, str, str]]:
    """Each marked block as (marker, fence language, body)."""
    return [(m[1], m[3], m[4]) for m in _BLOCK.finditer(TEXT)]


def rows(table: str) -> list[list[str]]:
    """A markdown table's body rows as cells (header and rule dropped; `\\|` is not a separator)."""
    lines = table.strip().splitlines()[2:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def unquote(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


class TestMarkers:
    def test_the_page_has_its_examples_and_tables(self) -> None:
        """The markers are found: the full example, the worked example, both error examples, every table."""
        assert TEXT.count("<!-- program") == len(PROGRAMS), (
            "a program marker not right before a ```yaml block"
        )
        assert {fence for kind, fence, _ in _fences() if kind in ("program", "invalid-program")} == {"yaml"}
        assert "worked-example" in PROGRAMS
        assert len(PROGRAMS) >= 2
        assert sorted(follower for _, follower, _ in INVALID) == ["answer", "problems"]
        assert set(TABLES) == {*MODELS, "Copy"}


class TestPrograms:
    @pytest.mark.parametrize("name", sorted(PROGRAMS))
    def test_a_program_of_the_page_is_applied_as_the_route_applies_it(self, name: str, fake_store) -> None:
        """The route's own function (load, validate, store) takes it, and the stored copy reads back."""
        store = ProgressStore(fake_store)
        applied = apply_program(store, INSTANCE, PROGRAMS[name])
        assert applied["version"] == 1
        assert isinstance(store.program(INSTANCE), Program)

    def test_the_yaml_and_json_spellings_are_the_same_document(self) -> None:
        """The page's YAML and JSON spellings of one rule read the same."""
        yaml_text, json_text = [body for kind, _, body in BLOCKS if kind == "same-document"]
        assert program_module.load_document(yaml_text) == program_module.load_document(json_text)


class TestErrors:
    def test_the_http_answer_is_the_routes(self, public_key_pem, fake_async, fake_store) -> None:
        """The 422 shown is what PUT /admin/v1/instances/{id}/program answers for the document shown."""
        body, _, answer = next(item for item in INVALID if item[1] == "answer")
        settings = Settings(
            redis_url="redis://unused",
            wix_public_key=public_key_pem,
            wix_app_id="app-1",
            wix_app_secret="app-secret",
            admin_token=ADMIN_TOKEN,
            _env_file=None,
        )  # type: ignore[call-arg]
        app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
        client = TestClient(app, raise_server_exceptions=False)
        response = client.put(
            f"/admin/v1/instances/{INSTANCE}/program",
            content=body,
            headers={"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/yaml"},
        )
        assert response.status_code == 422
        assert response.json() == json.loads(answer)

    def test_the_cli_lines_are_the_clis(self, fake_store, monkeypatch, capsys, tmp_path) -> None:
        """`program apply` prints the problems shown, one `path: message` a line, and exits 1."""
        body, _, expected = next(item for item in INVALID if item[1] == "problems")
        document = tmp_path / "program.yaml"
        document.write_text(body, encoding="utf-8")
        monkeypatch.setattr(cli, "_store", lambda: fake_store)
        code = cli.main(["program", "apply", str(document), "--instance", INSTANCE])
        assert code == 1
        assert capsys.readouterr().err.splitlines() == expected.strip().splitlines()
        assert ProgressStore(fake_store).program_document(INSTANCE) is None


class TestFieldTables:
    @pytest.mark.parametrize("name", sorted(MODELS))
    def test_a_table_names_the_models_fields_and_defaults(self, name: str) -> None:
        """Every field is in the table, in the model's order, with `required`, `—` or its default."""
        fields = MODELS[name].model_fields
        table = rows(TABLES[name])
        assert [unquote(row[0]) for row in table] == [field.alias or key for key, field in fields.items()]
        for row, field in zip(table, fields.values(), strict=True):
            default = row[2]
            if field.is_required():
                assert default == "required", row
            elif field.default is None:
                assert default == "—", row
            else:
                assert unquote(default) == (str(field.default) if field.default != [] else "[]"), row

    def test_the_copy_table_is_the_built_in_english(self) -> None:
        """Every copy key, in the widget's order, with its built-in English text."""
        table = rows(TABLES["Copy"])
        assert [unquote(row[0]) for row in table] == list(storefront.COPY_KEYS)
        assert {unquote(row[0]): row[1] for row in table} == storefront.BUILT_IN_COPY["en"]


BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


class TestWorkedExample:
    """The steps of "Worked example: a late log mends a weekly streak", through the engine."""

    @pytest.fixture
    def program(self) -> Program:
        return program_module.parse_program(program_module.load_document(PROGRAMS["worked-example"]))

    @staticmethod
    def record(program: Program, state: MemberState, at: datetime, uid: str, now: datetime) -> Recorded:
        streak = program.streaks[0]
        log = accept_log(
            streak, contact_id="jane", activity_id="order_paid", activity_value=1,
            activity_at=at, unique_identifier=uid, now=now,
        )  # fmt: skip
        recorded = record_streak_log(program, streak, state, log, instance_id=INSTANCE, now=now)
        if recorded.applied:
            state.logs.append(log)
            state.achieved.update(recorded.achieved_keys)
        return recorded

    @staticmethod
    def run(program: Program, state: MemberState, now: datetime) -> dict[str, Any]:
        streak: Streak = program.streaks[0]
        runs, _ = streak_runs(state.logs, streak, program.zone, now)
        assert len(runs) == 1
        return runs[0].to_json(streak)

    def test_the_steps(self, program: Program) -> None:
        """One week, at risk, broken at Monday 00:00, mended by Tuesday's late log with a milestone."""
        state = MemberState()
        first = self.record(program, state, berlin(2026, 11, 12, 18), "o1", berlin(2026, 11, 12, 18, 1))
        assert first.answer["streakProgress"]["currentProgressValue"] == 1
        assert first.answer["nextMilestone"]["id"] == "two-weeks"
        assert self.run(program, state, berlin(2026, 11, 18, 12))["at_risk"] is True
        broken = self.run(program, state, berlin(2026, 11, 23))
        assert (broken["status"], broken["streakBrokenAt"]) == ("broken", "2026-11-22T23:00:00+00:00")
        assert broken["currentProgressValue"] == 1
        before_late = copy.deepcopy(state)

        mended = self.record(program, state, berlin(2026, 11, 22, 20), "o2", berlin(2026, 11, 24, 9))
        assert mended.applied
        progress = mended.answer["streakProgress"]
        assert progress["periodKey"] == "2026-11-09"
        assert (progress["status"], progress["currentProgressValue"]) == ("in_progress", 2)
        assert progress["lastCompletedPeriodKey"] == "2026-11-16"
        assert (progress["streakBrokenAt"], progress["at_risk"]) == (None, True)
        assert mended.answer["taskProgress"]["periodEndsAt"] == "2026-11-22T23:00:00Z"
        assert mended.answer["achievedMilestone"]["id"] == "two-weeks"
        assert [r["reward"] for r in mended.reward_logs] == [{"type": "points", "points": 100}]

        state = before_late
        late = self.record(program, state, berlin(2026, 11, 22, 20), "o2", berlin(2026, 11, 26, 0, 0, 1))
        assert (late.applied, late.answer["reason"]) == (False, "late")
        assert self.run(program, state, berlin(2026, 11, 26, 0, 0, 1))["status"] == "broken"
        closed = final_closures(program, program.streaks[0], state.logs, berlin(2026, 11, 26, 0, 0, 1))
        assert list(closed) == ["2026-11-09"]
