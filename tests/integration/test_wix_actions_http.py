"""The Wix automation actions over real HTTP: uvicorn, real Redis, tokens signed as Wix signs them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.conftest import challenge_log, service_env, start_web
from worker.dev.programs import BASE_PROGRAM
from worker.store.progress import ProgressStore

APP_ID = "integration-app-id"
INSTANCE = "inst-http-actions"


@pytest.fixture(scope="module")
def web(module_redis_url: str, public_key_pem: str) -> Iterator[str]:
    process, base_url = start_web(service_env(module_redis_url, public_key_pem, WIX_APP_ID=APP_ID))
    yield base_url
    process.stop()


@pytest.fixture
def program(real_redis: Any) -> ProgressStore:
    """The instance's program, saved in the real Redis the web process reads."""
    store = ProgressStore(real_redis)
    store.save_program(INSTANCE, BASE_PROGRAM)
    return store


def invoke(base_url: str, private_key: Any, action_key: str, params: dict[str, Any], **claims: Any) -> Any:
    now = int(time.time())
    token = jwt.encode(
        {
            "data": {
                "request": {"actionKey": action_key, "actionParams": params, "activationContext": {}},
                "metadata": {"requestId": str(uuid.uuid4()), "instanceId": INSTANCE},
            },
            "aud": APP_ID,
            "iss": "wix.com",
            "iat": now,
            "exp": now + 300,
            **claims,
        },
        private_key,
        algorithm="RS256",
    )
    return httpx.post(
        f"{base_url}/wix/actions/v1/invoke", content=token, headers={"content-type": "text/plain"}, timeout=10
    )


def spend(value: str, uid: str) -> dict[str, str]:
    return challenge_log("c-http", "spend-500", value, uid)


class TestActionsOverHttp:
    def test_execute_challenge_crosses_a_milestone_and_a_retry_is_a_duplicate(
        self, web, program, private_key
    ) -> None:
        """$300 passes Halfway with its reward log; the same order again answers the original, duplicate."""
        response = invoke(web, private_key, "execute-challenge", spend("300", "order-http-1"))
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["challengeProgress"]["currentProgressValue"] == "300"
        assert result["achievedMilestone"]["id"] == "half"
        reward_log = result["achievedMilestoneRewardLog"]
        assert program.reward_log(INSTANCE, reward_log["id"]) == reward_log

        again = invoke(web, private_key, "execute-challenge", spend("300", "order-http-1"))
        assert again.status_code == 200
        assert again.json()["result"] == {**result, "duplicate": True}

    def test_update_reward_log_chained_from_execute_challenge(self, web, program, private_key) -> None:
        """The reward log id from Execute Challenge is issued by Update Reward Log, as a flow would."""
        executed = invoke(web, private_key, "execute-challenge", spend("520", "order-http-2")).json()[
            "result"
        ]
        assert [m["id"] for m in executed["achievedMilestones"]] == ["half", "full"]
        reward_log_id = executed["achievedMilestoneRewardLog"]["id"]
        issued_at = datetime.now(UTC).replace(microsecond=0)
        response = invoke(
            web,
            private_key,
            "update-reward-log",
            {
                "rewardLogId": reward_log_id,
                "couponCode": "DONE-20",
                "rewardIssuedAt": issued_at.isoformat(),
                "rewardExpiryAt": (issued_at + timedelta(days=60)).isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"]["duplicate"] is False
        stored = program.reward_log(INSTANCE, reward_log_id)
        assert stored["status"] == "issued"
        assert stored["couponCode"] == "DONE-20"
        assert response.json()["result"]["rewardLog"] == stored

    def test_a_token_for_another_app_is_401(self, web, program, real_redis, private_key) -> None:
        """The real server refuses a validly signed token addressed to another app, and records nothing."""
        response = invoke(
            web, private_key, "execute-challenge", spend("300", "order-http-3"), aud="other-app"
        )
        assert response.status_code == 401
        assert response.json()["applicationError"]["code"] == "invalid_token"
        assert not real_redis.keys("wrw:uid:*")
