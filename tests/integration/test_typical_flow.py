"""Seed 000's "Typical Flow pattern", played against the local fake Wix over real HTTP with a real worker:
a paid order → the `order_paid` trigger → Execute Streak (invoked as Wix invokes it) → the output's
`achievedMilestoneRewardLog.id` → a coupon made in Wix (as *Add a Coupon* would) → Update Reward Log →
the reward log `issued` with that code, and `reward_issued` reported once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import jwt
import pytest

from tests import wix_samples
from tests.integration.conftest import (
    APP_ID,
    APP_SECRET,
    FakeWixProcess,
    Process,
    start_web,
    start_worker,
    wait_for,
)
from tests.integration.test_rewards_against_fake_wix import collection, signing_key, wix_env
from worker import keys
from worker.dev.programs import MANUAL, milestone, program, streak
from worker.rewards.trigger_schemas import trigger_payload_schema
from worker.store.progress import ProgressStore
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000e201"  # the instance the fake Wix's helpers read
# No rules: in the seed's flow, Wix's automation (not the service) turns the paid order into a streak log.
PROGRAM: dict[str, Any] = program(
    streaks=[
        streak(
            "weekly-shopper",
            "Weekly shopper",
            period="weekly",
            milestones=[milestone("first-week", "First week", 1, MANUAL)],
        )
    ]
)


@pytest.fixture
def stack(fake_wix: FakeWixProcess, real_redis: Any, redis_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A clean fake Wix, the program saved, the web process; the tests start their workers."""
    fake_wix.control("POST", "reset")
    ProgressStore(real_redis).save_program(INSTANCE, PROGRAM)
    env = wix_env(fake_wix, redis_url)
    web, base = start_web(env)
    yield base, env
    web.stop()


@pytest.fixture
def worker(stack: tuple[str, dict[str, str]]) -> Iterator[Process]:
    process = start_worker(stack[1])
    yield process
    process.stop()


def paid_order_webhook(fake_wix: FakeWixProcess, order_id: str, contact: str, event_id: str) -> str:
    """Wix's `order_payment_status_updated` for a paid order, signed with the fake's key."""
    payload = wix_samples.payment_status_updated(event_id=event_id)
    payload["eventTime"] = datetime.now(UTC).isoformat()
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = order_id
    order["buyerInfo"]["contactId"] = contact
    order["priceSummary"]["total"]["amount"] = "42.50"
    return sign_webhook(signing_key(fake_wix), "wix.ecom.v1.order_payment_status_updated", INSTANCE, payload)  # type: ignore[arg-type]


def invoke(base: str, fake_wix: FakeWixProcess, action_key: str, params: dict[str, Any]) -> dict[str, Any]:
    """A Wix automation's action call: an RS256 JWT signed with Wix's key, for our app."""
    now = int(time.time())
    claims = {
        "data": {
            "request": {"actionKey": action_key, "actionParams": params, "activationContext": {}},
            "metadata": {"requestId": str(uuid.uuid4()), "instanceId": INSTANCE},
        },
        "aud": APP_ID,
        "iss": "wix.com",
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode(claims, signing_key(fake_wix), algorithm="RS256")
    answer = httpx.post(f"{base}/wix/actions/v1/invoke", content=token, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def add_a_coupon(fake_wix: FakeWixProcess, code: str) -> dict[str, Any]:
    """Wix's own *Add a Coupon* step: a coupon made in the site's Wix Coupons."""
    token = httpx.post(
        f"{fake_wix.base_url}/oauth2/token",
        json={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET,
              "instance_id": INSTANCE},
        timeout=5,
    ).json()["access_token"]  # fmt: skip
    now = int(time.time() * 1000)
    specification = {
        "name": "Weekly shopper: 10% off", "code": code, "startTime": str(now),
        "expirationTime": str(now + 30 * 24 * 3600 * 1000), "usageLimit": 1,
        "scope": {"namespace": "stores"}, "percentOffRate": 10,
    }  # fmt: skip
    answer = httpx.post(
        f"{fake_wix.base_url}/stores/v2/coupons",
        json={"specification": specification},
        headers={"Authorization": token},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return specification


def reports(fake_wix: FakeWixProcess, trigger_key: str) -> list[dict[str, Any]]:
    return [r for r in collection(fake_wix, "triggerReports") if r["triggerKey"] == trigger_key]


def valid(trigger_key: str, payload: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(
        trigger_payload_schema(trigger_key), format_checker=jsonschema.FormatChecker()
    ).validate(payload)


class TestTypicalFlow:
    def test_order_paid_to_execute_streak_to_a_coupon_to_update_reward_log(
        self, fake_wix, stack, worker, real_redis
    ) -> None:
        """The seed's flow end to end; each trigger reported once although Wix delivered the payment
        three times (the same webhook twice, and another event about the same order)."""
        base, _ = stack
        order_id, contact, event_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        for webhook in (
            paid_order_webhook(fake_wix, order_id, contact, event_id),
            paid_order_webhook(fake_wix, order_id, contact, event_id),  # redelivered
            paid_order_webhook(fake_wix, order_id, contact, str(uuid.uuid4())),  # another event, same order
        ):
            assert httpx.post(f"{base}/webhooks/wix", content=webhook, timeout=5).status_code == 200

        # 1. The order_paid trigger: what Wix hands the automation.
        [paid] = wait_for(lambda: reports(fake_wix, "order_paid"), 30, "the order_paid report")
        trigger = paid["payload"]
        assert (trigger["contactId"], trigger["orderId"]) == (contact, order_id)
        assert (trigger["total"], trigger["currency"], trigger["orderNumber"]) == (42.5, "USD", "10002")
        assert paid["idempotency"]["key"] == f"order_paid:order:{order_id}"
        assert uuid.UUID(paid["externalEntityId"])
        valid("order_paid", trigger)

        # 2. Execute Streak, its fields mapped from the trigger's payload as a merchant maps them.
        executed = invoke(base, fake_wix, "execute-streak", {
            "contactId": trigger["contactId"], "streakId": "weekly-shopper", "activityId": "order_paid",
            "activityValue": 1, "activityAt": trigger["paidAt"], "uniqueIdentifier": trigger["orderId"],
        })  # fmt: skip
        reward_log_id = executed["achievedMilestoneRewardLog"]["id"]
        assert executed["achievedMilestone"]["id"] == "first-week"

        # 3. Wix's Add a Coupon, then 4. Update Reward Log with its code.
        coupon = add_a_coupon(fake_wix, "WEEK-" + uuid.uuid4().hex[:6].upper())
        issued_at = datetime.now(UTC).replace(microsecond=0)
        update = {
            "rewardLogId": reward_log_id, "couponCode": coupon["code"],
            "rewardIssuedAt": issued_at.isoformat(),
            "rewardExpiryAt": (issued_at + timedelta(days=30)).isoformat(),
        }  # fmt: skip
        updated = invoke(base, fake_wix, "update-reward-log", update)
        assert updated["duplicate"] is False
        assert updated["rewardLog"]["status"] == "issued"
        assert updated["rewardLog"]["couponCode"] == coupon["code"]
        again = invoke(base, fake_wix, "update-reward-log", update)  # the automation retried
        assert again["duplicate"] is True

        stored = ProgressStore(real_redis).reward_log(INSTANCE, reward_log_id)
        assert stored is not None
        assert (stored["status"], stored["couponCode"]) == ("issued", coupon["code"])
        [issued] = wait_for(lambda: reports(fake_wix, "reward_issued"), 30, "the reward_issued report")
        assert issued["payload"]["couponCode"] == coupon["code"]
        assert issued["payload"]["contactId"] == contact
        valid("reward_issued", issued["payload"])
        wait_for(lambda: reports(fake_wix, "milestone_achieved"), 30, "the milestone_achieved report")

        time.sleep(3)  # anything still to come would have come by now
        counts = [
            len(reports(fake_wix, key)) for key in ("order_paid", "milestone_achieved", "reward_issued")
        ]
        assert counts == [1, 1, 1]
        assert [c["specification"]["code"] for c in collection(fake_wix, "coupons")] == [coupon["code"]]


class TestWorkerKilledBetweenDecisionAndReport:
    def test_the_order_paid_report_arrives_once_after_the_kill(self, fake_wix, stack, real_redis) -> None:
        """The worker SIGKILLs itself right after deciding order_paid (test hook), before sending the
        report; a fresh worker gets the event again (acks_late), finds it decided, sends the committed
        intent: Wix records one report; a redelivered webhook adds none."""
        base, env = stack
        order_id, contact, event_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        doomed = start_worker({**env, "WRW_TEST_CRASH_AFTER_COMMIT": "1"})
        try:
            webhook = paid_order_webhook(fake_wix, order_id, contact, event_id)
            assert httpx.post(f"{base}/webhooks/wix", content=webhook, timeout=5).status_code == 200
            # The pool process dies; Celery's main process says so (and would start another).
            wait_for(lambda: doomed.saw("SIGKILL"), 30, "the worker process to die after the decision")
        finally:
            doomed.kill_group()
        assert reports(fake_wix, "order_paid") == []
        decided = real_redis.hkeys(keys.member_outbox(INSTANCE, contact))
        assert decided == [f"event:order_paid:order:{order_id}"]  # decided, its intent committed, unsent

        survivor = start_worker(env)
        try:
            wait_for(lambda: reports(fake_wix, "order_paid"), 90, "the order_paid report after the kill")
            again = paid_order_webhook(fake_wix, order_id, contact, str(uuid.uuid4()))
            assert httpx.post(f"{base}/webhooks/wix", content=again, timeout=5).status_code == 200
            time.sleep(4)
            [report] = reports(fake_wix, "order_paid")
            assert report["payload"]["orderId"] == order_id
        finally:
            survivor.stop()
