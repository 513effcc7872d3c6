"""Referrals: codes, claims, and the rules a paid or cancelled order applies (fixed instants throughout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker import keys
from worker.dispatch import RecordedDispatcher
from worker.engine.program import ProgramInvalid, parse_program
from worker.loyalty import referral_claims, referral_decisions, referral_records
from worker.loyalty.referral_claims import ClaimRefused, UnknownReferralCode
from worker.rewards.referral_rewards import on_order_event, release_due
from worker.store.progress import ProgressStore
from worker.wix.events import normalize

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-ref"
REFERRER, FRIEND, OTHER = "c-referrer", "c-friend", "c-other"
PAID_AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
PROGRAM: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "referrals": {
        "referrerReward": {"type": "points", "points": 100},
        "friendReward": {"type": "coupon", "coupon": {"name": "10% off", "percentOffRate": 10}},
        "holdDays": 14,
        "maxPerPeriod": 2,
        "period": "monthly",
    },
}


def order_event(
    name: str, order_id: str, contact_id: str, email: str | None = None, at: datetime = PAID_AT
) -> tuple[Any, dict[str, Any]]:
    """A normalized order event as Wix sends it (`actionEvent.body.order`), and its payload."""
    event_type = {"paid": "order_payment_status_updated", "canceled": "order_canceled"}[name]
    buyer: dict[str, Any] = {"contactId": contact_id, **({"email": email} if email else {})}
    order = {
        "id": order_id,
        "number": "10001",
        "paymentStatus": "PAID",
        "status": "APPROVED" if name == "paid" else "CANCELED",
        "buyerInfo": buyer,
        "priceSummary": {"total": {"amount": "50.00"}},
        "currency": "EUR",
    }
    payload = {"eventTime": at.isoformat(), "actionEvent": {"body": {"order": order}}}
    event = normalize(
        event_type=f"wix.ecom.v1.{event_type}",
        instance_id=INSTANCE,
        event_id=f"e-{name}-{order_id}",
        payload=payload,
    )
    return event, payload


def deliver(client: Any, name: str, order_id: str, contact_id: str, email: str | None = None) -> Any:
    event, payload = order_event(name, order_id, contact_id, email)
    return on_order_event(client, event, payload, PAID_AT)


@pytest.fixture
def client(fake_store):  # type: ignore[no-untyped-def]
    ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
    return fake_store


def claimed(client: Any, friend: str = FRIEND, referrer: str = REFERRER) -> str:
    code = referral_claims.member_code(client, INSTANCE, referrer)
    referral_claims.claim(client, INSTANCE, friend, code, PAID_AT - timedelta(hours=1))
    return code


class TestProgram:
    def test_a_program_without_referrals_has_none(self) -> None:
        """No section: nothing to refer (the default)."""
        assert parse_program({}).referrals is None

    def test_the_defaults(self) -> None:
        """holdDays 14, no cap, monthly periods."""
        section = {
            "referrerReward": {"type": "points", "points": 5},
            "friendReward": {"type": "points", "points": 5},
        }
        referral = parse_program({"referrals": section}).referrals
        assert referral is not None
        assert (referral.holdDays, referral.maxPerPeriod, referral.period) == (14, None, "monthly")

    def test_a_manual_reward_and_a_long_hold_are_refused_with_their_paths(self) -> None:
        """A referral reward is points or a coupon; holdDays is 0 to 365."""
        section = {
            "referrerReward": {"type": "manual"},
            "friendReward": {"type": "points"},
            "holdDays": 400,
        }
        with pytest.raises(ProgramInvalid) as caught:
            parse_program({"referrals": section})
        assert [p["path"] for p in caught.value.problems] == ["referrals.holdDays"]
        section["holdDays"] = 0
        with pytest.raises(ProgramInvalid) as caught:
            parse_program({"referrals": section})
        assert [p["path"] for p in caught.value.problems] == [
            "referrals.referrerReward.type",
            "referrals.friendReward.points",
        ]


class TestCodesAndClaims:
    def test_a_member_keeps_one_unguessable_code(self, client) -> None:
        """The same code every time, not the contact id, different for another member."""
        code = referral_claims.member_code(client, INSTANCE, REFERRER)
        assert referral_claims.member_code(client, INSTANCE, REFERRER) == code
        assert REFERRER not in code and len(code) >= 12
        assert referral_claims.member_code(client, INSTANCE, OTHER) != code

    def test_the_first_claim_stands(self, client) -> None:
        """A second claim, of another member's code, answers the first."""
        code = claimed(client)
        other_code = referral_claims.member_code(client, INSTANCE, OTHER)
        again = referral_claims.claim(client, INSTANCE, FRIEND, other_code, PAID_AT)
        assert (again["code"], again["referrerId"], again["status"]) == (code, REFERRER, "claimed")

    def test_an_own_code_is_refused(self, client) -> None:
        """A member cannot refer themselves."""
        code = referral_claims.member_code(client, INSTANCE, REFERRER)
        with pytest.raises(ClaimRefused) as caught:
            referral_claims.claim(client, INSTANCE, REFERRER, code, PAID_AT)
        assert caught.value.reason == "same_contact"

    def test_an_unknown_code_is_refused(self, client) -> None:
        with pytest.raises(UnknownReferralCode):
            referral_claims.claim(client, INSTANCE, FRIEND, "A" * 12, PAID_AT)

    def test_a_member_who_has_paid_an_order_cannot_claim(self, client) -> None:
        """Referrals reward a first order: an earlier paid order refuses the claim."""
        deliver(client, "paid", "o-earlier", FRIEND)
        code = referral_claims.member_code(client, INSTANCE, REFERRER)
        with pytest.raises(ClaimRefused) as caught:
            referral_claims.claim(client, INSTANCE, FRIEND, code, PAID_AT)
        assert caught.value.reason == "not_first_order"


class TestPaidOrders:
    def test_a_first_paid_order_is_held_for_hold_days(self, client) -> None:
        """Held until 14 days after the payment, counted in the referrer's December cap."""
        claimed(client)
        record = deliver(client, "paid", "o-1", FRIEND, "friend@example.com")
        assert record["status"] == "held"
        assert record["releaseAt"] == "2026-12-21T10:00:00Z"
        assert client.get(keys.referral_cap(INSTANCE, REFERRER, "monthly:2026-12-01")) == "1"

    def test_a_second_order_changes_nothing(self, client) -> None:
        """Only the first paid order counts; a redelivery neither."""
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        deliver(client, "paid", "o-1", FRIEND)
        record = deliver(client, "paid", "o-2", FRIEND)
        assert (record["status"], record["orderId"]) == ("held", "o-1")
        assert client.get(keys.referral_cap(INSTANCE, REFERRER, "monthly:2026-12-01")) == "1"

    def test_the_same_email_is_refused(self, client) -> None:
        """A friend ordering with an email the referrer ordered with (any case) is refused, and says so."""
        deliver(client, "paid", "o-ref", REFERRER, "Alex@Example.com")
        claimed(client)
        record = deliver(client, "paid", "o-1", FRIEND, "alex@example.COM ")
        assert (record["status"], record["reason"]) == ("refused", "same_email")
        assert record["history"][-1]["reason"] == "the friend's email is the referrer's"

    def test_the_cap_refuses_the_third_referral_of_the_month(self, client) -> None:
        """maxPerPeriod 2 a month: the third friend's paid order is refused with cap_reached."""
        for friend in ("f1", "f2", "f3"):
            claimed(client, friend)
        decided = [deliver(client, "paid", f"o-{friend}", friend) for friend in ("f1", "f2", "f3")]
        assert [(r["status"], r.get("reason")) for r in decided] == [
            ("held", None),
            ("held", None),
            ("refused", "cap_reached"),
        ]

    def test_the_period_is_cut_in_the_programs_timezone(self) -> None:
        """23:30 UTC on 31 December is already January in Berlin."""
        from worker.engine.referrals import cap_period

        section = parse_program(PROGRAM).referrals
        assert section is not None
        late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        assert cap_period(section, late, parse_program(PROGRAM).zone) == "monthly:2027-01-01"

    def test_a_buyer_who_claimed_nothing_is_not_a_referral(self, client) -> None:
        assert deliver(client, "paid", "o-1", OTHER) is None


class TestCancelAndRelease:
    def test_a_cancelled_order_drops_the_held_referral_and_frees_its_cap(self, client) -> None:
        """Dropped with the reason; the cap counts it no more; the release job rewards nothing."""
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        record = deliver(client, "canceled", "o-1", FRIEND)
        assert (record["status"], record["reason"]) == ("dropped", "order_canceled")
        assert client.get(keys.referral_cap(INSTANCE, REFERRER, "monthly:2026-12-01")) == "0"
        sent = RecordedDispatcher()
        assert release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=30)) == (0, 0)
        assert sent.earns == [] and sent.sent == []

    def test_a_cancel_before_the_payment_drops_it_too(self, client) -> None:
        """Webhooks out of order: the cancel is remembered for the order."""
        claimed(client)
        deliver(client, "canceled", "o-1", FRIEND)
        record = deliver(client, "paid", "o-1", FRIEND)
        assert (record["status"], record["reason"]) == ("dropped", "order_canceled")

    def test_nothing_is_released_before_hold_days(self, client) -> None:
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        sent = RecordedDispatcher()
        assert release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=13, hours=23)) == (0, 0)
        assert sent.earns == []

    def test_after_hold_days_both_sides_are_rewarded_once_and_reported_once(self, client) -> None:
        """The referrer's points (keyed by the referral), the friend's coupon reward log, one trigger."""
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        sent = RecordedDispatcher()
        due = PAID_AT + timedelta(days=14)
        assert release_due(client, sent, INSTANCE, due) == (1, 0)
        assert release_due(client, sent, INSTANCE, due + timedelta(hours=1)) == (0, 0)
        [(_, earn)] = sent.earns
        assert (earn.contact_id, earn.points, earn.idempotency_key) == (
            REFERRER,
            100,
            f"wrw:referral:{FRIEND}:referrer",
        )
        [(_, reward_log_id)] = sent.sent
        reward_log = ProgressStore(client).reward_log(INSTANCE, reward_log_id)
        assert reward_log is not None
        assert (reward_log["contactId"], reward_log["reward"]["type"]) == (FRIEND, "coupon")
        [(_task, kwargs, _)] = [r for r in sent.resent if r[0] == "rewards.report_event"]
        assert kwargs["trigger_key"] == "referral_rewarded"
        assert kwargs["payload"]["contactId"] == REFERRER
        assert referral_records.referral_record(client, INSTANCE, FRIEND)["status"] == "rewarded"  # type: ignore[index]

    def test_a_release_cut_short_sends_again_on_the_next_run(self, client) -> None:
        """Marked rewarded but still due (a crash before the sends): the next run sends the same keys."""
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        due = PAID_AT + timedelta(days=14)
        referral_decisions.mark_rewarded(client, INSTANCE, FRIEND, due)
        sent = RecordedDispatcher()
        assert release_due(client, sent, INSTANCE, due) == (1, 0)
        assert [earn.idempotency_key for _, earn in sent.earns] == [f"wrw:referral:{FRIEND}:referrer"]

    def test_a_cancel_after_the_reward_changes_nothing(self, client) -> None:
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        release_due(client, RecordedDispatcher(), INSTANCE, PAID_AT + timedelta(days=14))
        assert deliver(client, "canceled", "o-1", FRIEND) is None
        assert referral_records.referral_record(client, INSTANCE, FRIEND)["status"] == "rewarded"  # type: ignore[index]


def card(brand: str, digits: str) -> dict[str, Any]:
    """A Wix order payment by card, as the Order Transactions API answers it."""
    return {
        "id": f"pay-{digits}",
        "amount": {"amount": "50.00", "formattedAmount": "€50.00"},
        "regularPaymentDetails": {
            "paymentMethod": "CreditCard",
            "status": "APPROVED",
            "creditCardDetails": {"lastFourDigits": digits, "brand": brand},
        },
    }


class TestSamePayment:
    def payments(self, by_order: dict[str, list[dict[str, Any]]]) -> Any:
        return lambda order_id: by_order.get(order_id, [])

    def test_the_referrers_card_refuses_the_referral_when_its_hold_ends(self, client) -> None:
        """The friend paid with the card the referrer paid with: refused, nothing sent, cap freed."""
        deliver(client, "paid", "o-ref", REFERRER)
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        sent = RecordedDispatcher()
        payments = self.payments({"o-ref": [card("Visa", "4242")], "o-1": [card("visa", "4242")]})
        assert release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=14), payments=payments) == (0, 1)
        record = referral_records.referral_record(client, INSTANCE, FRIEND)
        assert record is not None and (record["status"], record["reason"]) == ("refused", "same_payment")
        assert sent.earns == [] and sent.sent == []
        assert client.get(keys.referral_cap(INSTANCE, REFERRER, "monthly:2026-12-01")) == "0"

    def test_another_card_or_no_card_details_is_rewarded(self, client) -> None:
        deliver(client, "paid", "o-ref", REFERRER)
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND)
        payments = self.payments({"o-ref": [card("Visa", "4242")], "o-1": [card("Mastercard", "4242")]})
        sent = RecordedDispatcher()
        assert release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=14), payments=payments) == (1, 0)

    def test_only_cards_give_a_fingerprint(self) -> None:
        """Brand and last four digits; an offline payment or a gift card tells nobody apart."""
        from worker.engine.referrals import payment_fingerprints

        offline = {"regularPaymentDetails": {"paymentMethod": "Offline", "offlinePayment": True}}
        gift = {"giftcardPaymentDetails": {"giftCardPaymentId": "g1"}}
        assert payment_fingerprints([card("VISA ", "4242"), offline, gift]) == {"card:visa:4242"}


# Any order of these steps, each possibly repeated, for three friends of one referrer (cap 2).
STEPS = st.lists(
    st.tuples(st.sampled_from(["paid", "paid2", "canceled", "release"]), st.sampled_from(["f1", "f2", "f3"])),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS)
def test_no_order_of_events_rewards_twice_or_passes_the_cap(steps: list[tuple[str, str]]) -> None:
    """Whatever the order and duplication of payments, cancels and releases: each referral's rewards go
    out at most once, and at most maxPerPeriod referrals of the period are held or rewarded."""
    import fakeredis

    client = fakeredis.FakeRedis(decode_responses=True)
    ProgressStore(client).save_program(INSTANCE, PROGRAM)
    for friend in ("f1", "f2", "f3"):
        claimed(client, friend)
    sent = RecordedDispatcher()
    for step, friend in steps:
        if step == "release":
            release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=15))
        else:
            order = f"o-{friend}-2" if step == "paid2" else f"o-{friend}"
            deliver(client, "paid" if step != "canceled" else "canceled", order, friend)
    release_due(client, sent, INSTANCE, PAID_AT + timedelta(days=15))
    keys_sent = [earn.idempotency_key for _, earn in sent.earns]
    assert len(keys_sent) == len(set(keys_sent))
    reports = [
        r[1]["entity"] for r in sent.resent if r[0] == "rewards.report_event" and "referral" in r[1]["entity"]
    ]
    assert len(reports) == len(set(reports))
    records = [referral_records.referral_record(client, INSTANCE, f) for f in ("f1", "f2", "f3")]
    counted = [r for r in records if r is not None and r["status"] in ("held", "rewarded")]
    assert len(counted) <= 2
    assert int(client.get(keys.referral_cap(INSTANCE, REFERRER, "monthly:2026-12-01")) or 0) == len(counted)
    rewarded = {r["friendId"] for r in records if r is not None and r["status"] == "rewarded"}
    assert {key.split(":")[2] for key in keys_sent} == rewarded


class TestErasure:
    def test_erasing_a_referrer_forgets_them_and_drops_what_was_not_rewarded(self, client) -> None:
        """Their code stops working, no key names them, and a friend's held referral is dropped."""
        code = claimed(client)
        deliver(client, "paid", "o-ref", REFERRER, "ref@example.com")
        deliver(client, "paid", "o-1", FRIEND)
        referral_records.erase_contact(client, INSTANCE, REFERRER)
        assert not [key for key in client.scan_iter("wrw:referrals:*") if REFERRER in key]
        with pytest.raises(UnknownReferralCode):
            referral_claims.claim(client, INSTANCE, OTHER, code, PAID_AT)
        record = referral_records.referral_record(client, INSTANCE, FRIEND)
        assert record is not None
        assert (record["status"], record["referrerId"]) == ("dropped", "(erased)")
        assert REFERRER not in str(record)
        assert release_due(client, RecordedDispatcher(), INSTANCE, PAID_AT + timedelta(days=30)) == (0, 0)

    def test_erasing_a_friend_removes_their_referral_and_emails(self, client) -> None:
        claimed(client)
        deliver(client, "paid", "o-1", FRIEND, "friend@example.com")
        referral_records.erase_contact(client, INSTANCE, FRIEND)
        assert not [key for key in client.scan_iter("wrw:referrals:*") if FRIEND in key]
        assert client.zcard(keys.referrals_due(INSTANCE)) == 0
