"""The programme's lifecycle over the admin API (`/admin/v1/instances/{id}/program/...`, `/audit-log`)
and `python -m worker program draft|publish|versions|diff|rollback`."""

from __future__ import annotations

import copy
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker import cli, keys
from worker.commands import program_versions as program_versions_commands
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.web.app import create_app

ADMIN = {"authorization": "Bearer admin-token"}
INSTANCE = "inst-a"
BASE = f"/admin/v1/instances/{INSTANCE}"


def renamed(name: str) -> dict[str, Any]:
    document = copy.deepcopy(BASE_PROGRAM)
    document["streaks"][0]["name"] = name
    return document


@pytest.fixture
def api(fake_async, fake_store, public_key_pem) -> TestClient:
    settings = Settings(
        redis_url="redis://unused", admin_token="admin-token", wix_public_key=public_key_pem, _env_file=None
    )
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def live(api) -> TestClient:
    """The program put the way it always was (PUT .../program): version 1."""
    assert api.put(f"{BASE}/program", json=BASE_PROGRAM, headers=ADMIN).json()["version"] == 1
    return api


def live_name(api: TestClient) -> str:
    return str(api.get(f"{BASE}/program", headers=ADMIN).json()["program"]["streaks"][0]["name"])


class TestDraftAndPublish:
    def test_draft_then_publish_then_versions(self, live) -> None:
        """A draft leaves the live program alone; publishing makes it version 2 with who and note."""
        saved = live.put(f"{BASE}/program/draft", json=renamed("Every week"), headers=ADMIN)
        assert saved.status_code == 200, saved.text
        assert live_name(live) == "Weekly shopper"
        assert live.get(f"{BASE}/program/draft", headers=ADMIN).json()["document"]["streaks"][0]["name"] == (
            "Every week"
        )
        published = live.post(f"{BASE}/program/publish", json={"note": "nicer", "who": "ana"}, headers=ADMIN)
        assert published.status_code == 200, published.text
        assert (published.json()["version"], published.json()["who"]) == (2, "ana")
        assert live_name(live) == "Every week"
        versions = live.get(f"{BASE}/program/versions", headers=ADMIN).json()["versions"]
        assert [(v["version"], v["who"], v["note"]) for v in versions] == [
            (2, "ana", "nicer"),
            (1, "admin", ""),
        ]
        one = live.get(f"{BASE}/program/versions/1", headers=ADMIN).json()
        assert one["document"] == BASE_PROGRAM

    def test_a_yaml_draft_is_taken_as_put_program_takes_it(self, live) -> None:
        """The draft body may be YAML, as for PUT .../program."""
        yaml_text = "timezone: Europe/Berlin\n"
        saved = live.put(
            f"{BASE}/program/draft", content=yaml_text, headers={**ADMIN, "content-type": "application/yaml"}
        )
        assert saved.json()["document"] == {"timezone": "Europe/Berlin"}

    def test_a_bad_draft_is_422_with_paths_and_nothing_written(self, live, fake_store) -> None:
        """A negative milestone target: 422 naming the field; no draft, no audit entry, live unchanged."""
        bad = copy.deepcopy(BASE_PROGRAM)
        bad["streaks"][0]["milestones"][0]["milestoneTargetValue"] = -5
        entries = live.get(f"{BASE}/audit-log", headers=ADMIN).json()["entries"]
        answer = live.put(f"{BASE}/program/draft", json=bad, headers=ADMIN)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_program"
        assert answer.json()["error"]["details"][0]["path"].startswith("streaks[0].milestones[0]")
        assert fake_store.exists(keys.program_draft(INSTANCE)) == 0
        assert live.get(f"{BASE}/audit-log", headers=ADMIN).json()["entries"] == entries
        assert live.get(f"{BASE}/program", headers=ADMIN).json()["version"] == 1

    def test_publishing_without_a_draft_is_404(self, live) -> None:
        """Nothing to publish: 404 in the error shape; the live version stays 1."""
        answer = live.post(f"{BASE}/program/publish", json={}, headers=ADMIN)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert live.get(f"{BASE}/program", headers=ADMIN).json()["version"] == 1


class TestDiffRollbackAudit:
    def test_diff_between_live_draft_and_versions(self, live) -> None:
        """`from=live&to=draft` and `from=1&to=2`: the change at `streaks[0].name`."""
        live.put(f"{BASE}/program/draft", json=renamed("Every week"), headers=ADMIN)
        change = {"op": "changed", "path": "streaks[0].name", "old": "Weekly shopper", "new": "Every week"}
        answer = live.get(f"{BASE}/program/diff", params={"from": "live", "to": "draft"}, headers=ADMIN)
        assert answer.json()["changes"] == [change]
        live.post(f"{BASE}/program/publish", json={}, headers=ADMIN)
        answer = live.get(f"{BASE}/program/diff", params={"from": "1", "to": "2"}, headers=ADMIN)
        assert answer.json()["changes"] == [change]

    @pytest.mark.parametrize(
        ("params", "status"), [({"from": "1", "to": "9"}, 404), ({"from": "x*", "to": "1"}, 422), ({}, 422)]
    )
    def test_a_bad_diff_is_a_clear_4xx(self, live, params: dict[str, str], status: int) -> None:
        """An unknown version is 404, a name that is neither draft, live nor a number 422."""
        answer = live.get(f"{BASE}/program/diff", params=params, headers=ADMIN)
        assert answer.status_code == status
        assert "error" in answer.json()

    def test_rollback_makes_the_old_version_live_as_a_new_one(self, live) -> None:
        """Back to 1 after 2: version 3 "rollback to 1", the old name live; the audit log shows it all."""
        live.put(f"{BASE}/program", json=renamed("Every week"), headers=ADMIN)
        answer = live.post(f"{BASE}/program/rollback", json={"version": 1, "who": "ana"}, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["version"], answer.json()["note"]) == (3, "rollback to 1")
        assert live_name(live) == "Weekly shopper"
        entries = live.get(f"{BASE}/audit-log", params={"limit": 2}, headers=ADMIN).json()["entries"]
        assert [(e["who"], e["action"]) for e in entries] == [("ana", "rolled_back"), ("admin", "published")]

    @pytest.mark.parametrize("body", [{"version": 9}, {"version": 0}, {"version": 1, "extra": 1}])
    def test_a_bad_rollback_writes_nothing(self, live, body: dict[str, Any]) -> None:
        """An unknown version (404) or a malformed body (422): the live program stays version 1."""
        answer = live.post(f"{BASE}/program/rollback", json=body, headers=ADMIN)
        assert answer.status_code in (404, 422)
        assert live.get(f"{BASE}/program", headers=ADMIN).json()["version"] == 1

    def test_every_route_needs_the_admin_token(self, live) -> None:
        """Without the Bearer ADMIN_TOKEN: 401 on each route."""
        for method, path in [
            ("GET", "/program/draft"),
            ("PUT", "/program/draft"),
            ("POST", "/program/publish"),
            ("GET", "/program/versions"),
            ("GET", "/program/versions/1"),
            ("GET", "/program/diff?from=1&to=live"),
            ("POST", "/program/rollback"),
            ("GET", "/audit-log"),
        ]:
            assert live.request(method, f"{BASE}{path}").status_code == 401, path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


class TestCommands:
    @pytest.fixture(autouse=True)
    def _store(self, fake_store, monkeypatch) -> None:
        monkeypatch.setattr(program_versions_commands, "_client", lambda: fake_store)
        ProgressStore(fake_store).save_program(INSTANCE, copy.deepcopy(BASE_PROGRAM))

    def test_draft_publish_versions_diff_rollback(self, tmp_path) -> None:
        """The whole lifecycle from the shell, each answer as JSON."""
        draft = tmp_path / "program.json"
        draft.write_text(json.dumps(renamed("Every week")))
        assert run_cli("program", "draft", str(draft), "--instance", INSTANCE)[0] == 0
        code, out, _ = run_cli("program", "publish", "--instance", INSTANCE, "--note", "nicer")
        assert (code, json.loads(out)["version"]) == (0, 2)
        code, out, _ = run_cli("program", "versions", "--instance", INSTANCE)
        assert [(v["version"], v["who"]) for v in json.loads(out)] == [(2, "cli"), (1, "admin")]
        code, out, _ = run_cli("program", "diff", "1", "live", "--instance", INSTANCE)
        assert [c["path"] for c in json.loads(out)["changes"]] == ["streaks[0].name"]
        code, out, _ = run_cli("program", "rollback", "1", "--instance", INSTANCE)
        assert json.loads(out)["note"] == "rollback to 1"

    def test_problems_go_to_stderr_with_status_1(self, tmp_path) -> None:
        """No draft to publish, an unknown version, a bad draft: exit 1 and the reason on stderr."""
        assert run_cli("program", "publish", "--instance", INSTANCE)[::2] == (
            1,
            "error: instance inst-a has no draft\n",
        )
        assert run_cli("program", "rollback", "5", "--instance", INSTANCE)[0] == 1
        bad = tmp_path / "bad.yaml"
        bad.write_text("streaks: 3\n")
        code, _, err = run_cli("program", "draft", str(bad), "--instance", INSTANCE)
        assert code == 1 and err.startswith("streaks")
