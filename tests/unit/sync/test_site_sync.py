"""The points sync with per-site settings: each instance's own URL, secret and matching, both ways."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.dispatch import APPLY_EXTERNAL_POINTS, PUSH_POINTS_UPDATE, RecordedDispatcher
from worker.settings import Settings, SettingsError
from worker.store.site_settings import SiteSettingsPatch, update_site_settings
from worker.sync.member_directory import record_contact
from worker.sync.points import forward_points_update
from worker.sync.standard_webhooks import StandardWebhook
from worker.web.app import create_app
from worker.wix.events import normalize
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID, EventOptions, build_payload

A, B, C = "inst-a", "inst-b", "inst-c"
SECRET_A = "whsec_c2l0ZS1hLW93bi1zZWNyZXQtMjQtYnl0ZXMhIQ=="
SECRET_B = "whsec_YW5vdGhlci1zaXRlLXNlY3JldC0yNC1ieXRlcyE="
ENV_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL_A = "https://a.example.test/hooks"
URL_B = "https://b.example.test/hooks"
ADMIN_TOKEN = "admin-token"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def env(**changes: Any) -> Settings:
    values: dict[str, Any] = {"redis_url": "redis://unused", "admin_token": ADMIN_TOKEN, "_env_file": None}
    return Settings(**{**values, **changes})


def own(fake_store, instance_id: str, **fields: Any) -> None:
    update_site_settings(fake_store, instance_id, SiteSettingsPatch.model_validate(fields))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, task: str, kwargs: dict[str, Any]) -> None:
        self.sent.append((task, json.loads(json.dumps(kwargs))))


@pytest.fixture
def two_sites(fake_store) -> None:
    """A matches by email with its own URL and secret, B by contact id with its own; C set nothing."""
    own(fake_store, A, syncUrl=URL_A, syncSecret=SECRET_A)
    own(fake_store, B, syncUrl=URL_B, syncSecret=SECRET_B, syncMatchBy="contactId")
    record_contact(fake_store, A, "ca", "ann@a.example", 1)
    record_contact(fake_store, B, "cb", "bob@b.example", 1)


def api_with(fake_async, fake_store, public_key_pem, **changes: Any) -> tuple[TestClient, Recorder]:
    app = create_app(
        env(wix_public_key=public_key_pem, **changes),
        async_redis=fake_async,
        store=fake_store,
        follow_ups=RecordedDispatcher(),
    )
    sent = Recorder()
    app.state.points_sync_send = sent
    return TestClient(app, raise_server_exceptions=False), sent


def post(api: TestClient, body: dict[str, Any] | bytes, secret: str, msg_id: str = "msg_1") -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = StandardWebhook(secret).headers(msg_id, raw, now=time.time())
    return api.post("/sync/v1/points", content=raw, headers={**headers, "content-type": "application/json"})


def for_a(**changes: Any) -> dict[str, Any]:
    return {"instanceId": A, "transactionId": "ext-1", "amount": 5, "email": "ann@a.example", **changes}


def for_b(**changes: Any) -> dict[str, Any]:
    return {"instanceId": B, "transactionId": "ext-1", "amount": 5, "contactId": "cb", **changes}


class TestInboundPerSite:
    @pytest.fixture
    def api(self, fake_async, fake_store, public_key_pem, two_sites) -> tuple[TestClient, Recorder]:
        """No secret in the environment: only the sites' own."""
        return api_with(fake_async, fake_store, public_key_pem)

    def test_each_instance_s_sender_is_verified_with_its_own_secret(self, api) -> None:
        """A's message signed with A's secret, B's with B's: both queued, each for its own contact."""
        client, sent = api
        assert post(client, for_a(), SECRET_A, "msg_a").status_code == 202
        assert post(client, for_b(), SECRET_B, "msg_b").status_code == 202
        assert [(task, kwargs["instance_id"], kwargs["contact_id"]) for task, kwargs in sent.sent] == [
            (APPLY_EXTERNAL_POINTS, A, "ca"),
            (APPLY_EXTERNAL_POINTS, B, "cb"),
        ]

    def test_a_message_signed_with_a_s_secret_naming_b_is_401(self, api, fake_store) -> None:
        """Answered exactly as a wrong signature; nothing queued, nothing claimed."""
        client, sent = api
        crossed = post(client, for_b(), SECRET_A)
        wrong = post(client, for_b(), ENV_SECRET)
        assert crossed.status_code == 401
        assert crossed.json() == wrong.json()
        assert crossed.json()["error"]["details"] == {"reason": "no_matching_signature"}
        assert sent.sent == []
        assert fake_store.keys("*webhook-id*") == []

    def test_an_instance_without_a_secret_is_answered_as_a_wrong_signature(self, api) -> None:
        """C has no secret and there is none in the environment: 401, the same answer as a bad signature,
        so a sender cannot tell an unconfigured (or unknown) instance from a wrong secret."""
        client, sent = api
        unknown = post(client, for_a(instanceId=C), SECRET_A)
        wrong = post(client, for_a(), SECRET_B)
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()
        assert sent.sent == []

    def test_a_stale_timestamp_is_told_whatever_the_instance(self, api) -> None:
        """The header checks run the same for an instance without a secret: no difference to read."""
        client, _ = api
        raw = json.dumps(for_a(instanceId=C)).encode()
        headers = StandardWebhook(SECRET_A).headers("msg_1", raw, now=time.time() - 3600)
        answer = client.post("/sync/v1/points", content=raw, headers=headers)
        assert answer.json()["error"]["details"] == {"reason": "timestamp_too_old"}

    def test_two_systems_may_use_the_same_webhook_id(self, api) -> None:
        """Replays are told apart per instance: A's `msg_1` does not make B's `msg_1` a replay."""
        client, sent = api
        assert post(client, for_a(), SECRET_A, "msg_1").status_code == 202
        assert post(client, for_b(), SECRET_B, "msg_1").status_code == 202
        assert post(client, for_b(transactionId="ext-2"), SECRET_B, "msg_1").status_code == 409
        assert len(sent.sent) == 2

    def test_each_instance_matches_its_members_its_own_way(self, api) -> None:
        """B matches by contact id: an email alone is 422 there, while A takes it."""
        client, _ = api
        answer = post(client, for_b(contactId=None, email="bob@b.example"), SECRET_B)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"] == [{"path": "contactId", "message": "Field required"}]

    def test_a_body_naming_an_instance_twice_is_read_as_one(self, api) -> None:
        """`instanceId` twice: the instance whose secret is checked is the one the message is applied to."""
        client, sent = api
        raw = (
            b'{"instanceId": "inst-b", "transactionId": "t", "amount": 5, '
            b'"email": "ann@a.example", "contactId": "cb", "instanceId": "inst-a"}'
        )
        assert post(client, raw, SECRET_B).status_code == 401
        assert post(client, raw, SECRET_A, "msg_2").status_code == 202
        assert [kwargs["instance_id"] for _, kwargs in sent.sent] == [A]

    def test_a_site_secret_replaces_the_environment_s_for_that_site(
        self, fake_async, fake_store, public_key_pem, two_sites
    ) -> None:
        """With EXTERNAL_SYNC_SECRET set, A still takes only its own; C (nothing set) takes the env's."""
        client, sent = api_with(fake_async, fake_store, public_key_pem, external_sync_secret=ENV_SECRET)
        record_contact(fake_store, C, "cc", "cy@c.example", 1)
        assert post(client, for_a(), ENV_SECRET).status_code == 401
        assert post(client, for_a(), SECRET_A).status_code == 202
        assert post(client, for_a(instanceId=C, email="cy@c.example"), ENV_SECRET, "msg_c").status_code == 202
        assert [kwargs["instance_id"] for _, kwargs in sent.sent] == [A, C]

    def test_the_sync_configured_nowhere_is_503(self, fake_async, fake_store, public_key_pem) -> None:
        """No secret in the environment nor in any site: 503 naming the setting (as before per-site)."""
        client, _ = api_with(fake_async, fake_store, public_key_pem)
        answer = post(client, for_a(), SECRET_A)
        assert answer.status_code == 503
        assert "EXTERNAL_SYNC_SECRET" in answer.json()["error"]["message"]


def points_event(instance_id: str) -> Any:
    payload = build_payload(
        "wix.loyalty.v1.account_points_updated", EventOptions(contact_id="c1", latest_transaction=True)
    )
    payload["actionEvent"]["body"]["account"]["latestTransaction"].update(
        id=f"wix-tx-{instance_id}", appId=WIX_LOYALTY_APP_ID
    )
    return normalize(
        event_type="wix.loyalty.v1.account_points_updated",
        instance_id=instance_id,
        event_id=payload["id"],
        payload=payload,
    )


class TestOutboundPerSite:
    def test_a_change_is_queued_only_for_an_instance_whose_sync_is_on(self, fake_store, two_sites) -> None:
        """No URL in the environment: A (its own URL and secret) sends, C (nothing set) does not."""
        sent = Recorder()
        for instance_id in (A, C):
            forward_points_update(
                fake_store, points_event(instance_id), our_app_id=None, sync_defaults=env(), send=sent
            )
        assert [(task, kwargs["instance_id"]) for task, kwargs in sent.sent] == [(PUSH_POINTS_UPDATE, A)]

    def test_the_environment_s_url_with_the_site_s_secret_is_on(self, fake_store) -> None:
        """Fields resolve one by one: EXTERNAL_SYNC_URL and A's own secret make A's sync."""
        own(fake_store, A, syncSecret=SECRET_A)
        sent = Recorder()
        defaults = env(external_sync_url=URL_A)
        outcome = forward_points_update(
            fake_store, points_event(A), our_app_id=None, sync_defaults=defaults, send=sent
        )
        assert outcome == "queued"


class External:
    """Both external systems behind one transport: each request kept with the URL it went to."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


@pytest.fixture
def push_world(fake_store, monkeypatch, two_sites) -> External:
    """The push task on fakeredis with no Wix credentials (the mapping is enough when the event names its
    transaction) and no sync in the environment."""
    import tasks.points_sync

    external = External()

    def no_wix() -> Any:
        raise SettingsError("no Wix credentials")

    monkeypatch.setattr(tasks.points_sync, "get_settings", lambda: env())
    monkeypatch.setattr(tasks.points_sync, "redis_store", lambda: fake_store)
    monkeypatch.setattr(tasks.points_sync, "wix_client", no_wix)
    monkeypatch.setattr(
        tasks.points_sync, "_http", lambda: httpx.Client(transport=httpx.MockTransport(external.handle))
    )
    return external


def push(instance_id: str, contact_id: str) -> str:
    import tasks.points_sync

    kwargs = {
        "instance_id": instance_id,
        "event_id": "evt-1",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "account": {"id": f"acct-{instance_id}", "contactId": contact_id, "balance": 5},
        "transaction": {"id": f"wix-tx-{instance_id}", "type": "ADJUST", "amount": 5},
    }
    return str(tasks.points_sync.push_points_update_task.apply(kwargs=kwargs).get())


class TestThePushTaskPerSite:
    def test_each_instance_s_change_goes_to_its_url_with_its_secret_and_matching(self, push_world) -> None:
        """A's change reaches A's URL signed with A's secret (`matchBy` email); B's, B's (contactId)."""
        assert push(A, "ca") == "delivered"
        assert push(B, "cb") == "delivered"
        to_a, to_b = push_world.requests
        assert (str(to_a.url), str(to_b.url)) == (URL_A, URL_B)
        StandardWebhook(SECRET_A).verify(to_a.content, dict(to_a.headers))
        StandardWebhook(SECRET_B).verify(to_b.content, dict(to_b.headers))
        assert json.loads(to_a.content)["data"]["matchBy"] == "email"
        assert json.loads(to_b.content)["data"]["matchBy"] == "contactId"

    def test_an_instance_without_a_url_is_not_sent_anywhere(self, push_world) -> None:
        """C set nothing and the environment has no URL: the task refuses (it is parked), nothing posted."""
        with pytest.raises(SettingsError):
            push(C, "cc")
        assert push_world.requests == []


class TestNoSecretInLogs:
    def test_no_secret_reaches_a_log_line(
        self, fake_async, fake_store, public_key_pem, push_world, caplog
    ) -> None:
        """Setting the secrets through the admin route, a refused and an accepted inbound message, a refused
        PATCH and both pushes, logged at DEBUG: neither secret appears."""
        client, _ = api_with(fake_async, fake_store, public_key_pem, external_sync_secret=ENV_SECRET)
        url = f"/admin/v1/instances/{A}/settings"
        with caplog.at_level(logging.DEBUG):
            assert client.patch(url, json={"syncSecret": SECRET_A}, headers=ADMIN).status_code == 200
            assert client.patch(url, json={"syncSecret": "whsec_c2hvcnQ="}, headers=ADMIN).status_code == 422
            assert client.get(url, headers=ADMIN).status_code == 200
            assert post(client, for_b(), SECRET_A).status_code == 401
            assert post(client, for_a(), SECRET_A).status_code == 202
            push(A, "ca")
            push(B, "cb")
        assert caplog.records, "the flow logs something"
        logged = caplog.text + " ".join(json.dumps(vars(record), default=str) for record in caplog.records)
        for secret in (SECRET_A, SECRET_B, ENV_SECRET, "whsec_c2hvcnQ="):
            assert secret.removeprefix("whsec_").rstrip("=") not in logged
