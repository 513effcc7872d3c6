"""The points sync with an external loyalty system: the inbound route, the no-echo rules, the mapping,
the outbound POST and applying external transactions to Wix (fakeredis; the fake Wix in process)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker import keys
from worker.dispatch import APPLY_EXTERNAL_POINTS, PUSH_POINTS_UPDATE, RecordedDispatcher
from worker.settings import Settings
from worker.sync.member_directory import (
    apply_contact_event,
    contact_for_email,
    contact_for_external_id,
    link_of,
    record_contact,
    record_wix_contacts,
)
from worker.sync.points import (
    RESOLVE_WINDOW,
    ExternalSyncRefused,
    ExternalSyncUnavailable,
    apply_external_points,
    build_message,
    find_member,
    forward_points_update,
    push_message,
    transaction_echo_reason,
    transactions_to_send,
    webhook_id_for,
)
from worker.sync.standard_webhooks import StandardWebhook
from worker.web.app import create_app
from worker.wix.client import WixApiError, WixClient
from worker.wix.events import normalize
from worker.wix.fake import FakeSettings, FakeWix
from worker.wix.fake import create_app as create_fake_wix
from worker.wix.fake import loyalty as fake_loyalty
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID, EventOptions, build_payload
from worker.wix.fake.state import iso

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
INSTANCE = "inst-sync"
OUR_APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "fake-secret"
SYNC_URL = "https://loyalty.example.test/hooks/wix"
# The environment's points sync: both directions on, and no URL at all.
SYNC_ON = Settings(external_sync_url=SYNC_URL, external_sync_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
SYNC_OFF = Settings(external_sync_secret=SECRET, _env_file=None)  # type: ignore[call-arg]


def points_event(**transaction: Any) -> Any:
    """A normalized `points_updated` whose `latestTransaction` (as Wix's 2021 example has it) has the
    given fields."""
    options = EventOptions(contact_id="c1", latest_transaction=True)
    payload = build_payload("wix.loyalty.v1.account_points_updated", options)
    latest = payload["actionEvent"]["body"]["account"]["latestTransaction"]
    latest.update(transaction)
    return normalize(
        event_type="wix.loyalty.v1.account_points_updated",
        instance_id=INSTANCE,
        event_id=payload["id"],
        payload=payload,
    )


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, task: str, kwargs: dict[str, Any]) -> None:
        self.sent.append((task, json.loads(json.dumps(kwargs))))  # what Celery's JSON would carry


# --- POST /sync/v1/points ------------------------------------------------------------------------------


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def api(fake_async, fake_store, public_key_pem, sent) -> TestClient:
    settings = Settings(
        redis_url="redis://unused",
        wix_public_key=public_key_pem,
        external_sync_secret=SECRET,
        _env_file=None,
    )  # type: ignore[call-arg]
    app = create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    app.state.points_sync_send = sent
    record_contact(fake_store, INSTANCE, "c1", "Jane@Example.com", 1)
    return TestClient(app)


def message(**changes: Any) -> dict[str, Any]:
    return {
        "instanceId": INSTANCE,
        "transactionId": "ext-1",
        "amount": 25,
        "description": "Store card bonus",
        "email": "jane@example.com",
        "externalId": "cust-9",
        **changes,
    }


def post(
    api: TestClient,
    body: dict[str, Any] | bytes,
    *,
    msg_id: str = "msg_1",
    at: float | None = None,
    secret: str = SECRET,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = StandardWebhook(secret).headers(msg_id, raw, now=time.time() if at is None else at)
    return api.post("/sync/v1/points", content=raw, headers={**headers, "content-type": "application/json"})


class TestInboundRoute:
    def test_a_signed_earn_is_queued_once_with_its_contact(self, api, sent, fake_store) -> None:
        """202 queued; one apply task with the contact the email maps to; the external id is linked."""
        response = post(api, message())
        assert response.status_code == 202
        assert response.json() == {"status": "queued", "contactId": "c1", "transactionId": "ext-1"}
        assert sent.sent == [
            (
                APPLY_EXTERNAL_POINTS,
                {
                    "instance_id": INSTANCE,
                    "contact_id": "c1",
                    "transaction_id": "ext-1",
                    "amount": 25,
                    "description": "Store card bonus",
                },
            )
        ]
        assert contact_for_external_id(fake_store, INSTANCE, "cust-9") == "c1"

    def test_a_wrong_signature_is_401(self, api, sent) -> None:
        """Signed with another secret: 401 in the error shape, nothing queued."""
        other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
        response = post(api, message(), secret=other)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.json()["error"]["details"] == {"reason": "no_matching_signature"}
        assert sent.sent == []

    def test_missing_headers_are_401(self, api, sent) -> None:
        """No Standard Webhooks headers at all: 401 saying which are required."""
        response = api.post("/sync/v1/points", json=message())
        assert response.status_code == 401
        assert "webhook-id" in response.json()["error"]["message"]
        assert sent.sent == []

    def test_a_timestamp_older_than_five_minutes_is_401(self, api, sent) -> None:
        """A correctly signed message sent six minutes ago is refused as stale."""
        response = post(api, message(), at=time.time() - 360)
        assert response.status_code == 401
        assert response.json()["error"]["details"] == {"reason": "timestamp_too_old"}
        assert sent.sent == []

    def test_a_replayed_webhook_id_is_409(self, api, sent) -> None:
        """The same webhook-id again, freshly signed: 409 replayed, not queued twice."""
        assert post(api, message()).status_code == 202
        again = post(api, message())
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "replayed"
        assert len(sent.sent) == 1

    def test_the_same_transaction_under_a_new_webhook_id_is_a_duplicate(self, api, sent) -> None:
        """Another message bringing an accepted transaction: 200 duplicate, nothing queued."""
        assert post(api, message(), msg_id="msg_a").status_code == 202
        again = post(api, message(), msg_id="msg_b")
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        assert len(sent.sent) == 1

    def test_a_wix_transaction_echoed_back_changes_nothing(self, api, sent, fake_store) -> None:
        """A transaction id we sent out, sent back: 200 echo, nothing queued."""
        fake_store.set(keys.sync_outbound(INSTANCE, "wix-tx-7"), "delivered")
        response = post(api, message(transactionId="wix-tx-7"))
        assert response.status_code == 200
        assert response.json()["status"] == "echo"
        assert sent.sent == []

    def test_an_unknown_email_is_404_and_changes_nothing(self, api, sent, fake_store) -> None:
        """404 naming the email; nothing queued, the transaction and the webhook-id left unclaimed."""
        response = post(api, message(email="nobody@example.com"))
        assert response.status_code == 404
        assert "nobody@example.com" in response.json()["error"]["message"]
        assert sent.sent == []
        assert not fake_store.exists(keys.sync_inbound(INSTANCE, "ext-1"))
        assert not fake_store.exists(keys.sync_webhook_id(INSTANCE, "msg_1"))
        assert contact_for_external_id(fake_store, INSTANCE, "cust-9") is None

    @pytest.mark.parametrize(
        ("changes", "path"),
        [
            ({"amount": 0}, ""),
            ({"amount": "25"}, "amount"),
            ({"amount": 10_000_000}, "amount"),
            ({"transactionId": "x" * 129}, "transactionId"),
            ({"email": None}, "email"),
            ({"description": "x" * 101}, "description"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    def test_an_invalid_body_is_422_with_details(self, api, sent, changes, path) -> None:
        """Each problem comes back with its path; nothing is queued."""
        response = post(api, message(**changes))
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert path in [detail["path"] for detail in error["details"]]
        assert sent.sent == []

    def test_a_body_that_is_not_json_is_422(self, api) -> None:
        """Signed, but not JSON."""
        response = post(api, b"amount=25")
        assert response.status_code == 422
        assert response.json()["error"]["message"] == "the body is not JSON"

    def test_without_a_secret_the_route_is_503(self, fake_async, fake_store, public_key_pem) -> None:
        """Not configured: 503 saying which setting is missing, never a 500."""
        settings = Settings(redis_url="redis://unused", wix_public_key=public_key_pem, _env_file=None)  # type: ignore[call-arg]
        client = TestClient(create_app(settings, async_redis=fake_async, store=fake_store))
        response = client.post("/sync/v1/points", json=message())
        assert response.status_code == 503
        assert "EXTERNAL_SYNC_SECRET" in response.json()["error"]["message"]

    def test_a_queue_failure_is_503_and_releases_the_claims(self, api, fake_store) -> None:
        """Nothing queued, nothing claimed: the sender's retry is accepted."""

        def broken(task: str, kwargs: dict[str, Any]) -> None:
            raise ConnectionError("broker down")

        api.app.state.points_sync_send = broken  # type: ignore[attr-defined]
        assert post(api, message()).status_code == 503
        api.app.state.points_sync_send = Recorder()  # type: ignore[attr-defined]
        assert post(api, message()).status_code == 202


# --- Wix → external: what is sent, and what is not ----------------------------------------------------


class TestNoEcho:
    def test_a_manual_adjustment_is_sent_with_the_transaction(self, fake_store) -> None:
        """The Wix Loyalty app's change goes out: one push task carrying the account and transaction."""
        sent = Recorder()
        event = points_event(id="wix-tx-1", appId=WIX_LOYALTY_APP_ID, amount=5, description="Goodwill")
        outcome = forward_points_update(
            fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_ON, send=sent
        )
        assert outcome == "queued"
        [(task, kwargs)] = sent.sent
        assert task == PUSH_POINTS_UPDATE
        assert kwargs["account"]["contactId"] == "c1"
        assert kwargs["transaction"]["id"] == "wix-tx-1"
        assert kwargs["transaction"]["appId"] == WIX_LOYALTY_APP_ID
        assert kwargs["transaction"]["description"] == "Goodwill"

    @pytest.mark.parametrize(
        ("transaction", "reason"),
        [
            ({"appId": OUR_APP_ID}, "appId"),
            ({"appId": "SiteMembers", "idempotencyKey": "wrw:checkout_completed:chk-1:0"}, "idempotency"),
            ({"appId": "SiteMembers", "idempotencyKey": "rl_0123456789abcdef01234567"}, "idempotency"),
        ],
    )
    def test_our_own_transactions_are_not_sent(self, fake_store, transaction, reason) -> None:
        """Our appId, a points rule's key or a reward log id as key: not sent, and the answer says why."""
        sent = Recorder()
        event = points_event(**transaction)
        outcome = forward_points_update(
            fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_ON, send=sent
        )
        assert outcome.startswith("not sent") and reason in outcome
        assert sent.sent == []

    def test_an_earn_with_a_key_inbound_sync_issued_is_not_sent(self, fake_store) -> None:
        """The external transaction id we used as idempotencyKey is recognised."""
        fake_store.set(keys.sync_inbound(INSTANCE, "ext-42"), "{}")
        sent = Recorder()
        event = points_event(appId="another-app", idempotencyKey="ext-42", type="EARN")
        forward_points_update(fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_ON, send=sent)
        assert sent.sent == []

    def test_an_adjustment_inbound_sync_made_is_not_sent(self, fake_store) -> None:
        """Adjustments carry no key: the Wix transaction id recorded when Wix answered is recognised."""
        fake_store.set(keys.sync_own_transaction(INSTANCE, "wix-tx-9"), "1")
        sent = Recorder()
        event = points_event(id="wix-tx-9", appId="another-app")
        forward_points_update(fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_ON, send=sent)
        assert sent.sent == []

    def test_nothing_is_sent_while_outbound_sync_is_off(self, fake_store) -> None:
        """No EXTERNAL_SYNC_URL: no task."""
        sent = Recorder()
        event = points_event(appId=WIX_LOYALTY_APP_ID)
        outcome = forward_points_update(
            fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_OFF, send=sent
        )
        assert "off" in outcome
        assert sent.sent == []

    def test_the_normalizer_ignores_our_app_s_transactions(self) -> None:
        """The loop guard before the sync: our appId's points change is an ignored event."""
        from worker.wix.events import EventIgnored

        payload = build_payload(
            "wix.loyalty.v1.account_points_updated",
            EventOptions(transaction_app_id=OUR_APP_ID, latest_transaction=True),
        )
        with pytest.raises(EventIgnored):
            normalize(
                event_type="wix.loyalty.v1.account_points_updated",
                instance_id=INSTANCE,
                event_id="e1",
                payload=payload,
                our_app_id=OUR_APP_ID,
            )


# --- the mapping -------------------------------------------------------------------------------------


def contact_event(kind: str, contact_id: str = "c7", **contact: Any) -> Any:
    payload = build_payload(f"wix.contacts.v4.contact_{kind}", EventOptions(contact_id=contact_id))
    body = payload.get("createdEvent", {}).get("entity") or payload.get("updatedEvent", {}).get(
        "currentEntity"
    )
    if body is not None:
        body.update(contact)
    return normalize(
        event_type=f"wix.contacts.v4.contact_{kind}",
        instance_id=INSTANCE,
        event_id=payload["id"],
        payload=payload,
    )


class TestMapping:
    def test_contact_events_create_move_and_remove_an_email(self, fake_store) -> None:
        """created → found by email; a new email → the old one finds nothing; deleted → gone."""
        apply_contact_event(
            fake_store, contact_event("created", revision=1, primaryInfo={"email": "a@x.com"})
        )
        assert contact_for_email(fake_store, INSTANCE, "A@X.com") == "c7"
        apply_contact_event(
            fake_store, contact_event("updated", revision=2, primaryInfo={"email": "b@x.com"})
        )
        assert contact_for_email(fake_store, INSTANCE, "a@x.com") is None
        assert contact_for_email(fake_store, INSTANCE, "b@x.com") == "c7"
        apply_contact_event(fake_store, contact_event("deleted"))
        assert contact_for_email(fake_store, INSTANCE, "b@x.com") is None
        assert link_of(fake_store, INSTANCE, "c7") is None

    def test_a_late_older_update_changes_nothing(self, fake_store) -> None:
        """Revision 3 stored, revision 2 arriving late: the email stays revision 3's."""
        apply_contact_event(
            fake_store, contact_event("updated", revision=3, primaryInfo={"email": "new@x.com"})
        )
        apply_contact_event(
            fake_store, contact_event("updated", revision=2, primaryInfo={"email": "old@x.com"})
        )
        assert contact_for_email(fake_store, INSTANCE, "new@x.com") == "c7"
        assert contact_for_email(fake_store, INSTANCE, "old@x.com") is None

    def test_a_deleted_contact_is_not_brought_back_by_a_late_update(self, fake_store) -> None:
        """Wix does not reuse contact ids: deleted stays deleted."""
        apply_contact_event(fake_store, contact_event("deleted"))
        apply_contact_event(
            fake_store, contact_event("updated", revision=9, primaryInfo={"email": "z@x.com"})
        )
        assert contact_for_email(fake_store, INSTANCE, "z@x.com") is None

    def test_a_contact_webhook_updates_the_mapping_through_the_worker(self, fake_store) -> None:
        """`contact_created` processed as the events task does: journaled, and the email finds the contact."""
        from worker.events.processing import process_event
        from worker.store.journal import EventJournal

        payload = build_payload("wix.contacts.v4.contact_created", EventOptions(contact_id="c8"))
        outcome = process_event(
            EventJournal(fake_store, 3600),
            fake_store,
            event_type="wix.contacts.v4.contact_created",
            instance_id=INSTANCE,
            event_id=payload["id"],
            data=json.dumps(payload),
            our_app_id=OUR_APP_ID,
            claim_ttl_seconds=3600,
            follow_ups=RecordedDispatcher(),
        )
        assert outcome == "processed"
        assert contact_for_email(fake_store, INSTANCE, "janedoe@gmail.com") == "c8"

    def test_a_page_of_wix_contacts_is_recorded(self, fake_store) -> None:
        """The bootstrap's page: primaryInfo.email, else the primary of info.emails; no email is kept too."""
        contacts = [
            {"id": "c1", "revision": 1, "primaryInfo": {"email": "one@x.com"}},
            {
                "id": "c2",
                "info": {
                    "emails": {"items": [{"email": "b@x.com"}, {"email": "two@x.com", "primary": True}]}
                },
            },
            {"id": "c3"},
        ]
        assert record_wix_contacts(fake_store, INSTANCE, contacts) == 3
        assert contact_for_email(fake_store, INSTANCE, "one@x.com") == "c1"
        assert contact_for_email(fake_store, INSTANCE, "two@x.com") == "c2"
        assert link_of(fake_store, INSTANCE, "c3") == {}


# --- the outbound POST --------------------------------------------------------------------------------


class ExternalSystem:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


def outbound(fake_store) -> dict[str, Any]:
    record_contact(fake_store, INSTANCE, "c1", "jane@example.com", 1)
    member = find_member(fake_store, None, INSTANCE, "c1")
    account = {"id": "acct-1", "contactId": "c1", "memberId": None, "balance": 5, "revision": "3"}
    transaction = {"id": "wix-tx-1", "type": "ADJUST", "amount": 5, "appId": WIX_LOYALTY_APP_ID}
    return build_message(INSTANCE, "email", member, account, transaction, "2026-01-01T00:00:00+00:00")


class TestPush:
    def push(self, fake_store, external: ExternalSystem) -> str:
        http = httpx.Client(transport=httpx.MockTransport(external.handle))
        return push_message(
            fake_store,
            http,
            StandardWebhook(SECRET),
            SYNC_URL,
            INSTANCE,
            outbound(fake_store),
            ttl_seconds=60,
        )

    def test_the_message_is_signed_and_carries_the_mapping_key(self, fake_store) -> None:
        """The external system can verify it, and finds the member's email and the transaction."""
        external = ExternalSystem()
        assert self.push(fake_store, external) == "delivered"
        [request] = external.requests
        StandardWebhook(SECRET).verify(request.content, dict(request.headers))
        assert request.headers["webhook-id"] == webhook_id_for(INSTANCE, "wix-tx-1")
        body = json.loads(request.content)
        assert body["type"] == "loyalty.points_updated"
        assert body["data"]["email"] == "jane@example.com"
        assert body["data"]["matchBy"] == "email"
        assert body["data"]["transaction"]["id"] == "wix-tx-1"

    def test_a_delivered_transaction_is_not_posted_again(self, fake_store) -> None:
        """A re-run after a 2xx posts nothing."""
        external = ExternalSystem()
        self.push(fake_store, external)
        assert self.push(fake_store, external) == "already_delivered"
        assert len(external.requests) == 1

    def test_a_5xx_is_retried_with_the_same_webhook_id(self, fake_store) -> None:
        """503 → try again later; the retry is the same message id."""
        external = ExternalSystem(503)
        with pytest.raises(ExternalSyncUnavailable):
            self.push(fake_store, external)
        assert self.push(fake_store, external) == "delivered"
        assert external.requests[0].headers["webhook-id"] == external.requests[1].headers["webhook-id"]

    def test_a_4xx_is_refused_for_good(self, fake_store) -> None:
        """400: not retried (the task parks it in the dead-letter queue)."""
        with pytest.raises(ExternalSyncRefused):
            self.push(fake_store, ExternalSystem(400))


# --- external → Wix: applying the transaction ---------------------------------------------------------


class RacingWixClient(WixClient):
    """A Wix client that, on its first adjustment, lets a concurrent change move the account first."""

    race: Any = None

    def adjust_points(self, instance_id: str, account_id: str, **kwargs: Any) -> dict[str, Any]:
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return super().adjust_points(instance_id, account_id, **kwargs)


@pytest.fixture
def fake_wix() -> FakeWix:
    return FakeWix(FakeSettings(app_id=OUR_APP_ID, app_secret=APP_SECRET))


@pytest.fixture
def wix(fake_wix, fake_store) -> Iterator[RacingWixClient]:
    fake_app = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        """The fake Wix in process (TestClient refuses per-request timeouts, which WixClient sets)."""
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = RacingWixClient(http, fake_store, app_id=OUR_APP_ID, app_secret=APP_SECRET)
    yield client
    client.close()


def apply(wix: WixClient, fake_store, transaction_id: str, amount: int) -> str:
    return apply_external_points(
        wix,
        fake_store,
        instance_id=INSTANCE,
        contact_id="c1",
        transaction_id=transaction_id,
        amount=amount,
        description="from the store card",
        ttl_seconds=60,
    )


class TestApply:
    def test_an_earn_uses_the_external_id_as_the_key_and_happens_once(
        self, wix, fake_wix, fake_store
    ) -> None:
        """Twice applied (a redelivered task): one EARN in Wix, keyed by the external transaction id."""
        assert apply(wix, fake_store, "ext-1", 25) == "applied"
        assert apply(wix, fake_store, "ext-1", 25) == "already_applied"
        fake_store.delete(keys.sync_inbound(INSTANCE, "ext-1"))  # even if our record were lost
        apply(wix, fake_store, "ext-1", 25)
        state = fake_wix.peek(INSTANCE)
        [transaction] = state.transactions
        assert (transaction["transactionType"], transaction["amount"], transaction["idempotencyKey"]) == (
            "EARN",
            25,
            "ext-1",
        )
        assert transaction["earnInfo"]["appId"] == OUR_APP_ID
        assert fake_store.exists(keys.sync_own_transaction(INSTANCE, transaction["id"]))

    def test_an_adjustment_is_retried_at_a_fresh_revision_after_a_409(
        self, wix, fake_wix, fake_store
    ) -> None:
        """Someone changes the account between our read and our adjust: 409, re-read, adjusted once."""
        apply(wix, fake_store, "ext-1", 30)
        wix.race = lambda: wix.earn_points(INSTANCE, account_id(fake_wix), 1, "meanwhile", "other-key")
        assert apply(wix, fake_store, "ext-2", -10) == "applied"
        state = fake_wix.peek(INSTANCE)
        assert [t["transactionType"] for t in state.transactions] == ["EARN", "EARN", "ADJUST"]
        account = state.account_for_contact("c1")
        assert account is not None and account["points"]["balance"] == 21
        adjust = state.transactions[-1]
        assert fake_store.exists(keys.sync_own_transaction(INSTANCE, adjust["id"]))

    def test_an_adjustment_wix_refuses_is_raised(self, wix, fake_wix, fake_store) -> None:
        """Below zero: Wix's 400 propagates (the task parks it), nothing recorded as applied."""
        with pytest.raises(WixApiError):
            apply(wix, fake_store, "ext-3", -10)
        assert fake_wix.peek(INSTANCE).transactions == []


def account_id(fake: FakeWix) -> str:
    account = fake.peek(INSTANCE).account_for_contact("c1")
    assert account is not None
    return str(account["id"])


class TestWhileTheProgramIsPaused:
    def test_an_inbound_change_waits_and_is_sent_again_when_active(self, fake_store, monkeypatch) -> None:
        """As points rules do: no Wix call while the program is PAUSED; the same task, with the same
        transaction id (its idempotency key), is sent again when the program is ACTIVE."""
        import tasks.points_sync
        from worker.dispatch import RecordedDispatcher
        from worker.loyalty.points_gate import record_program_status, release_waiting

        monkeypatch.setattr(tasks.points_sync, "redis_store", lambda: fake_store)

        def no_wix() -> None:
            raise AssertionError("Wix is not called while the program is paused")

        monkeypatch.setattr(tasks.points_sync, "wix_client", no_wix)
        record_program_status(fake_store, "inst-1", "PAUSED")
        kwargs = {
            "instance_id": "inst-1",
            "contact_id": "c-1",
            "transaction_id": "ext-42",
            "amount": 15,
            "description": "from the till",
        }

        outcome = tasks.points_sync.apply_external_points_task.apply(kwargs=kwargs).get()

        assert outcome.startswith("waiting: the Wix loyalty program is PAUSED")
        sent = RecordedDispatcher()
        assert record_program_status(fake_store, "inst-1", "ACTIVE")
        assert release_waiting(fake_store, "inst-1", sent) == 1
        assert sent.resent == [("sync.apply_external_points", kwargs, "rewards")]
        assert release_waiting(fake_store, "inst-1", sent) == 0  # sent once


# --- without `latestTransaction` (not in Wix's published account, wix-facts.md §8) ---------------------


def dashboard_adjustment(fake: FakeWix, amount: int, description: str = "Goodwill") -> str:
    """The site owner changes the balance in Wix's dashboard (the Wix Loyalty app); its transaction id."""
    instance = fake.instance(INSTANCE)
    account = instance.accounts[account_id(fake)]
    answer = fake_loyalty.adjust(
        instance,
        account,
        delta=amount,
        description=description,
        app_id=WIX_LOYALTY_APP_ID,
        now=iso(fake.clock()),
    )
    return str(answer["transactionId"])


def now_stamp(fake: FakeWix, shift_seconds: float = 0) -> str:
    return datetime.fromtimestamp(fake.clock() + shift_seconds, UTC).isoformat()


class TestWithoutLatestTransaction:
    def test_a_change_that_names_no_transaction_is_queued_for_the_task_to_resolve(self, fake_store) -> None:
        """Wix's published account has no `latestTransaction`: the push is queued without a transaction."""
        sent = Recorder()
        payload = build_payload("wix.loyalty.v1.account_points_updated", EventOptions(contact_id="c1"))
        assert "latestTransaction" not in payload["actionEvent"]["body"]["account"]
        event = normalize(
            event_type="wix.loyalty.v1.account_points_updated",
            instance_id=INSTANCE,
            event_id=payload["id"],
            payload=payload,
            our_app_id=OUR_APP_ID,
        )
        assert (
            forward_points_update(fake_store, event, our_app_id=OUR_APP_ID, sync_defaults=SYNC_ON, send=sent)
            == "queued"
        )
        [(task, kwargs)] = sent.sent
        assert task == PUSH_POINTS_UPDATE and kwargs["transaction"] is None

    def test_the_dashboard_change_is_found_and_ours_is_not(self, wix, fake_wix, fake_store) -> None:
        """The Loyalty Transactions query finds the account's recent changes: the dashboard adjustment is
        sent (in the outbound shape), our own earn (`earnInfo.appId` is ours) is not."""
        apply(wix, fake_store, "ext-1", 25)
        manual_id = dashboard_adjustment(fake_wix, 5)
        found = transactions_to_send(wix, fake_store, INSTANCE, account_id(fake_wix), now_stamp(fake_wix))
        assert found == [
            {
                "id": manual_id,
                "type": "ADJUST",
                "amount": 5,
                "description": "Goodwill",
                "createdDate": fake_wix.peek(INSTANCE).transactions[-1]["createdDate"],
                "appId": WIX_LOYALTY_APP_ID,
                "idempotencyKey": None,
            }
        ]

    def test_a_delivered_or_old_change_is_not_sent_again(self, wix, fake_wix, fake_store) -> None:
        """A transaction already delivered, or older than the window before the event, is left out."""
        apply(wix, fake_store, "ext-1", 25)
        manual_id = dashboard_adjustment(fake_wix, 5)
        later = now_stamp(fake_wix, RESOLVE_WINDOW.total_seconds() + 60)
        assert transactions_to_send(wix, fake_store, INSTANCE, account_id(fake_wix), later) == []
        fake_store.set(keys.sync_outbound(INSTANCE, manual_id), "delivered")
        assert (
            transactions_to_send(wix, fake_store, INSTANCE, account_id(fake_wix), now_stamp(fake_wix)) == []
        )

    def test_a_transaction_id_earn_answered_is_known_as_ours(self, wix, fake_wix, fake_store) -> None:
        """The `transactionId` earn answers is kept: that transaction is ours whatever appId it shows."""
        apply(wix, fake_store, "ext-1", 25)
        [earned] = fake_wix.peek(INSTANCE).transactions
        assert wix.is_own_transaction(INSTANCE, earned["id"])
        reason = transaction_echo_reason(
            fake_store, INSTANCE, {"id": earned["id"], "appId": "SiteMembers"}, OUR_APP_ID
        )
        assert reason is not None and "our app made" in reason
        assert (
            transaction_echo_reason(
                fake_store, INSTANCE, {"id": "someone-elses", "appId": "SiteMembers"}, OUR_APP_ID
            )
            is None
        )

    def test_an_adjustment_wix_made_before_a_crash_is_not_made_again(self, wix, fake_wix, fake_store) -> None:
        """Wix adjusted but our record still says `adjusting`: the newest transaction of the account (the
        query, not `latestTransaction`) is recognised as this adjustment; nothing is adjusted twice."""
        apply(wix, fake_store, "ext-1", 30)
        account = fake_wix.peek(INSTANCE).accounts[account_id(fake_wix)]
        record = {"status": "adjusting", "revision": account["revision"], "contactId": "c1", "amount": -10}
        fake_store.set(keys.sync_inbound(INSTANCE, "ext-2"), json.dumps(record))
        lost = wix.adjust_points(
            INSTANCE,
            account["id"],
            revision=account["revision"],
            amount=-10,
            description="from the store card",
        )
        assert apply(wix, fake_store, "ext-2", -10) == "applied"
        assert [t["transactionType"] for t in fake_wix.peek(INSTANCE).transactions] == ["EARN", "ADJUST"]
        applied = json.loads(fake_store.get(keys.sync_inbound(INSTANCE, "ext-2")))
        assert applied["wixTransactionId"] == lost.transaction_id

    def test_a_newer_dashboard_change_is_not_taken_for_our_adjustment(
        self, wix, fake_wix, fake_store
    ) -> None:
        """The newest transaction is someone else's with the same amount: our adjustment is made."""
        apply(wix, fake_store, "ext-1", 30)
        account = fake_wix.peek(INSTANCE).accounts[account_id(fake_wix)]
        record = {"status": "adjusting", "revision": account["revision"], "contactId": "c1", "amount": -10}
        fake_store.set(keys.sync_inbound(INSTANCE, "ext-2"), json.dumps(record))
        dashboard_adjustment(fake_wix, -10, description="from the store card")
        assert apply(wix, fake_store, "ext-2", -10) == "applied"
        assert [t["transactionType"] for t in fake_wix.peek(INSTANCE).transactions] == [
            "EARN",
            "ADJUST",
            "ADJUST",
        ]


class TestThePushTask:
    @pytest.fixture
    def task_world(self, wix, fake_wix, fake_store, monkeypatch) -> ExternalSystem:
        """The push task on fakeredis, the in-process fake Wix and an external system that answers 200."""
        import tasks.points_sync

        external = ExternalSystem()
        settings = Settings(
            redis_url="redis://unused",
            external_sync_url=SYNC_URL,
            external_sync_secret=SECRET,
            wix_app_id=OUR_APP_ID,
            _env_file=None,
        )  # type: ignore[call-arg]
        monkeypatch.setattr(tasks.points_sync, "get_settings", lambda: settings)
        monkeypatch.setattr(tasks.points_sync, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.points_sync, "wix_client", lambda: wix)
        monkeypatch.setattr(
            tasks.points_sync, "_http", lambda: httpx.Client(transport=httpx.MockTransport(external.handle))
        )
        return external

    def push(self, fake_wix: FakeWix) -> str:
        import tasks.points_sync

        account = fake_wix.peek(INSTANCE).accounts[account_id(fake_wix)]
        kwargs = {
            "instance_id": INSTANCE,
            "event_id": "evt-1",
            "occurred_at": now_stamp(fake_wix),
            "account": {"id": account["id"], "contactId": "c1", "balance": account["points"]["balance"]},
            "transaction": None,
        }
        return str(tasks.points_sync.push_points_update_task.apply(kwargs=kwargs).get())

    def test_a_change_without_its_transaction_sends_what_wix_says_changed(
        self, task_world, wix, fake_wix, fake_store
    ) -> None:
        """The task asks Wix: the dashboard adjustment is posted once, our own earn never."""
        apply(wix, fake_store, "ext-1", 25)
        manual_id = dashboard_adjustment(fake_wix, 5)
        assert self.push(fake_wix) == "delivered"
        [request] = task_world.requests
        assert json.loads(request.content)["data"]["transaction"]["id"] == manual_id
        assert self.push(fake_wix).startswith("nothing to send")  # a second event about the same change
        assert len(task_world.requests) == 1

    def test_only_our_own_changes_send_nothing_and_ask_no_more(
        self, task_world, wix, fake_wix, fake_store
    ) -> None:
        """Our earn alone: nothing posted, and the contact is not even looked up."""
        apply(wix, fake_store, "ext-1", 25)
        fake_wix.calls.clear()
        assert self.push(fake_wix).startswith("nothing to send")
        assert task_world.requests == []
        assert fake_wix.calls.counts == {"POST /loyalty-transactions/v1/loyalty-transactions/query": 1}
