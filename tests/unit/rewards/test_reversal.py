"""Cancellations and refunds: a cancelled or fully refunded order takes back its points once, voids its
logs and (onCancel: revoke) revokes its unredeemed rewards, whichever order the webhooks come in."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import fakeredis
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import wix_samples
from worker import keys
from worker.dev.programs import challenge, coupon, milestone, program, streak
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.loyalty.points_gate import record_program_status
from worker.loyalty.points_rules import PointsEarn
from worker.rewards.automation_triggers import report_points_reversed
from worker.rewards.fulfilment import fulfil_reward
from worker.rewards.reversal import (
    earn_entity,
    record_earned,
    reverse_intent,
    take_back_points,
)
from worker.rewards.trigger_schemas import trigger_payload_schema
from worker.store import instances, order_reversals
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.client import WixApiError, WixTransientError
from worker.wix.events import EventIgnored, normalize

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-reversal"
CONTACT = wix_samples.CONTACT_ID
ORDER = wix_samples.ORDER_ID
CHECKOUT = wix_samples._ORDER["checkoutId"]
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PAID = "wix.ecom.v1.order_payment_status_updated"
CANCELED = "wix.ecom.v1.order_canceled"


def document(on_cancel: str = "keep") -> dict[str, Any]:
    """A weekly streak rewarded at its first week, a $10 challenge, and 1 point per $1."""
    return {
        **program(
            streaks=[
                streak(
                    "weekly",
                    "Weekly",
                    period="weekly",
                    milestones=[milestone("first", "First week", 1, coupon("5% off", 5))],
                ),
            ],
            challenges=[challenge("spend", "Spend", method="sum", period="monthly", completion=100)],
            rules=[
                {"on": "order_paid", "streak": "weekly", "activityId": "order_paid", "value": "count"},
                {
                    "on": "order_paid",
                    "challenge": "spend",
                    "activityId": "order_paid",
                    "value": "order.total",
                },
            ],
        ),
        "pointsRules": [{"on": "order_paid", "points": 1, "per": 1}],
        "onCancel": on_cancel,
    }


@pytest.fixture
def store(fake_store: Any) -> ProgressStore:
    instances.record_installed(fake_store, INSTANCE, NOW)  # a site we know
    return ProgressStore(fake_store)


def process(client: Any, event_type: str, payload: dict[str, Any], follow_ups: RecordedDispatcher) -> str:
    return process_event(
        EventJournal(client, 3600), client, event_type=event_type, instance_id=INSTANCE,
        event_id=payload["id"], data=json.dumps(payload), our_app_id="ours", claim_ttl_seconds=3600,
        now=NOW, follow_ups=follow_ups,
    )  # fmt: skip


def paid() -> dict[str, Any]:
    payload = wix_samples.payment_status_updated(str(uuid.uuid4()))
    payload["eventTime"] = "2026-11-20T11:59:00Z"
    return payload


def canceled() -> dict[str, Any]:
    return wix_samples.order_canceled(str(uuid.uuid4()))


def refunded(status: str = "FULLY_REFUNDED") -> dict[str, Any]:
    return wix_samples.payment_status_updated(str(uuid.uuid4()), payment_status=status)


def state(client: Any, kind: str, item: str) -> dict[str, Any]:
    return json.loads(client.get(keys.member_state(INSTANCE, CONTACT, kind, item)))  # type: ignore[no-any-return]


def reward_logs(store: ProgressStore) -> list[dict[str, Any]]:
    return store.member_reward_logs(INSTANCE, CONTACT)


def sent(follow_ups: RecordedDispatcher, task: str) -> list[dict[str, Any]]:
    return [kwargs for name, kwargs, _ in follow_ups.resent if name == task]


def earn_of_order() -> PointsEarn:
    return PointsEarn(CONTACT, 10, f"wrw:order_paid:{ORDER}:0", "10 points for 10.00 USD")


def cancelled_under_a_checkout_rule(store: ProgressStore) -> RecordedDispatcher:
    """A programme whose streak counts checkouts (onCancel: revoke), and the order cancelled first."""
    document_ = document("revoke")
    document_["rules"] = [
        {"on": "checkout_completed", "streak": "weekly", "activityId": "order_paid", "value": "count"}
    ]
    store.save_program(INSTANCE, document_)
    follow_ups = RecordedDispatcher()
    process(store.client, CANCELED, canceled(), follow_ups)
    return follow_ups


class TestRefundEvent:
    def test_a_full_refund_is_order_refunded(self) -> None:
        """Wix says a full refund with the order's payment status FULLY_REFUNDED (`@wix/ecom`)."""
        event = normalize(event_type=PAID, instance_id=INSTANCE, event_id="e1", payload=refunded())
        assert (event.name, event.contactId, event.order.id) == ("order_refunded", CONTACT, ORDER)  # type: ignore[union-attr]

    def test_a_partial_refund_takes_nothing_back(self) -> None:
        with pytest.raises(EventIgnored, match="partial refund"):
            normalize(
                event_type=PAID, instance_id=INSTANCE, event_id="e1", payload=refunded("PARTIALLY_REFUNDED")
            )


class TestPointsLedger:
    def test_an_earn_then_a_cancel_twice_commits_one_adjustment_of_what_was_earned(self, store) -> None:
        follow_ups = RecordedDispatcher()
        assert record_earned(store.client, follow_ups, INSTANCE, earn_of_order()) == 0
        process(store.client, CANCELED, canceled(), follow_ups)
        process(store.client, CANCELED, canceled(), follow_ups)  # another delivery, another event id
        [task] = sent(follow_ups, "rewards.reverse_points")
        assert task["adjustment_id"] == f"order:{ORDER}"
        assert order_reversals.adjustment(store.client, INSTANCE, CONTACT, ORDER, task["adjustment_id"]) == (
            10,
            None,
        )

    def test_a_cancel_before_the_earn_takes_the_earn_back_as_it_lands_once(self, store) -> None:
        follow_ups = RecordedDispatcher()
        process(store.client, CANCELED, canceled(), follow_ups)
        assert sent(follow_ups, "rewards.reverse_points") == []  # nothing earned yet
        assert record_earned(store.client, follow_ups, INSTANCE, earn_of_order()) == 10
        assert record_earned(store.client, follow_ups, INSTANCE, earn_of_order()) == 0  # the earn task again
        [task] = sent(follow_ups, "rewards.reverse_points")
        assert task["adjustment_id"] == f"earn:wrw:order_paid:{ORDER}:0"

    def test_a_checkouts_earn_is_taken_back_with_its_order(self, store) -> None:
        """A `checkout_completed` rule earns by the checkout; the order names its checkout."""
        follow_ups = RecordedDispatcher()
        earn = PointsEarn(CONTACT, 4, f"wrw:checkout_completed:{CHECKOUT}:0", "4 points")
        record_earned(store.client, follow_ups, INSTANCE, earn)
        record_earned(store.client, follow_ups, INSTANCE, earn_of_order())
        process(store.client, CANCELED, canceled(), follow_ups)
        [task] = sent(follow_ups, "rewards.reverse_points")
        assert (
            order_reversals.adjustment(store.client, INSTANCE, CONTACT, ORDER, task["adjustment_id"])[0] == 14
        )

    def test_only_a_points_rules_earn_names_an_order(self) -> None:
        assert earn_entity(earn_of_order()) == ORDER
        assert earn_entity(PointsEarn(CONTACT, 1, "rl_0123456789abcdef01234567", "reward")) is None
        assert earn_entity(PointsEarn(CONTACT, 1, "wrw:member_created:x{y:0", "bad id")) is None

    @settings(max_examples=60, deadline=None)
    @given(steps=st.lists(st.sampled_from(["earn0", "earn1", "cancel"]), min_size=1, max_size=8))
    def test_any_order_with_duplicates_takes_back_each_earned_point_exactly_once(self, steps) -> None:
        """Whatever the order and however often earns and cancellations come, what is covered is what
        was earned (once the order is cancelled), never more."""
        client = fakeredis.FakeRedis(decode_responses=True)
        earns = {"earn0": (f"wrw:order_paid:{ORDER}:0", 7), "earn1": (f"wrw:order_paid:{ORDER}:1", 5)}
        covered = 0
        for step in steps:
            if step == "cancel":
                intent = reverse_intent(INSTANCE, CONTACT, ORDER, ORDER, f"order:{ORDER}", "canceled")
                covered += order_reversals.reverse(
                    client, INSTANCE, CONTACT, [ORDER], adjustment_id=f"order:{ORDER}", intent=intent,
                    why="canceled", now=0.0,
                )  # fmt: skip
            else:
                key, points = earns[step]
                earn = PointsEarn(CONTACT, points, key, "x")
                covered += record_earned(client, None, INSTANCE, earn)
        earned = sum(points for step, (_, points) in earns.items() if step in steps)
        assert covered == (earned if "cancel" in steps else 0)


@pytest.mark.calendar  # the logs' dates are fixed; the clock's may be any (tests/clock.py)
class TestLogsAndRewards:
    def test_a_cancel_voids_the_orders_logs_and_keeps_the_reward_by_default(self, store) -> None:
        store.save_program(INSTANCE, document())
        follow_ups = RecordedDispatcher()
        process(store.client, PAID, paid(), follow_ups)
        assert len(state(store.client, "streak", "weekly")["logs"]) == 1
        [reward] = reward_logs(store)
        process(store.client, CANCELED, canceled(), follow_ups)
        assert state(store.client, "streak", "weekly")["logs"] == []
        assert state(store.client, "challenge", "spend")["logs"] == []
        assert reward_logs(store)[0]["status"] == reward["status"] == "pending"
        assert sent(follow_ups, "rewards.revoke_reward") == []

    def test_a_refund_with_revoke_revokes_the_unredeemed_reward_once(self, store) -> None:
        store.save_program(INSTANCE, document("revoke"))
        follow_ups = RecordedDispatcher()
        process(store.client, PAID, paid(), follow_ups)
        process(store.client, PAID, refunded(), follow_ups)
        process(store.client, PAID, refunded(), follow_ups)
        [reward] = reward_logs(store)
        assert reward["status"] == "revoked"
        assert [t["reward_log_id"] for t in sent(follow_ups, "rewards.revoke_reward")] == [reward["id"]]

    def test_a_paid_webhook_after_the_cancel_is_voided_as_it_is_recorded(self, store) -> None:
        """Out of order: the end state is the one of paid-then-cancelled."""
        store.save_program(INSTANCE, document("revoke"))
        follow_ups = RecordedDispatcher()
        process(store.client, CANCELED, canceled(), follow_ups)
        event = paid()
        process(store.client, PAID, event, follow_ups)
        assert state(store.client, "streak", "weekly")["logs"] == []
        [reward] = reward_logs(store)
        assert reward["status"] == "revoked"
        record = EventJournal(store.client, 3600).get(INSTANCE, event["id"])
        assert "the order was cancelled or refunded before" in record["reason"]  # type: ignore[index]
        assert f"wix:order:{ORDER}:order_paid:streak:weekly" in record["reason"]  # type: ignore[index]

    def test_a_checkout_completed_after_the_cancel_is_voided_as_it_is_recorded(self, store) -> None:
        """Out of order, a checkout rule's log: the cancellation names the order's checkout, so the
        checkout's late webhook records its log and the reward it reached, then voids and revokes both."""
        follow_ups = cancelled_under_a_checkout_rule(store)
        late = wix_samples.checkout_completed(str(uuid.uuid4()))
        late["entityId"] = late["actionEvent"]["body"]["checkout"]["id"] = CHECKOUT
        late["eventTime"] = "2026-11-20T11:59:00Z"
        process(store.client, "wix.ecom.v1.checkout_completed", late, follow_ups)
        assert state(store.client, "streak", "weekly")["logs"] == []
        [reward] = reward_logs(store)
        assert reward["status"] == "revoked"
        assert [t["reward_log_id"] for t in sent(follow_ups, "rewards.revoke_reward")] == [reward["id"]]
        record = EventJournal(store.client, 3600).get(INSTANCE, late["id"])
        assert "the checkout's order was cancelled or refunded before" in record["reason"]  # type: ignore[index]
        assert f"wix:checkout:{CHECKOUT}:" in record["reason"]  # type: ignore[index]

    def test_another_checkout_of_the_same_member_is_not_voided(self, store) -> None:
        follow_ups = cancelled_under_a_checkout_rule(store)
        other = wix_samples.checkout_completed(str(uuid.uuid4()))
        other["eventTime"] = "2026-11-20T11:59:00Z"
        process(store.client, "wix.ecom.v1.checkout_completed", other, follow_ups)
        [log] = state(store.client, "streak", "weekly")["logs"]
        assert log["uniqueIdentifier"].startswith(f"wix:checkout:{other['entityId']}:")
        [reward] = reward_logs(store)
        assert reward["status"] != "revoked"

    def test_the_next_order_counts_without_the_voided_one(self, store) -> None:
        """Progress is recomputed: a later $10 order makes the challenge $10, not $20."""
        store.save_program(INSTANCE, document())
        follow_ups = RecordedDispatcher()
        process(store.client, PAID, paid(), follow_ups)
        process(store.client, CANCELED, canceled(), follow_ups)
        other = paid()
        order = other["actionEvent"]["body"]["order"]
        order["id"] = other["entityId"] = str(uuid.uuid4())
        order["checkoutId"] = str(uuid.uuid4())
        process(store.client, PAID, other, follow_ups)
        [log] = state(store.client, "challenge", "spend")["logs"]
        assert log["uniqueIdentifier"].startswith(f"wix:order:{order['id']}:")


class StandInCoupons:
    """Wix's coupons; the order is cancelled (onCancel: revoke) while a coupon is being made."""

    def __init__(self, on_create: Any) -> None:
        self.coupons: dict[str, dict[str, Any]] = {}
        self.on_create = on_create

    def create_coupon(self, instance_id: str, specification: dict[str, Any]) -> str:
        self.coupons[specification["code"]] = {"id": "c-1", "specification": specification}
        self.on_create()
        return "c-1"

    def query_coupons_by_code(self, instance_id: str, code: str) -> list[dict[str, Any]]:
        return [self.coupons[code]] if code in self.coupons else []

    def delete_coupon(self, instance_id: str, coupon_id: str) -> bool:
        self.coupons = {code: c for code, c in self.coupons.items() if c["id"] != coupon_id}
        return True


@pytest.mark.calendar
def test_a_coupon_made_while_its_order_is_revoked_is_deleted_and_never_issued(store) -> None:
    store.save_program(INSTANCE, document("revoke"))
    follow_ups = RecordedDispatcher()
    process(store.client, PAID, paid(), follow_ups)
    [reward] = reward_logs(store)
    wix = StandInCoupons(on_create=lambda: process(store.client, CANCELED, canceled(), follow_ups))
    assert fulfil_reward(wix, store.client, INSTANCE, reward["id"], NOW) == "revoked"  # type: ignore[arg-type]
    assert wix.coupons == {}
    assert reward_logs(store)[0]["status"] == "revoked"
    assert fulfil_reward(wix, store.client, INSTANCE, reward["id"], NOW) == "revoked"  # type: ignore[arg-type]
    assert wix.coupons == {}


class StandInLoyalty:
    """Wix's loyalty account for one member: adjust at a revision, transactions newest first."""

    app_id = "ours"

    def __init__(self, balance: int) -> None:
        self.account = {"id": "acct-1", "revision": "1", "points": {"balance": balance}}
        self.transactions: list[dict[str, Any]] = []
        self.lose_next_answer = False

    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.account)

    def adjust_points(
        self, instance_id: str, account_id: str, *, revision: str, amount: int, description: str
    ) -> None:
        if revision != self.account["revision"]:
            raise WixApiError("stale", status=409)
        self.account["points"]["balance"] += amount
        self.account["revision"] = str(int(revision) + 1)
        transaction = {"transactionType": "ADJUST", "amount": amount, "description": description,
                       "adjustInfo": {"appId": self.app_id}}  # fmt: skip
        self.transactions.insert(0, transaction)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise WixTransientError("the answer was lost")

    def query_loyalty_transactions(
        self, instance_id: str, account_id: str, *, limit: int
    ) -> list[dict[str, Any]]:
        return self.transactions[:limit]


class TestTakingPointsBack:
    def commit(self, client: Any, points: int) -> None:
        record_earned(client, None, INSTANCE, PointsEarn(CONTACT, points, f"wrw:order_paid:{ORDER}:0", "x"))
        intent = reverse_intent(INSTANCE, CONTACT, ORDER, ORDER, f"order:{ORDER}", "canceled")
        order_reversals.reverse(
            client, INSTANCE, CONTACT, [ORDER], adjustment_id=f"order:{ORDER}", intent=intent, why="canceled",
            now=0.0,
        )  # fmt: skip

    def take(self, wix: StandInLoyalty, client: Any) -> dict[str, Any]:
        return take_back_points(
            wix, client, instance_id=INSTANCE, contact_id=CONTACT, order_id=ORDER, entity_id=ORDER,  # type: ignore[arg-type]
            adjustment_id=f"order:{ORDER}", why="canceled",
        )  # fmt: skip

    def test_one_negative_adjustment_however_often_the_task_runs(self, fake_store) -> None:
        wix = StandInLoyalty(balance=25)
        self.commit(fake_store, 10)
        assert self.take(wix, fake_store)["points"] == 10
        assert self.take(wix, fake_store)["points"] == 10
        assert [t["amount"] for t in wix.transactions] == [-10]
        assert wix.account["points"]["balance"] == 15

    def test_a_lost_answer_is_not_adjusted_twice(self, fake_store) -> None:
        """Wix made the adjustment but its answer was lost: the retry finds it by its marker."""
        wix = StandInLoyalty(balance=25)
        wix.lose_next_answer = True
        self.commit(fake_store, 10)
        with pytest.raises(WixTransientError):
            self.take(wix, fake_store)
        assert self.take(wix, fake_store) == {"points": 10, "requested": 10, "orderId": ORDER}
        assert wix.account["points"]["balance"] == 15

    def test_while_the_wix_program_is_paused_the_adjustment_waits(self, fake_store) -> None:
        """Wix refuses points while its loyalty program is not ACTIVE: the task retries later."""
        wix = StandInLoyalty(balance=25)
        self.commit(fake_store, 10)
        record_program_status(fake_store, INSTANCE, "PAUSED")
        with pytest.raises(WixTransientError, match="PAUSED"):
            self.take(wix, fake_store)
        assert wix.transactions == []
        record_program_status(fake_store, INSTANCE, "ACTIVE")
        assert self.take(wix, fake_store)["points"] == 10

    def test_points_already_spent_are_not_taken_below_zero(self, fake_store) -> None:
        wix = StandInLoyalty(balance=4)
        self.commit(fake_store, 10)
        assert self.take(wix, fake_store)["points"] == 4
        assert wix.account["points"]["balance"] == 0


def test_the_points_reversed_payload_follows_its_definition(fake_store) -> None:
    follow_ups = RecordedDispatcher()
    assert report_points_reversed(
        fake_store, follow_ups, INSTANCE, CONTACT, order_id=ORDER, points=10, reason="canceled", at=NOW
    )
    assert not report_points_reversed(
        fake_store, follow_ups, INSTANCE, CONTACT, order_id=ORDER, points=10, reason="canceled", at=NOW
    )
    (_, kwargs, _), *again = follow_ups.resent  # a repeat sends only the same, still unsent, report
    assert all(entry[1] == kwargs for entry in again)
    jsonschema.Draft7Validator(
        trigger_payload_schema("points_reversed"), format_checker=jsonschema.FormatChecker()
    ).validate(kwargs["payload"])
