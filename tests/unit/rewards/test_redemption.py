"""Redemptions: a paid order that used a reward's coupon marks its reward log `redeemed`, once, whatever the
redeliveries; a code that is not ours, or another site's order, changes nothing; expiry leaves it."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import fakeredis
import pytest
import redis

from worker import keys
from worker.dev.programs import challenge, coupon, milestone, program
from worker.engine.timestamps import utc_stamp
from worker.events.processing import process_event
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.progress.record import Conflict, issue_reward
from worker.rewards.fulfilment import coupon_code, mark_reward
from worker.rewards.redemption import redeem_coupon
from worker.runtime.providers import job_context
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore, update_json
from worker.wix.events import Money, OrderInfo, normalize
from worker.wix.fake.payloads import EventOptions, build_payload

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # the clock is read inside each test: any day holds

INSTANCE = "inst-redeem"
OTHER_SITE = "inst-other-site"
PAID = "wix.ecom.v1.order_payment_status_updated"
APPROVED = "wix.ecom.v1.order_approved"
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


def order_event(
    at: datetime,
    *,
    contact: str = "buyer",
    code: str | None = None,
    order_id: str | None = None,
    total: str = "25.50",
    currency: str = "EUR",
    event_type: str = PAID,
    payment_status: str = "PAID",
) -> tuple[str, dict[str, Any]]:
    """Wix's webhook payload for an order (the fake's builder, after Wix's example), using `code`."""
    options = EventOptions(
        order_id=order_id or str(uuid.uuid4()),
        contact_id=contact,
        total=total,
        currency=currency,
        payment_status=payment_status,
        coupon_code=code,
        event_time=at.timestamp(),
    )
    return event_type, build_payload(event_type, options)


def process(
    client: redis.Redis, event: tuple[str, dict[str, Any]], now: datetime, site: str = INSTANCE
) -> str:
    event_type, payload = event
    return process_event(
        EventJournal(client, 3600),
        client,
        event_type=event_type,
        instance_id=site,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
        claim_ttl_seconds=3600,
        now=now,
    )


def earned_reward(client: redis.Redis, now: datetime, contact: str) -> dict[str, Any]:
    """The member spends 60: the milestone's coupon reward log, still `pending`."""
    assert (
        process(client, order_event(now, contact=contact, total="60.00", currency="USD"), now) == "processed"
    )
    [reward_log] = ProgressStore(client).member_reward_logs(INSTANCE, contact)
    assert reward_log["status"] == "pending"
    return reward_log


def issue(
    client: redis.Redis, reward_log: dict[str, Any], now: datetime, code: str | None = None
) -> dict[str, Any]:
    """Stamp the coupon on the reward log as fulfilment does (issue_reward), valid 14 days."""
    issued, _ = issue_reward(
        client,
        INSTANCE,
        reward_log["id"],
        coupon_code=code or coupon_code(reward_log["id"]),
        issued_at=now,
        expiry_at=now + timedelta(days=14),
        now=now,
    )
    return issued


def stored(client: redis.Redis, reward_log_id: str) -> dict[str, Any]:
    found = ProgressStore(client).reward_log(INSTANCE, reward_log_id)
    assert found is not None
    return found


@pytest.fixture
def now() -> datetime:
    """Now, to the millisecond (Wix's event times have milliseconds)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@pytest.fixture
def client(fake_store: fakeredis.FakeRedis) -> fakeredis.FakeRedis:
    for site in (INSTANCE, OTHER_SITE):
        ProgressStore(fake_store).save_program(site, PROGRAM)
    return fake_store


@pytest.fixture
def issued(client: redis.Redis, now: datetime) -> dict[str, Any]:
    """A member's coupon reward, issued with its code."""
    return issue(client, earned_reward(client, now, "member-1"), now)


class TestRedeeming:
    def test_a_paid_order_using_the_coupon_marks_it_redeemed_with_the_order(
        self, client, issued, now
    ) -> None:
        """Status `redeemed`, when the order was paid, and the order's id, total and currency; the code
        stays on the log."""
        paid_at = now + timedelta(hours=2)
        event = order_event(paid_at, code=issued["couponCode"], order_id="order-r", total="25.50")
        assert process(client, event, paid_at + timedelta(seconds=3)) == "processed"
        reward_log = stored(client, issued["id"])
        assert reward_log["status"] == "redeemed"
        assert reward_log["redeemedAt"] == utc_stamp(paid_at)
        assert reward_log["redemption"] == {"orderId": "order-r", "total": "25.50", "currency": "EUR"}
        assert reward_log["couponCode"] == issued["couponCode"]

    def test_an_approved_order_redeems_only_once_it_is_paid(self, client, issued, now) -> None:
        """`order_approved` not yet paid (an offline payment) leaves the coupon issued; approved and PAID
        redeems it."""
        code = issued["couponCode"]
        unpaid = order_event(now, code=code, event_type=APPROVED, payment_status="NOT_PAID")
        assert process(client, unpaid, now) == "processed"
        assert stored(client, issued["id"])["status"] == "issued"
        assert process(client, order_event(now, code=code, event_type=APPROVED), now) == "processed"
        assert stored(client, issued["id"])["status"] == "redeemed"

    def test_redeliveries_other_events_and_other_orders_change_nothing(self, client, issued, now) -> None:
        """The first redemption stays as it was: the same webhook again, a new webhook about the same
        order, the approval of it, and another order with the same code."""
        code = issued["couponCode"]
        first = order_event(now, code=code, order_id="order-1")
        assert process(client, first, now) == "processed"
        redeemed = stored(client, issued["id"])
        later = now + timedelta(minutes=5)
        assert process(client, first, later) == "already_settled"
        again = order_event(later, code=code, order_id="order-1", total="99.00")
        approved = order_event(later, code=code, order_id="order-1", event_type=APPROVED)
        other = order_event(later, code=code, order_id="order-2", total="70.00")
        for event in (again, approved, other):
            assert process(client, event, later) == "processed"
        assert stored(client, issued["id"]) == redeemed
        assert redeemed["redemption"]["orderId"] == "order-1"

    def test_two_workers_at_once_redeem_once(self, another_store, client, issued, now) -> None:
        """Eight workers, each with a different order using the code, at the same moment: one redeems,
        the stored redemption is the one that said so."""
        barrier = threading.Barrier(8)
        won: list[str] = []

        clients = [another_store() for _ in range(8)]  # connected before the race

        def work(n: int) -> None:
            own = clients[n]
            order = OrderInfo(id=f"order-{n}", total=Money(amount=Decimal("10"), currency="USD"))
            barrier.wait(timeout=10)
            if redeem_coupon(own, INSTANCE, issued["couponCode"], order, now, now) is not None:
                won.append(order.id)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert not any(thread.is_alive() for thread in threads)
        assert len(won) == 1
        assert stored(client, issued["id"])["redemption"]["orderId"] == won[0]

    def test_a_code_that_is_not_ours_is_ignored(self, client, issued, now) -> None:
        """Wix's example coupon: the order counts as usual, no reward log changes, nothing is indexed."""
        before = stored(client, issued["id"])
        assert process(client, order_event(now, code="SUMMERSALE10"), now) == "processed"
        assert stored(client, issued["id"]) == before
        assert client.hkeys(keys.coupon_codes(INSTANCE)) == [issued["couponCode"]]

    def test_another_sites_order_never_touches_this_sites_logs(self, client, issued, now) -> None:
        """The same code on an order of another site: this site's coupon stays issued."""
        event = order_event(now, code=issued["couponCode"])
        assert process(client, event, now, site=OTHER_SITE) == "processed"
        assert stored(client, issued["id"])["status"] == "issued"
        assert client.exists(keys.coupon_codes(OTHER_SITE)) == 0

    def test_a_code_finds_its_log_only_once_it_is_stamped(self, client, now) -> None:
        """A pending reward log has no code yet, so no order can name it: an order with the code it will
        get changes nothing, then or after the stamp."""
        pending = earned_reward(client, now, "member-2")
        code = coupon_code(pending["id"])
        assert process(client, order_event(now, code=code), now) == "processed"
        assert stored(client, pending["id"])["status"] == "pending"
        assert issue(client, pending, now)["status"] == "issued"
        assert stored(client, pending["id"])["status"] == "issued"

    def test_a_code_of_any_text_stays_a_field_of_its_own_hash(self, client, now) -> None:
        """A manual coupon's code is outside text (the Update Reward Log action): key-like characters
        find their log and write no other key; an over-long code in an order is passed over."""
        reward_log = earned_reward(client, now, "member-3")
        code = "{inst-redeem:member-3}:reward:*"
        before = set(client.keys("*"))
        issue(client, reward_log, now, code=code)
        new = set(client.keys("*")) - before
        counts = {key for key in new if key.startswith(f"wrw:stats:{{{INSTANCE}}}:")}  # the day's "issued"
        assert new - counts == {keys.coupon_codes(INSTANCE)}
        assert process(client, order_event(now, code="X" * 101), now) == "processed"
        assert process(client, order_event(now, code=code), now) == "processed"
        assert stored(client, reward_log["id"])["status"] == "redeemed"

    def test_a_shared_code_redeems_the_first_log_stamped_with_it(self, client, now) -> None:
        """Two manual rewards issued with one code: the index keeps the first; its order redeems that one."""
        first, second = earned_reward(client, now, "member-4"), earned_reward(client, now, "member-5")
        issue(client, first, now, code="SHARED-1")
        issue(client, second, now, code="SHARED-1")
        assert process(client, order_event(now, code="SHARED-1"), now) == "processed"
        assert stored(client, first["id"])["status"] == "redeemed"
        assert stored(client, second["id"])["status"] == "issued"


class TestARedeemedLogStaysRedeemed:
    @pytest.fixture
    def redeemed(self, client, issued, now) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        assert process(client, order_event(now, code=issued["couponCode"]), now) == "processed"
        return stored(client, issued["id"])

    def test_issuing_it_again_changes_nothing_and_another_code_conflicts(self, client, redeemed, now) -> None:
        """The Update Reward Log action or PATCH with the same values: unchanged; another code: 409."""
        same, changed = issue_reward(
            client,
            INSTANCE,
            redeemed["id"],
            coupon_code=redeemed["couponCode"],
            issued_at=datetime.fromisoformat(redeemed["rewardIssuedAt"]),
            expiry_at=datetime.fromisoformat(redeemed["rewardExpiryAt"]),
            now=now,
        )
        assert (same, changed) == (redeemed, False)
        with pytest.raises(Conflict):
            issue(client, redeemed, now, code="ANOTHER-CODE")
        assert stored(client, redeemed["id"]) == redeemed

    def test_a_late_failure_does_not_unmark_it(self, client, redeemed, now) -> None:
        """A fulfilment retry that fails for good marks nothing on a redeemed coupon."""
        mark_reward(client, INSTANCE, redeemed["id"], status="failed", now=now, error="Wix said no")
        assert stored(client, redeemed["id"]) == redeemed


def run_expire_rewards(client: redis.Redis, at: datetime) -> dict[str, Any]:
    """The `expire-rewards` job to its end, at `at`; its final record."""
    return run_job(client, "expire-rewards", at)


def run_job(client: redis.Redis, name: str, at: datetime) -> dict[str, Any]:
    """The job `name` of the instance to its end, at `at`; its final record."""
    jobs = Jobs(client, KINDS)
    record, _ = jobs.start(INSTANCE, name)
    while (batch := jobs.run_batch(record["id"], at, job_context(client))) is not None and batch.cursor:
        pass
    finished = jobs.get(record["id"])
    assert finished is not None and finished["status"] == "succeeded"
    return finished


class TestExpiry:
    def test_expire_rewards_expires_the_unused_coupon_and_leaves_the_redeemed_one(
        self, client, issued, now
    ) -> None:
        """Both past their expiry: the unused one is `expired`, the redeemed one stays `redeemed`."""
        unused = issue(client, earned_reward(client, now, "member-6"), now)
        assert process(client, order_event(now, code=issued["couponCode"]), now) == "processed"
        redeemed = stored(client, issued["id"])
        finished = run_expire_rewards(client, now + timedelta(days=15))
        assert finished["done"] == 1
        assert stored(client, unused["id"])["status"] == "expired"
        assert stored(client, issued["id"]) == redeemed

    def test_an_order_paid_after_the_expiry_pass_still_redeems(self, client, issued, now) -> None:
        """Applied at checkout before the expiry, paid after `expire-rewards` ran: the order wins."""
        run_expire_rewards(client, now + timedelta(days=15))
        assert stored(client, issued["id"])["status"] == "expired"
        late = now + timedelta(days=15, hours=1)
        assert process(client, order_event(late, code=issued["couponCode"]), late) == "processed"
        reward_log = stored(client, issued["id"])
        assert reward_log["status"] == "redeemed"
        assert reward_log["redeemedAt"] == utc_stamp(late)


class TestIndexingCouponsIssuedBefore:
    def test_the_job_indexes_old_coupons_once_and_keeps_an_existing_entry(self, client, now) -> None:
        """A coupon stamped before the index existed (no entry) is found after `index-coupon-codes` and
        its order redeems it; a code already naming a log keeps it; a second run adds nothing."""
        old = earned_reward(client, now, "member-7")
        key = keys.member_reward(INSTANCE, "member-7", old["id"])
        update_json(client, key, lambda log: {**log, "status": "issued", "couponCode": "OLD-1"})
        first = issue(client, earned_reward(client, now, "member-8"), now, code="SHARED-2")
        second = earned_reward(client, now, "member-9")
        key = keys.member_reward(INSTANCE, "member-9", second["id"])
        update_json(client, key, lambda log: {**log, "status": "issued", "couponCode": "SHARED-2"})
        assert process(client, order_event(now, code="OLD-1"), now) == "processed"
        assert stored(client, old["id"])["status"] == "issued"  # not findable yet

        assert run_job(client, "index-coupon-codes", now)["done"] == 1
        assert run_job(client, "index-coupon-codes", now)["done"] == 0
        assert process(client, order_event(now, code="OLD-1"), now) == "processed"
        assert stored(client, old["id"])["status"] == "redeemed"
        assert process(client, order_event(now, code="SHARED-2"), now) == "processed"
        assert stored(client, first["id"])["status"] == "redeemed"
        assert stored(client, second["id"])["status"] == "issued"


class TestNormalising:
    def test_the_orders_coupon_codes_are_read_and_other_discounts_passed_over(self, now) -> None:
        """Coupons in order, each once; an automatic discount (no coupon) or a malformed entry is skipped,
        and the order is still usable."""
        _, payload = order_event(now, code="RW-ABC")
        discounts = payload["actionEvent"]["body"]["order"]["appliedDiscounts"]
        discounts += [
            {"discountType": "GLOBAL", "discountRule": {"id": "rule-1"}},
            "not an object",
            {"coupon": {"code": 7}},
            {"coupon": {"code": "RW-ABC"}},
            {"coupon": {"code": "SECOND"}},
        ]
        event = normalize(event_type=PAID, instance_id=INSTANCE, event_id=payload["id"], payload=payload)
        assert event.order is not None and event.order.couponCodes == ["RW-ABC", "SECOND"]

    def test_an_order_without_applied_discounts_has_no_codes(self, now) -> None:
        _, payload = order_event(now)
        del payload["actionEvent"]["body"]["order"]["appliedDiscounts"]
        event = normalize(event_type=PAID, instance_id=INSTANCE, event_id=payload["id"], payload=payload)
        assert event.order is not None and event.order.couponCodes == []
