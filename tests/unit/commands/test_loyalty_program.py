"""`python -m worker loyalty-program ...` in process: its flags become the admin route's body, its answer
is Wix's program as JSON, a failure is one `error:` line and exit status 1 (the fake Wix in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.cli import build_parser, main
from worker.commands.loyalty_program import _changes
from worker.loyalty.program_admin import ProgramChanges
from worker.runtime import providers
from worker.wix.client import WixClient
from worker.wix.fake import FakeSettings, FakeWix
from worker.wix.fake import create_app as create_fake_app

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "unit-fake-secret"
INSTANCE = "inst-cli"


@pytest.fixture
def fake_app(private_key: Any) -> TestClient:
    return TestClient(create_fake_app(FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key)))


@pytest.fixture
def wix(fake_app: TestClient, fake_store: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[WixClient]:
    """The CLI's Wix client and Redis are the in-process fake Wix and fakeredis."""

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET, sleep=lambda _: None)
    monkeypatch.setattr(providers, "configured_wix", lambda: client)
    monkeypatch.setattr(providers, "redis_store", lambda: fake_store)
    yield client
    client.close()


def parsed(*argv: str) -> Any:
    return build_parser().parse_args(["loyalty-program", *argv, "--instance", INSTANCE])


class TestFlags:
    def test_update_flags_become_the_routes_body(self) -> None:
        """Every update flag lands where the PATCH body has it; flags not given are left out."""
        args = parsed(
            "update",
            "--name", "Northern Star",
            "--points-name", "Stars",
            "--icon-id", "media-1",
            "--months-of-inactivity", "6",
            "--expiring-points-percentage", "50",
        )  # fmt: skip
        assert ProgramChanges.model_validate(_changes(args)).model_dump(exclude_none=True) == {
            "name": "Northern Star",
            "pointDefinition": {"customName": "Stars", "icon": {"id": "media-1"}},
            "pointsExpiration": {"monthsOfInactivity": 6, "expiringPointsPercentage": 50},
        }
        assert _changes(parsed("update", "--name", "Only the name")) == {"name": "Only the name"}


class TestMain:
    def test_show_prints_the_program(self, wix, capsys) -> None:
        """`show` prints `{"instanceId", "loyaltyProgram"}` as JSON, exit 0."""
        assert main(["loyalty-program", "show", "--instance", INSTANCE]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["instanceId"] == INSTANCE and answer["loyaltyProgram"]["status"] == "ACTIVE"

    def test_pausing_a_draft_is_one_error_line(self, wix, fake_app, capsys) -> None:
        """Wix refusing (a DRAFT cannot be paused): one `error:` line naming Wix's answer, exit 1."""
        fake_app.put(f"/_fake/instances/{INSTANCE}/program", json={"status": "DRAFT"})
        assert main(["loyalty-program", "pause", "--instance", INSTANCE]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        [line] = err.strip().splitlines()
        assert line.startswith("error: ") and "428" in line

    def test_nothing_to_update_is_one_error_line(self, wix, capsys) -> None:
        """`update` without a flag: one line saying what to give, exit 1."""
        assert main(["loyalty-program", "update", "--instance", INSTANCE]) == 1
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and "nothing to change" in line

    def test_without_wix_credentials_is_one_error_line(self, monkeypatch, capsys) -> None:
        """No Wix credentials: one line naming the settings, exit 1."""
        monkeypatch.setattr(providers, "configured_wix", lambda: None)
        assert main(["loyalty-program", "activate", "--instance", INSTANCE]) == 1
        assert "WIX_APP_ID and WIX_APP_SECRET" in capsys.readouterr().err
