"""Erasure, all real: signed webhooks over HTTP, a Celery worker, the fake Wix, real Redis.

A member with logs, an issued coupon, a cached loyalty account and a sync mapping; then Wix's signed
`contact_deleted` (or an event flagged `triggeredByAnonymizeRequest`). Afterwards a SCAN of the whole
database, every value dumped (Celery message bodies decoded), finds neither their contact id, nor their
email, nor their coupon code; their journal records keep ids and outcomes; the instance's counts hold.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from tests import wix_samples
from tests.integration.conftest import (
    ADMIN_TOKEN,
    FakeWixProcess,
    start_web,
    start_web_and_worker,
    start_worker,
    wait_for,
)
from tests.integration.test_rewards_against_fake_wix import signing_key, wix_env
from tests.redis_dump import dump
from worker import keys
from worker.dev.programs import challenge, coupon, milestone, program
from worker.members.erasure import erased_counts
from worker.store.progress import ProgressStore
from worker.sync.member_directory import contact_for_email
from worker.wix.fake.payloads import EventOptions, build_payload
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000e301"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ORDER_PAID = "wix.ecom.v1.order_payment_status_updated"
PROGRAM = program(
    challenges=[
        challenge(
            "spend-50",
            "Spend $50",
            method="sum",
            period="monthly",
            completion=1000,
            milestones=[milestone("fifty", "Fifty spent", 50, coupon("10% off", 10, valid_days=14))],
        )
    ],
    rules=[{"on": "order_paid", "challenge": "spend-50", "activityId": "order_paid", "value": "order.total"}],
)
TALLY = {"members": 1, "logs": 2, "progressRecords": 1, "rewardLogs": 1, "rewardLogs.issued": 1, "coupons": 1}


@pytest.fixture
def stack(fake_wix: FakeWixProcess, real_redis, redis_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    fake_wix.control("POST", "reset")
    ProgressStore(real_redis).save_program(INSTANCE, PROGRAM)
    env = wix_env(fake_wix, redis_url)
    web, base, worker = start_web_and_worker(env)
    try:
        yield base
    finally:
        worker.stop()
        web.stop()


def post(fake_wix: FakeWixProcess, base: str, event_type: str, payload: dict[str, Any]) -> str:
    """Sign the event as Wix would and post it; answers its event id."""
    token = sign_webhook(signing_key(fake_wix), event_type, INSTANCE, payload)  # type: ignore[arg-type]
    answer = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert answer.json() == {"status": "queued"}, answer.text
    return str(payload["id"])


def settled(base: str, event_id: str) -> dict[str, Any]:
    def record() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{base}/admin/v1/instances/{INSTANCE}/events/{event_id}", headers=ADMIN, timeout=5
        )
        body = answer.json() if answer.status_code == 200 else None
        return body if body and body["status"] != "queued" else None

    return wait_for(record, 30, f"event {event_id} to settle")  # type: ignore[no-any-return]


def paid(contact: str, email: str) -> dict[str, Any]:
    payload = copy.deepcopy(wix_samples.payment_status_updated(str(uuid.uuid4())))
    payload["eventTime"] = datetime.now(UTC).isoformat()
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = payload["entityId"] = str(uuid.uuid4())
    order["buyerInfo"].update(contactId=contact, email=email)
    order["priceSummary"]["total"]["amount"] = "30.00"
    return payload


def contact_event(kind: str, contact: str, email: str) -> dict[str, Any]:
    payload = build_payload(f"wix.contacts.v4.contact_{kind}", EventOptions(contact_id=contact))
    payload["id"] = str(uuid.uuid4())
    entity = (payload.get("createdEvent") or {}).get("entity") or (payload.get("updatedEvent") or {}).get(
        "currentEntity"
    )
    if entity is not None:
        entity["primaryInfo"]["email"] = email
        entity["info"]["emails"] = {"items": [{"email": email, "primary": True}]}
    return payload


def idle(client: redis.Redis) -> bool:
    """Nothing on the queues, nothing held by a worker, nothing owed in an outbox."""
    queued = sum(int(client.llen(queue)) for queue in ("events", "rewards", "bulk", "periodic"))  # type: ignore[arg-type]
    return (
        queued == 0
        and not client.hlen("unacked")
        and not any(client.hlen(key) for key in client.zrange(keys.OUTBOX_INDEX, 0, -1))
    )


def coupons_issued(client: redis.Redis) -> int:
    """The instance's coupons issued: those of its reward logs, and those its erasures counted."""
    store = ProgressStore(client)
    live = [store.reward_log(INSTANCE, reward_id) for reward_id in client.hkeys(keys.reward_index(INSTANCE))]
    return sum(1 for log in live if log and log.get("couponCode")) + erased_counts(client, INSTANCE).get(
        "coupons", 0
    )


class Member:
    """A member made through the product's own paths: a contact webhook, two paid orders (a coupon issued
    by the worker in the fake Wix), a look at their progress through the API (a cached loyalty account)."""

    def __init__(self, fake_wix: FakeWixProcess, base: str, client: redis.Redis, api_key: str) -> None:
        self.contact = str(uuid.uuid4())
        self.email = f"erase.{self.contact[:8]}@example.com"
        fake_wix.control(
            "POST", f"instances/{INSTANCE}/contacts", json={"id": self.contact, "email": self.email}
        )
        self.events = [
            post(
                fake_wix,
                base,
                "wix.contacts.v4.contact_created",
                contact_event("created", self.contact, self.email),
            )
        ]
        self.old_tokens = []
        for _ in range(2):
            payload = paid(self.contact, self.email)
            self.events.append(post(fake_wix, base, ORDER_PAID, payload))
            self.old_tokens.append(sign_webhook(signing_key(fake_wix), ORDER_PAID, INSTANCE, payload))  # type: ignore[arg-type]
        for event_id in self.events:
            assert settled(base, event_id)["status"] == "processed"
        store = ProgressStore(client)

        def issued() -> str | None:
            logs = store.member_reward_logs(INSTANCE, self.contact)
            return logs[0]["couponCode"] if logs and logs[0]["status"] == "issued" else None

        self.code: str = wait_for(issued, 60, "the member's coupon to be issued")
        progress = httpx.get(
            f"{base}/v1/members/{self.contact}/progress",
            headers={"authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        assert progress.status_code == 200, progress.text
        assert client.exists(keys.loyalty_account_copy(INSTANCE, self.contact))
        assert contact_for_email(client, INSTANCE, self.email) == self.contact
        wait_for(lambda: idle(client), 60, "the worker to finish the member's tasks")
        text = dump(client)
        assert self.contact in text and self.email in text and self.code in text

    def assert_erased(self, base: str, client: redis.Redis) -> None:
        wait_for(lambda: idle(client), 30, "the worker to finish")
        assert list(client.scan_iter(match=keys.member_pattern(INSTANCE, self.contact))) == []
        text = dump(client)
        for needle in (self.contact, self.email, self.code):
            assert needle not in text, f"{needle} is still in Redis"
        for event_id in self.events:
            record = settled(base, event_id)
            assert record["status"] == "processed" and record["erased"] == "true"
            assert "normalized" not in record


def api_key(base: str) -> str:
    answer = httpx.post(f"{base}/admin/v1/instances/{INSTANCE}/api-keys", headers=ADMIN, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["apiKey"])


class TestErasureOverHttp:
    def test_contact_deleted_leaves_nothing_of_the_member(self, fake_wix, stack, real_redis) -> None:
        """Signed contact_deleted → no contact id, email or coupon code anywhere in Redis; counts hold."""
        base = stack
        key = api_key(base)
        member = Member(fake_wix, base, real_redis, key)
        other = Member(fake_wix, base, real_redis, key)
        assert coupons_issued(real_redis) == 2

        deleted = post(
            fake_wix, base, "wix.contacts.v4.contact_deleted", contact_event("deleted", member.contact, "")
        )
        record = settled(base, deleted)
        assert record["status"] == "processed" and "coupons 1" in record["reason"]
        assert member.contact not in json.dumps(record)

        member.assert_erased(base, real_redis)
        assert erased_counts(real_redis, INSTANCE) == TALLY
        assert coupons_issued(real_redis) == 2  # one kept as a count
        assert (
            ProgressStore(real_redis).member_reward_logs(INSTANCE, other.contact)[0]["couponCode"]
            == other.code
        )
        assert contact_for_email(real_redis, INSTANCE, other.email) == other.contact

        # Wix delivers an old order event again: a duplicate; a late contact update: ignored.
        again = httpx.post(f"{base}/webhooks/wix", content=member.old_tokens[0], timeout=5)
        assert again.json() == {"status": "duplicate"}
        late = post(
            fake_wix,
            base,
            "wix.contacts.v4.contact_updated",
            contact_event("updated", member.contact, member.email),
        )
        assert settled(base, late)["status"] == "ignored"
        member.assert_erased(base, real_redis)
        assert erased_counts(real_redis, INSTANCE) == TALLY

    def test_an_anonymize_request_leaves_nothing_of_the_member(self, fake_wix, stack, real_redis) -> None:
        """An event flagged `triggeredByAnonymizeRequest` erases the same; the admin route finds nothing."""
        base = stack
        member = Member(fake_wix, base, real_redis, api_key(base))
        # Wix anonymizes one of their orders: `order_updated` (a type we otherwise ignore), flagged.
        options = EventOptions(order_id=str(uuid.uuid4()), contact_id=member.contact)
        flagged = build_payload("wix.ecom.v1.order_updated", options)
        flagged["triggeredByAnonymizeRequest"] = True
        record = settled(base, post(fake_wix, base, "wix.ecom.v1.order_updated", flagged))
        assert record["status"] == "processed" and "(anonymize request)" in record["reason"]
        member.assert_erased(base, real_redis)
        assert erased_counts(real_redis, INSTANCE) == TALLY

        by_hand = httpx.delete(
            f"{base}/admin/v1/instances/{INSTANCE}/members/{member.contact}", headers=ADMIN, timeout=10
        )
        assert by_hand.status_code == 200 and not any(by_hand.json()["erased"].values())
        bad = httpx.delete(f"{base}/admin/v1/instances/{INSTANCE}/members/a%7Db", headers=ADMIN, timeout=10)
        assert bad.status_code == 422 and bad.json()["error"]["code"]


class TestKilledMidway:
    def test_a_worker_killed_between_steps_finishes_on_redelivery(
        self, fake_wix, real_redis, redis_url
    ) -> None:
        """SIGKILL after the mapping step: half erased, counts already in once; the redelivered event
        erases the rest and adds nothing twice."""
        fake_wix.control("POST", "reset")
        ProgressStore(real_redis).save_program(INSTANCE, PROGRAM)
        env = wix_env(fake_wix, redis_url)
        web, base = start_web(env)
        first = start_worker({**env, "WRW_TEST_KILL_ERASURE_AFTER": "sync-mapping"})
        second = None
        try:
            member = Member(fake_wix, base, real_redis, api_key(base))
            deleted = post(
                fake_wix,
                base,
                "wix.contacts.v4.contact_deleted",
                contact_event("deleted", member.contact, ""),
            )
            wait_for(lambda: first.popen.poll() is not None, 30, "the worker to be killed mid-erasure")
            first.kill_group()
            # Half done: the mapping is gone, the member's own keys are not; the counts are in, once.
            assert contact_for_email(real_redis, INSTANCE, member.email) is None
            assert list(real_redis.scan_iter(match=keys.member_pattern(INSTANCE, member.contact)))
            assert real_redis.hget(keys.event_record(INSTANCE, deleted), "status") == "queued"
            assert erased_counts(real_redis, INSTANCE) == TALLY

            second = start_worker(env)
            assert settled(base, deleted)["status"] == "processed"
            member.assert_erased(base, real_redis)
            assert erased_counts(real_redis, INSTANCE) == TALLY
            assert list(real_redis.scan_iter(match="wrw:erased:*:pending:*")) == []
        finally:
            first.stop()
            if second is not None:
                second.stop()
            web.stop()
