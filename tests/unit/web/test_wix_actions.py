"""`POST /wix/actions/v1/invoke`: the Wix automation actions (fakeredis; real HTTP in integration)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.infra.embedded_redis import free_port
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.web.app import create_app
from worker.wix.webhook_signing import new_private_key, sign_webhook

pytestmark = pytest.mark.calendar  # dates here must hold on any day: see tests/clock.py

APP_ID = "app-1"
INSTANCE = "inst-a"
OTHER_INSTANCE = "inst-b"
URL = "/wix/actions/v1/invoke"

# Two weeks in a row need last week's log to still count, whatever day the suite runs on.
PROGRAM: dict[str, Any] = {**copy.deepcopy(BASE_PROGRAM), "lateLogGraceHours": 240}


def invocation(
    action_key: str, params: dict[str, Any], *, instance: str = INSTANCE, request_id: str | None = "req-1"
) -> dict[str, Any]:
    """The decoded `data` claim of an action call, as wix-facts.md §5.1 shows it."""
    metadata: dict[str, Any] = {"instanceId": instance, "identity": {"identityType": "APP"}}
    if request_id is not None:
        metadata["requestId"] = request_id
    return {
        "request": {
            "actionKey": action_key,
            "actionParams": params,
            "activationContext": {"invocationToken": "tok"},
        },
        "metadata": metadata,
    }


def claims(data: Any, *, aud: str = APP_ID, iss: str = "wix.com", lifetime: int = 300) -> dict[str, Any]:
    now = int(time.time())
    return {"data": data, "aud": aud, "iss": iss, "iat": now, "exp": now + lifetime}


def sign(private_key: Any, data: Any, **options: Any) -> str:
    return jwt.encode(claims(data, **options), private_key, algorithm="RS256")


def signed_without(private_key: Any, data: Any, claim: str) -> str:
    return jwt.encode({k: v for k, v in claims(data).items() if k != claim}, private_key, algorithm="RS256")


def hand_signed(header: dict[str, Any], body: dict[str, Any], secret: bytes | None) -> str:
    """A token PyJWT refuses to make: alg none, or HS256 keyed with the public key's PEM."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(body)}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def now_local() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(PROGRAM["timezone"]))


def last_week() -> str:
    """Friday noon of the previous ISO week, in the program's timezone."""
    today = now_local()
    monday_noon = (today - timedelta(days=today.weekday())).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    return (monday_noon - timedelta(days=3)).isoformat()


def streak_params(activity_at: str, **changes: Any) -> dict[str, Any]:
    return {
        "contactId": "c1",
        "streakId": "weekly-shopper",
        "activityId": "order_paid",
        "activityValue": 1,
        "activityAt": activity_at,
        **changes,
    }


def challenge_params(value: Any = "300", **changes: Any) -> dict[str, Any]:
    return {
        "contactId": "c1",
        "challengeId": "spend-500",
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": now_local().isoformat(),
        **changes,
    }


def issue_params(reward_log_id: str, code: str = "SAVE5-XYZ") -> dict[str, Any]:
    issued = datetime.now(UTC).replace(microsecond=0)
    return {
        "rewardLogId": reward_log_id,
        "couponCode": code,
        "rewardIssuedAt": issued.isoformat().replace("+00:00", "Z"),
        "rewardExpiryAt": (issued + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
    }


def settings_for(public_key_pem: str | None, app_id: str | None = APP_ID) -> Settings:
    return Settings(
        redis_url="redis://unused", wix_public_key=public_key_pem, wix_app_id=app_id, _env_file=None
    )  # type: ignore[call-arg]


@pytest.fixture
def client(public_key_pem, fake_async, fake_store) -> TestClient:
    ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
    return TestClient(
        create_app(
            settings_for(public_key_pem),
            async_redis=fake_async,
            store=fake_store,
            follow_ups=RecordedDispatcher(),
        )
    )


@pytest.fixture
def call(client, private_key):  # type: ignore[no-untyped-def]
    """Invoke an action as Wix would: a signed token for the instance, answered as JSON."""

    def invoke(action_key: str, params: dict[str, Any], **options: Any) -> Any:
        token = sign(private_key, invocation(action_key, params, **options))
        return client.post(URL, content=token, headers={"content-type": "text/plain"})

    return invoke


def post(client: TestClient, token: str | bytes) -> Any:
    return client.post(URL, content=token, headers={"content-type": "text/plain"})


def error(response: Any) -> dict[str, Any]:
    """The `applicationError` (the only key of the body) as code, message and details."""
    body = response.json()
    assert list(body) == ["applicationError"]
    found = body["applicationError"]
    assert set(found) == {"code", "description", "data"} and isinstance(found["data"], dict)
    return {
        "code": found["code"],
        "message": found["description"],
        "details": found["data"].get("problems", found["data"]),
    }


def challenge_reward_log(call) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = call("execute-challenge", challenge_params("300", uniqueIdentifier="order-1"))
    assert response.status_code == 200, response.text
    reward_log: dict[str, Any] = response.json()["result"]["achievedMilestoneRewardLog"]
    assert reward_log is not None
    return reward_log


class TestAuthentication:
    @pytest.mark.parametrize(
        ("forge", "reason"),
        [
            pytest.param(
                lambda k, pem, d: sign(k, d, aud="another-app"), "wrong_audience", id="wrong-audience"
            ),
            pytest.param(lambda k, pem, d: sign(k, d, iss="evil.example"), "wrong_issuer", id="wrong-issuer"),
            pytest.param(lambda k, pem, d: sign(k, d, lifetime=-3600), "expired", id="expired"),
            pytest.param(lambda k, pem, d: sign(new_private_key(), d), "bad_signature", id="foreign-key"),
            pytest.param(
                lambda k, pem, d: hand_signed({"alg": "none", "typ": "JWT"}, claims(d), None),
                "bad_algorithm",
                id="alg-none",
            ),
            pytest.param(
                lambda k, pem, d: hand_signed({"alg": "HS256", "typ": "JWT"}, claims(d), pem.encode()),
                "bad_algorithm",
                id="hs256-with-the-public-key",
            ),
            pytest.param(lambda k, pem, d: signed_without(k, d, "exp"), "missing_claim", id="no-exp"),
            pytest.param(lambda k, pem, d: signed_without(k, d, "iat"), "missing_claim", id="no-iat"),
            pytest.param(
                lambda k, pem, d: jwt.encode(
                    {**claims(d), "iat": int(time.time()) + 3600}, k, algorithm="RS256"
                ),
                "not_yet_valid",
                id="issued-in-the-future",
            ),
            pytest.param(lambda k, pem, d: "", "missing", id="empty-body"),
            pytest.param(lambda k, pem, d: "not-a-jwt", "malformed", id="garbage"),
        ],
    )
    def test_a_token_that_is_not_wixs_is_401_and_changes_nothing(
        self, forge, reason, client, fake_store, private_key, public_key_pem
    ) -> None:
        """A forged, foreign, expired or misaddressed token is refused with its reason; nothing is stored."""
        before = set(fake_store.keys())
        data = invocation("execute-challenge", challenge_params("300", uniqueIdentifier="forged"))
        response = post(client, forge(private_key, public_key_pem, data))
        assert response.status_code == 401
        assert error(response)["code"] == "invalid_token"
        assert error(response)["details"] == {"reason": reason}
        assert set(fake_store.keys()) == before

    def test_errors_are_in_the_shape_wixs_sdk_gives_service_plugin_errors(self, client) -> None:
        """`{"applicationError": {"code", "description", "data"}}` with the HTTP status, as `@wix/sdk`'s
        `processRequest` answers (wix-facts.md §8); not the contract's `{"error": ...}`."""
        response = post(client, "not-a-jwt")
        assert response.status_code == 401
        assert response.json() == {
            "applicationError": {
                "code": "invalid_token",
                "description": response.json()["applicationError"]["description"],
                "data": {"reason": "malformed"},
            }
        }

    def test_a_webhook_token_is_not_an_action_call(self, client, private_key) -> None:
        """A webhook JWT (no aud, no iss), validly signed, does not run an action."""
        token = sign_webhook(private_key, "wix.ecom.v1.order_approved", INSTANCE, {"id": "x"})
        response = post(client, token)
        assert response.status_code == 401
        assert error(response)["details"]["reason"] in {"wrong_audience", "missing_claim"}


class TestConfiguration:
    def test_without_an_app_id_the_endpoint_is_not_configured(
        self, public_key_pem, fake_async, fake_store, private_key
    ) -> None:
        """No WIX_APP_ID: 503 not_configured, naming it, rather than accepting any audience."""
        client = TestClient(
            create_app(
                settings_for(public_key_pem, None),
                async_redis=fake_async,
                store=fake_store,
                follow_ups=RecordedDispatcher(),
            )
        )
        response = post(client, sign(private_key, invocation("execute-challenge", challenge_params())))
        assert response.status_code == 503
        assert error(response)["code"] == "not_configured"
        assert "WIX_APP_ID" in error(response)["message"]

    def test_without_a_public_key_the_endpoint_is_not_configured(
        self, fake_async, fake_store, private_key
    ) -> None:
        """No WIX_PUBLIC_KEY: 503 not_configured."""
        client = TestClient(
            create_app(
                settings_for(None), async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher()
            )
        )
        response = post(client, sign(private_key, invocation("execute-challenge", challenge_params())))
        assert response.status_code == 503
        assert error(response)["code"] == "not_configured"
        assert "WIX_PUBLIC_KEY" in error(response)["message"]


class TestPayloadShape:
    def test_a_data_claim_that_is_a_string_is_400(self, client, private_key) -> None:
        """`data` must be an object (the action envelope), not a webhook-style JSON string."""
        data = json.dumps(invocation("execute-challenge", challenge_params()))
        response = post(client, sign(private_key, data))
        assert response.status_code == 400
        assert error(response)["code"] == "invalid_payload"
        assert "data claim must be an object" in error(response)["message"]

    def test_a_call_without_an_instance_is_400_naming_it(self, client, private_key) -> None:
        """Without metadata.instanceId there is no instance to act for."""
        data = invocation("execute-challenge", challenge_params())
        del data["metadata"]["instanceId"]
        response = post(client, sign(private_key, data))
        assert response.status_code == 400
        assert error(response)["details"] == [
            {"field": "metadata.instanceId", "message": "must be a non-empty string"}
        ]

    def test_an_unknown_action_key_is_400_naming_it(self, call) -> None:
        """An action key we do not provide is named in the answer, with the ones we do."""
        response = call("execute-quest", {"contactId": "c1"})
        assert response.status_code == 400
        body = error(response)
        assert body["code"] == "unknown_action"
        assert "'execute-quest'" in body["message"]
        assert body["details"]["known"] == ["execute-streak", "execute-challenge", "update-reward-log"]

    def test_missing_parameters_are_400_naming_each(self, call, fake_store) -> None:
        """Every missing required field is named at once, and nothing is recorded."""
        response = call("execute-streak", {"contactId": "c1", "activityValue": 1})
        assert response.status_code == 400
        fields = [problem["field"] for problem in error(response)["details"]]
        assert fields == [
            "request.actionParams.streakId",
            "request.actionParams.activityId",
            "request.actionParams.activityAt",
        ]
        assert "streakId" in error(response)["message"]
        assert not fake_store.keys("wrw:{*")

    def test_execute_challenge_needs_a_challenge_id(self, call) -> None:
        """Execute Challenge names challengeId (not streakId) when it is missing."""
        params = challenge_params()
        del params["challengeId"]
        response = call("execute-challenge", params)
        assert response.status_code == 400
        assert [p["field"] for p in error(response)["details"]] == ["request.actionParams.challengeId"]

    def test_a_non_numeric_activity_value_type_is_400(self, call) -> None:
        """An object where a number belongs is a shape error, named."""
        response = call("execute-challenge", challenge_params({"amount": "10"}))
        assert response.status_code == 400
        assert [p["field"] for p in error(response)["details"]] == ["request.actionParams.activityValue"]

    def test_without_unique_identifier_or_request_id_is_400(self, call) -> None:
        """With neither, a retry could not be recognised, so the call is refused."""
        response = call("execute-challenge", challenge_params(), request_id=None)
        assert response.status_code == 400
        assert [p["field"] for p in error(response)["details"]] == ["request.actionParams.uniqueIdentifier"]

    def test_a_field_of_the_wrong_type_is_named_once(self, call) -> None:
        """A uniqueIdentifier that is a number is one problem, its type; not also 'missing'."""
        response = call("execute-challenge", challenge_params(uniqueIdentifier=5), request_id=None)
        assert response.status_code == 400
        assert error(response)["details"] == [
            {"field": "request.actionParams.uniqueIdentifier", "message": "must be a string"}
        ]

    def test_update_reward_log_needs_all_four_fields(self, call) -> None:
        """Update Reward Log names each missing field."""
        response = call("update-reward-log", {"rewardLogId": "rl_x"})
        assert response.status_code == 400
        assert [p["field"] for p in error(response)["details"]] == [
            "request.actionParams.couponCode",
            "request.actionParams.rewardIssuedAt",
            "request.actionParams.rewardExpiryAt",
        ]

    def test_a_body_over_the_limit_is_413(self, client) -> None:
        """A body over 1 MiB is refused before any verification."""
        response = post(client, "x" * (1024 * 1024 + 1))
        assert response.status_code == 413
        assert error(response)["code"] == "too_large"


class TestExecuteStreak:
    def test_two_weeks_in_a_row_achieve_the_milestone_with_its_reward_log(self, call, fake_store) -> None:
        """The second complete week answers the milestone and the reward log a flow chains on."""
        first = call("execute-streak", streak_params(last_week(), uniqueIdentifier="o-1"))
        assert first.status_code == 200, first.text
        assert first.json()["result"]["achievedMilestone"] is None
        assert first.json()["result"]["nextMilestone"]["id"] == "two-weeks"

        second = call("execute-streak", streak_params(now_local().isoformat(), uniqueIdentifier="o-2"))
        assert second.status_code == 200, second.text
        result = second.json()["result"]
        assert result["duplicate"] is False
        assert result["applied"] is True
        assert result["log"]["streakId"] == "weekly-shopper"
        assert result["log"]["uniqueIdentifier"] == "o-2"
        assert result["streakProgress"]["currentProgressValue"] == 2
        assert result["taskProgress"]["complete"] is True
        assert result["achievedMilestone"]["id"] == "two-weeks"
        assert result["nextMilestone"]["id"] == "four-weeks"
        reward_log = result["achievedMilestoneRewardLog"]
        assert reward_log["id"].startswith("rl_")
        assert reward_log["status"] == "pending"
        assert reward_log["instanceId"] == INSTANCE
        assert reward_log["milestoneId"] == "two-weeks"
        assert result["achievedMilestoneRewardLogs"] == [reward_log]
        stored = ProgressStore(fake_store).reward_log(INSTANCE, reward_log["id"])
        assert stored == reward_log

    def test_wixs_retry_of_the_same_call_answers_the_original_with_duplicate_true(self, call) -> None:
        """Without a uniqueIdentifier, the same requestId again counts once and answers the first result."""
        first = call("execute-streak", streak_params(now_local().isoformat()), request_id="req-42")
        again = call("execute-streak", streak_params(now_local().isoformat()), request_id="req-42")
        assert first.status_code == again.status_code == 200
        assert first.json()["result"]["duplicate"] is False
        assert first.json()["result"]["log"]["uniqueIdentifier"] == "wix-action:req-42"
        assert again.json()["result"] == {**first.json()["result"], "duplicate": True}

    def test_a_repeated_unique_identifier_returns_the_original_reward_log(self, call) -> None:
        """A duplicate of the milestone-achieving log still carries the reward log id to chain on."""
        call("execute-streak", streak_params(last_week(), uniqueIdentifier="o-1"))
        first = call("execute-streak", streak_params(now_local().isoformat(), uniqueIdentifier="o-2"))
        again = call(
            "execute-streak",
            streak_params(now_local().isoformat(), uniqueIdentifier="o-2"),
            request_id="req-9",
        )
        assert again.json()["result"]["duplicate"] is True
        assert (
            again.json()["result"]["achievedMilestoneRewardLog"]["id"]
            == first.json()["result"]["achievedMilestoneRewardLog"]["id"]
        )

    def test_a_paused_streak_is_422_with_the_reason(self, call, fake_store) -> None:
        """A paused streak takes no logs; the reason says so and nothing is stored."""
        response = call("execute-streak", streak_params(now_local().isoformat(), streakId="paused-one"))
        assert response.status_code == 422
        assert error(response)["code"] == "rejected"
        assert "paused" in error(response)["message"]
        assert not fake_store.keys("wrw:uid:*")

    def test_an_unknown_streak_is_422(self, call) -> None:
        """A streak id the program does not have is named in the reason."""
        response = call("execute-streak", streak_params(now_local().isoformat(), streakId="nope"))
        assert response.status_code == 422
        assert "'nope'" in error(response)["message"]

    def test_an_activity_the_streak_does_not_take_is_422(self, call) -> None:
        """An activity id outside the streak's activityIds is refused with the reason."""
        response = call("execute-streak", streak_params(now_local().isoformat(), activityId="visited"))
        assert response.status_code == 422
        assert "does not take activity 'visited'" in error(response)["message"]

    def test_an_activity_time_without_offset_is_422(self, call) -> None:
        """activityAt must carry its timezone offset."""
        response = call("execute-streak", streak_params("2026-11-24T10:00:00"))
        assert response.status_code == 422
        assert "activityAt must include a timezone offset" in error(response)["message"]

    def test_an_instance_without_a_program_is_422(self, call) -> None:
        """An instance that has no program yet says so."""
        response = call("execute-streak", streak_params(now_local().isoformat()), instance=OTHER_INSTANCE)
        assert response.status_code == 422
        assert "no program" in error(response)["message"]


class TestExecuteChallenge:
    def test_a_log_crossing_a_milestone_answers_its_reward_log(self, call) -> None:
        """$300 of a $500 challenge passes Halfway: the progress and the Halfway reward log come back."""
        response = call("execute-challenge", challenge_params("300", uniqueIdentifier="order-1"))
        assert response.status_code == 200
        result = response.json()["result"]
        assert result["challengeProgress"]["currentProgressValue"] == "300"
        assert result["challengeProgress"]["status"] == "in_progress"
        assert result["achievedMilestone"]["id"] == "half"
        assert result["achievedMilestoneRewardLog"]["linkedSchemaSlug"] == "challenge"
        assert result["nextMilestone"]["id"] == "full"
        assert result["duplicate"] is False

    def test_different_calls_without_identifiers_count_separately(self, call) -> None:
        """Two distinct Wix calls (two requestIds) are two logs: $300 + $250 completes the $500."""
        call("execute-challenge", challenge_params("300"), request_id="req-a")
        response = call("execute-challenge", challenge_params("250"), request_id="req-b")
        result = response.json()["result"]
        assert result["challengeProgress"]["currentProgressValue"] == "550"
        assert result["challengeProgress"]["status"] == "completed"
        assert result["achievedMilestone"]["id"] == "full"

    def test_a_sum_without_a_value_is_422(self, call) -> None:
        """A sum challenge needs activityValue; the reason says so."""
        response = call("execute-challenge", challenge_params(None))
        assert response.status_code == 422
        assert "activityValue is required" in error(response)["message"]


class TestUpdateRewardLog:
    def test_the_chained_reward_log_id_is_issued_with_the_coupon(self, call, fake_store) -> None:
        """achievedMilestoneRewardLog.id chains into update-reward-log: issued, code and times stamped."""
        reward_log = challenge_reward_log(call)
        params = issue_params(reward_log["id"])
        response = call("update-reward-log", params, request_id="req-2")
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["duplicate"] is False
        issued = result["rewardLog"]
        assert issued["id"] == reward_log["id"]
        assert issued["status"] == "issued"
        assert issued["couponCode"] == "SAVE5-XYZ"
        assert issued["rewardIssuedAt"] == params["rewardIssuedAt"]
        assert issued["rewardExpiryAt"] == params["rewardExpiryAt"]
        assert ProgressStore(fake_store).reward_log(INSTANCE, reward_log["id"]) == issued

    def test_the_same_values_again_change_nothing(self, call) -> None:
        """A retried update answers the same log with duplicate true."""
        reward_log = challenge_reward_log(call)
        params = issue_params(reward_log["id"])
        first = call("update-reward-log", params)
        again = call("update-reward-log", params)
        assert again.status_code == 200
        assert again.json()["result"] == {"rewardLog": first.json()["result"]["rewardLog"], "duplicate": True}

    def test_another_code_on_an_issued_log_is_409(self, call, fake_store) -> None:
        """An issued reward keeps its first code; another one is a conflict."""
        reward_log = challenge_reward_log(call)
        call("update-reward-log", issue_params(reward_log["id"], "FIRST"))
        response = call("update-reward-log", issue_params(reward_log["id"], "SECOND"))
        assert response.status_code == 409
        assert error(response)["code"] == "conflict"
        assert ProgressStore(fake_store).reward_log(INSTANCE, reward_log["id"])["couponCode"] == "FIRST"

    def test_an_unknown_reward_log_is_404(self, call) -> None:
        """A reward log id nobody created is not found."""
        response = call("update-reward-log", issue_params("rl_doesnotexist"))
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"

    def test_another_instance_cannot_update_the_reward_log(self, call, fake_store) -> None:
        """A token for instance B cannot touch instance A's reward log: 404, and it stays pending."""
        reward_log = challenge_reward_log(call)
        response = call("update-reward-log", issue_params(reward_log["id"]), instance=OTHER_INSTANCE)
        assert response.status_code == 404
        assert ProgressStore(fake_store).reward_log(INSTANCE, reward_log["id"])["status"] == "pending"

    def test_an_expiry_before_the_issue_is_422(self, call) -> None:
        """rewardExpiryAt must come after rewardIssuedAt."""
        reward_log = challenge_reward_log(call)
        params = issue_params(reward_log["id"])
        params["rewardExpiryAt"], params["rewardIssuedAt"] = (
            params["rewardIssuedAt"],
            params["rewardExpiryAt"],
        )
        response = call("update-reward-log", params)
        assert response.status_code == 422
        assert "rewardExpiryAt must be after rewardIssuedAt" in error(response)["message"]


class TestRedisUnavailable:
    def test_an_action_while_redis_is_down_is_503(self, public_key_pem, fake_async, private_key) -> None:
        """When the store cannot be reached the answer is 503 unavailable, never a 500."""
        down = redis.Redis(port=free_port(), socket_connect_timeout=0.2, decode_responses=True)
        client = TestClient(
            create_app(
                settings_for(public_key_pem),
                async_redis=fake_async,
                store=down,
                follow_ups=RecordedDispatcher(),
            )
        )
        response = post(client, sign(private_key, invocation("execute-challenge", challenge_params())))
        assert response.status_code == 503
        assert error(response)["code"] == "unavailable"


class TestDocumentation:
    def test_the_openapi_document_describes_the_action_with_examples(self, client) -> None:
        """/docs shows a summary, the decoded request and example results for the endpoint."""
        operation = client.get("/openapi.json").json()["paths"][URL]["post"]
        assert "execute-streak" in operation["summary"]
        assert '"actionKey": "execute-streak"' in operation["description"]
        assert '"actionKey": "update-reward-log"' in operation["description"]
        examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
        assert examples["execute-streak"]["value"]["result"]["achievedMilestoneRewardLog"]["id"]
        assert examples["update-reward-log"]["value"]["result"]["rewardLog"]["status"] == "issued"
        assert operation["requestBody"]["content"]["text/plain"]["schema"] == {"type": "string"}
