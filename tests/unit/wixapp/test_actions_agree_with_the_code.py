"""The action files' schemas against what `POST /wix/actions/v1/invoke` really takes and answers."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from fastapi.testclient import TestClient

from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.web.app import create_app
from worker.wixapp.definitions import DEFAULT_ROOT, code_refusal, read_json, schema_errors

APP_ID = "app-1"
INSTANCE = "inst-a"
CONTACT = "24de6f0b-60ce-4faa-9138-2e39f1415615"
# Two weeks in a row need last week's log to still count, whatever day the suite runs on.
PROGRAM: dict[str, Any] = {**copy.deepcopy(BASE_PROGRAM), "lateLogGraceHours": 240}


def action(key: str) -> dict[str, Any]:
    document: dict[str, Any] = read_json(DEFAULT_ROOT / "actions" / f"{key}.json")
    return document


def misfits(schema: dict[str, Any], value: Any) -> list[str]:
    return [f"{where}: {message}" for where, message in schema_errors(schema, value)]


@pytest.fixture
def invoke(private_key, public_key_pem, fake_async, fake_store):  # type: ignore[no-untyped-def]
    """Call an action as Wix would (a signed token); the params must fit the input schema first."""
    ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
    settings = Settings(  # type: ignore[call-arg]
        redis_url="redis://unused", wix_public_key=public_key_pem, wix_app_id=APP_ID, _env_file=None
    )
    client = TestClient(
        create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    )

    def call(
        key: str, params: dict[str, Any], request_id: str = "req-1", status: int = 200
    ) -> dict[str, Any]:
        if status == 200:
            assert misfits(action(key)["inputSchema"], params) == []
        now = int(time.time())
        data = {
            "request": {"actionKey": key, "actionParams": params, "activationContext": {}},
            "metadata": {"requestId": request_id, "instanceId": INSTANCE},
        }
        claims = {"data": data, "aud": APP_ID, "iss": "wix.com", "iat": now, "exp": now + 300}
        token = jwt.encode(claims, private_key, algorithm="RS256")
        response = client.post(
            "/wix/actions/v1/invoke", content=token, headers={"content-type": "text/plain"}
        )
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json().get("result") or response.json()["applicationError"]
        return result

    return call


def now_local() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(PROGRAM["timezone"]))


def last_week() -> str:
    today = now_local()
    monday_noon = (today - timedelta(days=today.weekday())).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    return (monday_noon - timedelta(days=3)).isoformat()


def streak_params(activity_at: str, unique: str) -> dict[str, Any]:
    return {
        "contactId": CONTACT,
        "streakId": "weekly-shopper",
        "activityId": "order_paid",
        "activityValue": 1,
        "activityAt": activity_at,
        "uniqueIdentifier": unique,
    }


def challenge_params(value: float, unique: str) -> dict[str, Any]:
    return {
        "contactId": CONTACT,
        "challengeId": "spend-500",
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": now_local().isoformat(),
        "uniqueIdentifier": unique,
    }


@pytest.mark.calendar  # the logs are dated from today: see tests/clock.py
class TestRealAnswersFitTheOutputSchemas:
    def test_execute_streak_without_and_with_a_milestone_and_its_duplicate(self, invoke) -> None:
        """Execute Streak's answers fit its output schema: no milestone, a milestone, a duplicate."""
        schema = action("execute-streak")["outputSchema"]
        first = invoke("execute-streak", streak_params(last_week(), "o-1"))
        second = invoke("execute-streak", streak_params(now_local().isoformat(), "o-2"))
        again = invoke("execute-streak", streak_params(now_local().isoformat(), "o-2"), request_id="req-2")
        assert first["achievedMilestone"] is None and first["nextMilestone"] is not None
        assert second["achievedMilestoneRewardLog"]["status"] == "pending"
        assert again["duplicate"] is True
        for result in (first, second, again):
            assert misfits(schema, result) == []

    def test_execute_challenge_halfway_then_completed(self, invoke) -> None:
        """Execute Challenge's answers fit its output schema, up to a completed challenge (no next)."""
        schema = action("execute-challenge")["outputSchema"]
        halfway = invoke("execute-challenge", challenge_params(300, "c-1"))
        done = invoke("execute-challenge", challenge_params(250.5, "c-2"))
        assert halfway["achievedMilestone"]["id"] == "half"
        assert done["challengeProgress"]["status"] == "completed" and done["nextMilestone"] is None
        for result in (halfway, done):
            assert misfits(schema, result) == []

    def test_update_reward_log_issued_then_repeated(self, invoke) -> None:
        """Update Reward Log's answers fit its output schema, the first and a repeat."""
        reward_log = invoke("execute-challenge", challenge_params(300, "c-1"))["achievedMilestoneRewardLog"]
        issued = datetime.now(UTC).replace(microsecond=0)
        params = {
            "rewardLogId": reward_log["id"],
            "couponCode": "STREAK-5OFF-7KQ2",
            "rewardIssuedAt": issued.isoformat(),
            "rewardExpiryAt": (issued + timedelta(days=30)).isoformat(),
        }
        first = invoke("update-reward-log", params)
        again = invoke("update-reward-log", params, request_id="req-2")
        assert first["rewardLog"]["status"] == "issued" and again["duplicate"] is True
        schema = action("update-reward-log")["outputSchema"]
        for result in (first, again):
            assert misfits(schema, result) == []


class TestInputSchemas:
    @pytest.mark.parametrize("key", ["execute-streak", "execute-challenge", "update-reward-log"])
    def test_the_fields_are_the_seeds_with_their_titles(self, key: str) -> None:
        """Each action's form has the seed's fields, titled as the seed names them, required as it says."""
        execute = ["Contact Id", "Activity Id", "Activity Value", "Activity At"]
        seed = {
            "execute-streak": ([*execute, "Streak Id"], ["Unique Identifier"]),
            "execute-challenge": ([*execute, "Challenge Id"], ["Unique Identifier"]),
            "update-reward-log": (
                ["Reward Log Id", "Coupon Code", "Reward Issued At", "Reward Expiry At"],
                [],
            ),
        }
        schema = action(key)["inputSchema"]
        titles = {name: prop["title"] for name, prop in schema["properties"].items()}
        required, optional = seed[key]
        assert sorted(titles.values()) == sorted(required + optional)
        assert sorted(titles[name] for name in schema["required"]) == sorted(required)

    def test_a_time_without_an_offset_is_refused_by_the_schema_as_by_the_code(self, invoke) -> None:
        """activityAt without an offset: the code refuses it (422), so the schema does too."""
        schema = action("execute-streak")["inputSchema"]
        params = streak_params("2026-11-24T10:00:00", "o-1")
        assert "timezone offset" in str(code_refusal("execute-streak", params))
        assert "timezone offset" in invoke("execute-streak", params, status=422)["description"]
        assert misfits(schema, params) == ["$.activityAt: '2026-11-24T10:00:00' is not a 'date-time'"]

    def test_an_identifier_with_a_brace_is_refused_by_the_schema_as_by_the_code(self, invoke) -> None:
        """worker/identifiers.py refuses braces in a unique identifier (422); so does the schema."""
        schema = action("execute-streak")["inputSchema"]
        params = streak_params(now_local().isoformat(), "o}:uid:1")
        assert "must not contain {, }" in invoke("execute-streak", params, status=422)["description"]
        assert [m.split(":")[0] for m in misfits(schema, params)] == ["$.uniqueIdentifier"]


class TestOutputSchemas:
    @pytest.mark.parametrize(
        ("key", "seed_fields"),
        [
            pytest.param(
                "execute-streak",
                {"log", "streakProgress", "achievedMilestone", "nextMilestone", "taskProgress",
                 "achievedMilestoneRewardLog"},
                id="execute-streak",
            ),
            pytest.param(
                "execute-challenge",
                {"log", "challengeProgress", "achievedMilestone", "nextMilestone",
                 "achievedMilestoneRewardLog"},
                id="execute-challenge",
            ),
            pytest.param("update-reward-log", {"rewardLog"}, id="update-reward-log"),
        ],
    )  # fmt: skip
    def test_the_seeds_output_fields_are_there_and_always_answered(
        self, key: str, seed_fields: set[str]
    ) -> None:
        """What seed 000 says each action returns is in its output schema, required (null when none)."""
        schema = action(key)["outputSchema"]
        assert seed_fields <= set(schema["properties"])
        assert seed_fields <= set(schema["required"])

    def test_the_reward_log_id_chains_into_update_reward_log(self) -> None:
        """achievedMilestoneRewardLog.id is a string, as Update Reward Log's rewardLogId takes."""
        for key in ("execute-streak", "execute-challenge"):
            reward_log = action(key)["outputSchema"]["properties"]["achievedMilestoneRewardLog"]
            assert reward_log["properties"]["id"]["type"] == "string"
            assert "id" in reward_log["required"]
        assert action("update-reward-log")["inputSchema"]["properties"]["rewardLogId"]["type"] == "string"
