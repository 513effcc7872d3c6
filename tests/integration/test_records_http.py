"""The records API over real HTTP against real Redis, with the operators' CLI: every answer a client sees."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.conftest import ADMIN, challenge_log, cli
from worker.dev.programs import BASE_PROGRAM


@pytest.fixture(scope="module")
def api(web: str, module_redis_url: str, tmp_path_factory) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """The instance's program applied and a key created, both with the CLI."""
    program_file = Path(tmp_path_factory.mktemp("program")) / "program.yaml"
    program_file.write_text(yaml.safe_dump(BASE_PROGRAM))
    applied = cli(module_redis_url, "program", "apply", str(program_file), "--instance", "inst-http")
    assert applied.returncode == 0, applied.stderr
    assert "version 1" in applied.stdout
    created = cli(module_redis_url, "api-key", "create", "--instance", "inst-http")
    assert created.returncode == 0, created.stderr
    return web, {"authorization": f"Bearer {created.stdout.strip()}"}


def log(uid: str, value: str = "260") -> dict[str, str]:
    return challenge_log("c-http", "spend-500", value, uid)


class TestOverHttp:
    def test_the_cli_refuses_a_broken_program_with_every_path(self, module_redis_url, tmp_path) -> None:
        """`program apply` prints each problem with its path and exits 1."""
        broken = json.loads(json.dumps(BASE_PROGRAM))
        broken["streaks"][0]["aggregationTargetValue"] = 0
        broken["rules"] = [{"on": "order_paid", "streak": "nope", "activityId": "order_paid"}]
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken))
        result = cli(module_redis_url, "program", "apply", str(path), "--instance", "inst-http")
        assert result.returncode == 1
        assert "streaks[0].aggregationTargetValue" in result.stderr

    def test_record_duplicate_reward_and_progress(self, api) -> None:
        """201, 409 with the original, PATCH issues the reward, the member's progress shows it."""
        base, key = api
        first = httpx.post(f"{base}/schema/challenge_log/record", json=log("http-1"), headers=key, timeout=5)
        assert first.status_code == 201
        reward_id = first.json()["achievedMilestoneRewardLog"]["id"]
        duplicate = httpx.post(
            f"{base}/schema/challenge_log/record", json=log("http-1"), headers=key, timeout=5
        )
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["details"] == first.json()

        patch = {
            "couponCode": "HTTP-1",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2027-01-01T00:00:00Z",
        }
        issued = httpx.patch(f"{base}/schema/reward_log/{reward_id}", json=patch, headers=key, timeout=5)
        assert issued.status_code == 200
        assert issued.json()["status"] == "issued"
        conflict = httpx.patch(
            f"{base}/schema/reward_log/{reward_id}",
            json={**patch, "couponCode": "OTHER"},
            headers=key,
            timeout=5,
        )
        assert conflict.status_code == 409

        progress = httpx.get(f"{base}/v1/members/c-http/progress", headers=key, timeout=5).json()
        assert progress["rewardLogs"][0]["couponCode"] == "HTTP-1"

    def test_client_errors(self, api) -> None:
        """401 without a key, 422 for what the domain refuses, 404 for unknown reward logs."""
        base, key = api
        assert httpx.post(f"{base}/schema/challenge_log/record", json=log("x"), timeout=5).status_code == 401
        refused = httpx.post(
            f"{base}/schema/challenge_log/record", json=log("x", "-1"), headers=key, timeout=5
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "rejected"
        assert httpx.get(f"{base}/schema/reward_log/rl_nope", headers=key, timeout=5).status_code == 404
        not_json = httpx.post(
            f"{base}/schema/challenge_log/record",
            content=b"{",
            headers={**key, "content-type": "application/json"},
        )
        assert not_json.status_code == 422

    def test_the_admin_api_serves_the_program(self, api) -> None:
        """GET program over HTTP returns what the CLI applied."""
        base, _ = api
        shown = httpx.get(f"{base}/admin/v1/instances/inst-http/program", headers=ADMIN, timeout=5).json()
        assert shown["program"]["challenges"][0]["id"] == "spend-500"


def test_another_instances_key_sees_nothing(api, module_redis_url) -> None:
    """A key of another instance gets 404 for this instance's reward log, over HTTP."""
    base, key = api
    first = httpx.post(
        f"{base}/schema/challenge_log/record", json=log("http-iso", "300"), headers=key, timeout=5
    )
    reward_id = first.json()["achievedMilestoneRewardLog"]["id"]
    other = cli(module_redis_url, "api-key", "create", "--instance", "inst-other").stdout.strip()
    response = httpx.get(
        f"{base}/schema/reward_log/{reward_id}", headers={"authorization": f"Bearer {other}"}, timeout=5
    )
    assert response.status_code == 404
