"""Bad input is a 4xx with the error shape, never a 500 and never a half write (fakeredis; every
feature configured). The schemathesis run over the OpenAPI document is in tests/integration."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests import wix_samples
from worker.cli import flower_command
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.program import ProgramInvalid
from worker.infra.embedded_redis import free_port
from worker.infra.error_reporting import scrub_event
from worker.infra.redis_client import WEB_TIMEOUT
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.storefront.widget_tokens import mint_widget_token
from worker.sync.member_directory import record_contact
from worker.sync.standard_webhooks import StandardWebhook
from worker.web.admin import apply_program
from worker.web.app import create_app
from worker.wix.webhook_signing import envelope_claims

ADMIN_TOKEN = "admin-secret"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
APP_ID = "app-1"
INSTANCE = "inst-1"
SYNC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def configured(public_key_pem: str) -> Settings:
    """Settings with every feature on: Wix key and app, admin token, points sync, widget sessions."""
    return Settings(
        redis_url="redis://unused",
        wix_public_key=public_key_pem,
        wix_app_id=APP_ID,
        wix_app_secret="app-secret",
        admin_token=ADMIN_TOKEN,
        external_sync_secret=SYNC_SECRET,
        widget_token_secret="w" * 40,
        _env_file=None,
    )  # type: ignore[call-arg]


@pytest.fixture
def client(public_key_pem, fake_async, fake_store) -> TestClient:
    app = create_app(
        configured(public_key_pem), async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher()
    )
    app.state.points_sync_send = lambda task, kwargs: None
    ProgressStore(fake_store).save_program(INSTANCE, copy.deepcopy(BASE_PROGRAM))
    record_contact(fake_store, INSTANCE, "c1", "jane@example.com", 1)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api_key(client) -> dict[str, str]:
    answer = client.post(f"/admin/v1/instances/{INSTANCE}/api-keys", headers=ADMIN)
    assert answer.status_code == 201
    return {"authorization": f"Bearer {answer.json()['apiKey']}"}


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error body of a `status` answer, in the contract's shape (the Wix actions': Wix's
    `applicationError`, read here as code, message and details)."""
    assert response.status_code == status, response.text
    answer = response.json()
    if "applicationError" in answer:
        error = answer["applicationError"]
        assert set(error) == {"code", "description", "data"}
        return {"code": error["code"], "message": error["description"], "details": error["data"]}
    body: dict[str, Any] = answer["error"]
    assert set(body) == {"code", "message", "details"}
    return body


def challenge_log(**changes: Any) -> dict[str, Any]:
    return {
        "contactId": "c1",
        "challengeId": "spend-500",
        "activityId": "order_paid",
        "activityValue": "10",
        "activityAt": datetime.now(UTC).isoformat(),
        "uniqueIdentifier": "order-1",
        **changes,
    }


def signed_points(client: TestClient, body: bytes, **header_changes: str) -> Any:
    headers = StandardWebhook(SYNC_SECRET).headers(header_changes.pop("msg_id", "msg_1"), body)
    headers.update(header_changes)
    return client.post(
        "/sync/v1/points", content=body, headers={**headers, "content-type": "application/json"}
    )


def invoke(client: TestClient, private_key: Any, action_key: str, params: dict[str, Any]) -> Any:
    """A Wix action call for the instance, signed as Wix signs it."""
    now = int(time.time())
    data = {
        "request": {"actionKey": action_key, "actionParams": params},
        "metadata": {"instanceId": INSTANCE, "requestId": "req-1"},
    }
    claims = {"data": data, "aud": APP_ID, "iss": "wix.com", "iat": now, "exp": now + 300}
    token = jwt.encode(claims, private_key, algorithm="RS256")
    return client.post("/wix/actions/v1/invoke", content=token, headers={"content-type": "text/plain"})


class TestWidgetScript:
    def test_a_non_ascii_hash_is_404(self, client) -> None:
        """`widget.%C3%A9.js` names no script: 404, not a 500 from comparing non-ASCII text."""
        error = error_of(client.get("/widget/v1/widget.%C3%A9.js"), 404)
        assert error["code"] == "not_found"


class TestPointsSyncInput:
    def test_a_4400_digit_timestamp_is_401(self, client) -> None:
        """A timestamp no clock can have is refused as a bad timestamp (401), not parsed into a 500."""
        body = json.dumps({"instanceId": INSTANCE}).encode()
        answer = client.post(
            "/sync/v1/points",
            content=body,
            headers={"webhook-id": "msg_1", "webhook-timestamp": "9" * 4400, "webhook-signature": "v1,AAAA"},
        )
        assert error_of(answer, 401)["details"] == {"reason": "invalid_timestamp"}

    def test_a_signed_body_nested_100000_deep_is_422(self, client) -> None:
        """JSON too deep to parse is answered 422 `invalid_request`, like any body that is not JSON."""
        body = b"[" * 100_000 + b"]" * 100_000
        assert error_of(signed_points(client, body), 422)["code"] == "invalid_request"


class TestActivityValueRange:
    @pytest.mark.parametrize("value", ["1e99999999", "1E+400", 1e308, "9" * 4000, "0.0000001"])
    def test_a_value_out_of_range_is_422_naming_the_range(self, client, api_key, fake_store, value) -> None:
        """Values Decimal cannot sum safely are refused with the allowed range; nothing is stored."""
        answer = client.post(
            "/schema/challenge_log/record", json=challenge_log(activityValue=value), headers=api_key
        )
        assert "from 0 to 1000000000000" in error_of(answer, 422)["message"]
        assert not fake_store.keys("wrw:{inst-1:c1}*")

    @pytest.mark.parametrize("value", ["1e99999999", "1E+400", 1e308])
    def test_execute_challenge_refuses_it_too(self, client, private_key, fake_store, value) -> None:
        """The Wix action answers the same 422 with the range, and stores nothing."""
        answer = invoke(client, private_key, "execute-challenge", challenge_log(activityValue=value))
        assert "from 0 to 1000000000000" in error_of(answer, 422)["message"]
        assert fake_store.keys("wrw:{inst-1:*") == []

    def test_a_4000_digit_integer_is_422(self, client, api_key) -> None:
        """A JSON integer of 4,000 digits is refused, not stored."""
        body = json.dumps(challenge_log()).replace('"10"', "9" * 4000)
        answer = client.post(
            "/schema/challenge_log/record",
            content=body,
            headers={**api_key, "content-type": "application/json"},
        )
        assert answer.status_code == 422


class TestTimesOutOfRange:
    @pytest.mark.parametrize(
        ("issued", "expiry"),
        [
            ("0001-01-01T00:00:00+14:00", "2030-01-01T00:00:00Z"),
            ("2030-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"),
        ],
    )
    def test_a_reward_log_time_beyond_utc_is_422(self, client, api_key, fake_store, issued, expiry) -> None:
        """Times that do not exist in UTC are refused with the range; the reward log is unchanged."""
        answer = client.post(
            "/schema/challenge_log/record", json=challenge_log(activityValue="300"), headers=api_key
        )
        reward_log = answer.json()["achievedMilestoneRewardLog"]
        patch = {"couponCode": "SAVE", "rewardIssuedAt": issued, "rewardExpiryAt": expiry}
        answer = client.patch(f"/schema/reward_log/{reward_log['id']}", json=patch, headers=api_key)
        assert "must be between 1970-01-01" in error_of(answer, 422)["message"]
        shown = client.get(f"/schema/reward_log/{reward_log['id']}", headers=api_key).json()
        assert shown["status"] == "pending"

    def test_update_reward_log_refuses_them_too(self, client, private_key) -> None:
        """The Wix action `update-reward-log` answers 422 with the range for the same times."""
        params = {
            "rewardLogId": "rl-1",
            "couponCode": "SAVE",
            "rewardIssuedAt": "0001-01-01T00:00:00+14:00",
            "rewardExpiryAt": "9999-12-31T23:59:59-14:00",
        }
        answer = invoke(client, private_key, "update-reward-log", params)
        assert "must be between 1970-01-01" in error_of(answer, 422)["message"]


class TestProgramDocument:
    @pytest.mark.parametrize(
        "document",
        [
            "[" * 500 + "]" * 500,
            "streaks: " + "[" * 500 + "]" * 500,
            "".join("  " * depth + "a:\n" for depth in range(500)),
        ],
        ids=["json", "yaml-flow", "yaml-block"],
    )
    def test_a_document_500_deep_is_422(self, client, document) -> None:
        """A deeply nested program is refused at a bounded depth, with the path and the limit."""
        answer = client.put(f"/admin/v1/instances/{INSTANCE}/program", content=document, headers=ADMIN)
        error = error_of(answer, 422)
        assert error["details"][0]["message"].startswith("nested too deeply")

    def test_a_1_mib_yaml_list_is_refused_for_its_count(self, client) -> None:
        """A 1 MiB YAML list is refused for its number of values (the loader stops counting at the bound,
        so its cost is bounded; no timing here: a loaded machine would make that flaky)."""
        document = "- 1\n" * (256 * 1024 - 1)
        answer = client.put(f"/admin/v1/instances/{INSTANCE}/program", content=document, headers=ADMIN)
        assert error_of(answer, 422)["details"][0]["message"].startswith("too many values")

    def test_aliases_count_what_they_repeat(self, client) -> None:
        """A billion laughs is refused: an alias counts as the values it repeats."""
        lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
        for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
        answer = client.put(
            f"/admin/v1/instances/{INSTANCE}/program", content="\n".join(lines), headers=ADMIN
        )
        assert error_of(answer, 422)["details"][0]["message"].startswith("too many values")


class TestJobs:
    def test_a_since_that_is_not_a_date_is_422(self, client) -> None:
        """`since: not-a-date` is refused naming the field; no job starts."""
        answer = client.post(
            f"/admin/v1/instances/{INSTANCE}/jobs",
            json={"name": "catch-up", "since": "not-a-date"},
            headers=ADMIN,
        )
        assert error_of(answer, 422)["details"][0]["path"] == "body.since"
        assert client.app.state.follow_ups.jobs == []  # type: ignore[attr-defined]

    def test_a_since_with_its_offset_starts_the_job(self, client) -> None:
        """An ISO instant with an offset is taken."""
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        answer = client.post(
            f"/admin/v1/instances/{INSTANCE}/jobs", json={"name": "catch-up", "since": since}, headers=ADMIN
        )
        assert answer.status_code == 202


class TestIdentifiersStayInTheirKey:
    def test_ids_that_would_reach_into_another_key_are_422(self, client, api_key, fake_store) -> None:
        """`Q}:rewards` as a log id, then `c}:uid:Q` as a contact: both 422 naming the rule, nothing
        written, and the member's reward logs still work."""
        first = client.post(
            "/schema/challenge_log/record",
            json=challenge_log(contactId="c", uniqueIdentifier="Q}:rewards"),
            headers=api_key,
        )
        assert "must not contain {, }" in str(error_of(first, 422)["details"])
        second = client.post(
            "/schema/challenge_log/record",
            json=challenge_log(contactId="c}:uid:Q", activityValue="300"),
            headers=api_key,
        )
        assert "must not contain {, }" in str(error_of(second, 422)["details"])
        assert fake_store.keys("wrw:{inst-1:c*") == []
        progress = client.get("/v1/members/c/progress", headers=api_key)
        assert progress.status_code == 200
        assert progress.json()["rewardLogs"] == []

    def test_a_progress_path_with_a_brace_is_422(self, client, api_key) -> None:
        """A contact id with a brace in the URL is refused before it names a key."""
        assert error_of(client.get("/v1/members/c%7D:uid:Q/progress", headers=api_key), 422)

    @pytest.mark.parametrize(
        ("field", "value"), [("contactId", "c" * 100_000), ("uniqueIdentifier", "u" * 200_000)]
    )
    def test_wix_actions_keep_the_rest_limits(self, client, private_key, fake_store, field, value) -> None:
        """An action's 100k-character contactId or 200k-character uniqueIdentifier is 422, not stored."""
        answer = invoke(client, private_key, "execute-challenge", {**challenge_log(), field: value})
        assert f"{field} must be at most" in error_of(answer, 422)["message"]
        assert fake_store.keys("wrw:{inst-1:*") == []

    def test_an_admin_instance_id_with_a_brace_is_422(self, client) -> None:
        """Instance ids are letters, digits, `.`, `_` and `-`: `a}b` cannot name a program."""
        answer = client.put("/admin/v1/instances/a%7Db/program", json=BASE_PROGRAM, headers=ADMIN)
        assert error_of(answer, 422)["details"][0]["path"] == "path.instance_id"

    def test_the_cli_refuses_such_an_instance_id_too(self, fake_store) -> None:
        """`program apply --instance a:b` (shared with the route) names the rule; nothing is stored."""
        with pytest.raises(ProgramInvalid) as refused:
            apply_program(ProgressStore(fake_store), "a:b", json.dumps(BASE_PROGRAM))
        assert refused.value.problems[0]["path"] == "instanceId"
        assert fake_store.keys("wrw:program:a:b") == []

    def test_a_20000_character_webhook_id_is_422_and_not_kept(self, client, fake_store) -> None:
        """A signed points change whose webhook-id is 20,000 characters is refused; no key holds it."""
        body = json.dumps(
            {"instanceId": INSTANCE, "transactionId": "t1", "amount": 5, "email": "jane@example.com"}
        ).encode()
        answer = signed_points(client, body, msg_id="m" * 20_000)
        assert error_of(answer, 422)["details"] == [
            {"path": "webhook-id", "message": "must be at most 256 characters"}
        ]
        assert not [key for key in fake_store.keys("wrw:sync:*") if "mmmm" in key]


@pytest.fixture
def frozen_redis() -> Iterator[str]:
    """A TCP port that takes connections and never answers, as a stopped (SIGSTOP) Redis does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture
def closed_redis() -> str:
    """A port nothing listens on, as a Redis that is down."""
    return f"redis://127.0.0.1:{free_port()}/0"


class TestRedisUnavailable:
    @pytest.mark.parametrize("server", ["frozen_redis", "closed_redis"])
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", f"/admin/v1/instances/{INSTANCE}/program", None),
            ("PUT", f"/admin/v1/instances/{INSTANCE}/program", BASE_PROGRAM),
            ("POST", f"/admin/v1/instances/{INSTANCE}/api-keys", None),
            ("POST", f"/admin/v1/instances/{INSTANCE}/jobs", {"name": "expire-rewards"}),
            ("GET", f"/admin/v1/instances/{INSTANCE}/jobs/job-1", None),
        ],
    )
    def test_admin_routes_answer_503_fast(self, request, public_key_pem, server, method, path, body) -> None:
        """With Redis down or frozen, the admin routes answer 503 `unavailable` within a few of the web's
        Redis timeouts (WEB_TIMEOUT, 1 s): bounded by the timeout, not by TCP's minutes. The margin is for
        a starved machine (the suite runs in four processes on two cores), not for a slower design."""
        settings = configured(public_key_pem).model_copy(
            update={"redis_url": request.getfixturevalue(server)}
        )
        client = TestClient(
            create_app(settings, follow_ups=RecordedDispatcher()), raise_server_exceptions=False
        )
        started = time.monotonic()
        answer = client.request(method, path, json=body, headers=ADMIN)
        assert time.monotonic() - started < 4 * WEB_TIMEOUT
        assert error_of(answer, 503)["code"] == "unavailable"

    def test_a_redemption_whose_token_redis_cannot_check_is_503(self, public_key_pem, closed_redis) -> None:
        """A good widget token is checked before the body, outside the routes' error handlers; whether the
        site removed the app is Redis's to say, so Redis down there is 503 `unavailable`, not a 500."""
        settings = configured(public_key_pem).model_copy(update={"redis_url": closed_redis})
        client = TestClient(
            create_app(settings, follow_ups=RecordedDispatcher()), raise_server_exceptions=False
        )
        token, _ = mint_widget_token("w" * 40, INSTANCE, "c-1", "m-1", datetime.now(UTC))
        answer = client.post(
            "/widget/v1/redeem", json={"rewardId": "r-1"}, headers={"authorization": f"Bearer {token}"}
        )
        assert error_of(answer, 503)["code"] == "unavailable"


BODY_ROUTES = [
    ("PUT", f"/admin/v1/instances/{INSTANCE}/program"),
    ("POST", f"/admin/v1/instances/{INSTANCE}/jobs"),
    ("POST", "/schema/challenge_log/record"),
    ("PATCH", "/schema/reward_log/rl-1"),
    ("POST", "/sync/v1/points"),
    ("POST", "/wix/actions/v1/invoke"),
    ("POST", "/webhooks/wix"),
    ("POST", "/widget/v1/session"),
]


class TestBodyLimit:
    @pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
    def test_a_body_over_1_mib_is_413_on_every_route(self, client, method, path) -> None:
        """Any route, with or without credentials: a body over 1 MiB is 413 `too_large`."""
        answer = client.request(method, path, content=b"[" * (1024 * 1024 + 1))
        assert error_of(answer, 413)["code"] == "too_large"

    @pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
    def test_a_chunked_body_over_1_mib_is_413(self, client, api_key, method, path) -> None:
        """Without a Content-Length, the body is cut off as soon as it passes the limit."""

        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                yield b" " * 65536

        credentials = api_key if path.startswith("/schema/") else ADMIN
        answer = client.request(method, path, content=chunks(), headers=credentials)
        assert error_of(answer, 413)["code"] == "too_large"


class TestCredentialsBeforeBody:
    @pytest.mark.parametrize(
        ("method", "path"), [(m, p) for m, p in BODY_ROUTES if p.startswith(("/admin/", "/schema/"))]
    )
    @pytest.mark.parametrize("authorization", [b"", b"Bearer wrong"])
    def test_no_body_is_read_without_credentials(self, client, method, path, authorization) -> None:
        """Admin and records routes answer 401 from the headers alone: the body is never received."""
        status, received = call_asgi(client, method, path, authorization)
        assert (status, received) == (401, 0)

    def test_a_widget_session_without_a_wix_token_is_refused_before_its_body(self, client) -> None:
        """POST /widget/v1/session with no token at all: 401 from the headers, the body never received;
        with one, the body is read and Wix is asked (here: not configured, 503)."""
        assert call_asgi(client, "POST", "/widget/v1/session", b"") == (401, 0)
        status, received = call_asgi(client, "POST", "/widget/v1/session", b"Bearer visitor-token")
        assert received > 0
        assert status != 401

    @pytest.mark.parametrize("authorization", [b"", b"Bearer not-a-widget-token"])
    def test_a_redemption_without_a_good_widget_token_is_refused_before_its_body(
        self, client, authorization
    ) -> None:
        """POST /widget/v1/redeem: the widget token is verified from the headers, the body never received."""
        assert call_asgi(client, "POST", "/widget/v1/redeem", authorization) == (401, 0)


def call_asgi(client: Any, method: str, path: str, authorization: bytes) -> tuple[int, int]:
    """The app called as a server would, with a 1 MB JSON body announced: the answer's status and how many
    times the app asked for the body."""
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append({})
        return {"type": "http.request", "body": b"{}" * 1000, "more_body": len(received) < 500}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000000")]
    if authorization:
        headers.append((b"authorization", authorization))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    asyncio.run(client.app(scope, receive, send))
    return sent[0]["status"], len(received)


def webhook_token(private_key: Any, *, drop: tuple[str, ...] = (), issued_at: int | None = None) -> str:
    """A signed AppInstalled webhook (a legacy event: its id is derived from the token)."""
    claims = envelope_claims("AppInstalled", INSTANCE, wix_samples.app_installed(), issued_at=issued_at)
    return jwt.encode({k: v for k, v in claims.items() if k not in drop}, private_key, algorithm="RS256")


def post_webhook(client: TestClient, token: str) -> Any:
    return client.post("/webhooks/wix", content=token, headers={"content-type": "text/plain"})


class TestWebhookTokens:
    @pytest.mark.parametrize("padding", ["=", "=="])
    def test_a_padded_signature_is_not_a_new_event(self, client, fake_store, private_key, padding) -> None:
        """The same token with `=` padding on its signature is refused (401): one event, one id."""
        token = webhook_token(private_key)
        assert post_webhook(client, token).json() == {"status": "queued"}
        answer = post_webhook(client, token + padding)
        assert error_of(answer, 401)["details"] == {"reason": "malformed"}
        assert fake_store.llen("events") == 1

    def test_a_token_with_neither_exp_nor_iat_is_401(self, client, fake_store, private_key) -> None:
        """A signed token whose age cannot be told is refused, and nothing is queued."""
        answer = post_webhook(client, webhook_token(private_key, drop=("exp", "iat")))
        assert error_of(answer, 401)["details"] == {"reason": "missing_claim"}
        assert fake_store.llen("events") == 0

    def test_a_token_without_exp_is_good_for_48_hours_after_iat(
        self, client, fake_store, private_key
    ) -> None:
        """No exp: an iat within 48 hours is queued; one from three days ago is refused as expired."""
        fresh = webhook_token(private_key, drop=("exp",), issued_at=int(time.time()) - 3600)
        assert post_webhook(client, fresh).json() == {"status": "queued"}
        stale = webhook_token(private_key, drop=("exp",), issued_at=int(time.time()) - 3 * 86400)
        assert error_of(post_webhook(client, stale), 401)["details"] == {"reason": "expired"}
        assert fake_store.llen("events") == 1


class TestSecretsInUrls:
    def test_sentry_gets_no_query_string(self) -> None:
        """`?token=...` is filtered from an error report's request, query string and URL alike."""
        event = {"request": {"url": "http://h/admin/v1/x?token=s3cret", "query_string": "token=s3cret"}}
        scrubbed = scrub_event(event, {})
        assert "s3cret" not in json.dumps(scrubbed)
        assert scrubbed["request"]["url"] == "http://h/admin/v1/x"


class TestFlowerListensLocally:
    def test_flower_listens_on_localhost_by_default(self) -> None:
        """Flower's /metrics and /healthcheck have no auth: by default it listens on 127.0.0.1 only."""
        command = flower_command(Settings(_env_file=None))  # type: ignore[call-arg]
        assert "--address=127.0.0.1" in command
        assert "--port=5555" in command

    def test_flower_address_opens_it_on_purpose(self, monkeypatch) -> None:
        """FLOWER_ADDRESS=0.0.0.0 is how an operator exposes it (behind a proxy that authenticates)."""
        monkeypatch.setenv("FLOWER_ADDRESS", "0.0.0.0")
        assert "--address=0.0.0.0" in flower_command(Settings(_env_file=None))  # type: ignore[call-arg]
