"""Points rules beyond order totals: flat rules, a member signing up, order conditions, custom
activities and birthdays; each earns once however often it is delivered."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.logs import LogRejected
from worker.engine.program import ProgramInvalid, parse_program
from worker.events.processing import process_event
from worker.jobs.birthdays import birthday_on, birthdays, days_to_go_through
from worker.jobs.runner import JobContext
from worker.loyalty.earning import event_earns
from worker.loyalty.points_rules import OrderFacts, points_to_earn
from worker.progress.record import ActivityRequest
from worker.rewards.activity_points import record_custom_activity
from worker.rewards.follow_ups import record_and_follow_up
from worker.settings import Settings
from worker.store import outbox
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.client import WixApiError, WixTransientError
from worker.wix.events import normalize
from worker.wix.fake.payloads import EventOptions, build_payload

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-earn"
CONTACT = "24de6f0b-60ce-4faa-9138-2e39f1415615"


def program(*rules: dict[str, Any]) -> dict[str, Any]:
    return {**BASE_PROGRAM, "pointsRules": list(rules)}


def order_paid(order_id: str = "order-1", total: str = "60.00", products: tuple[str, ...] = (), **kw: Any):  # type: ignore[no-untyped-def]
    options = EventOptions(order_id=order_id, total=total, product_ids=products, **kw)
    payload = build_payload("wix.ecom.v1.order_payment_status_updated", options)
    return normalize(
        event_type="wix.ecom.v1.order_payment_status_updated",
        instance_id=INSTANCE,
        event_id=options.event_id,
        payload=payload,
    )


def member_created(event_id: str = "evt-m1", member_id: str = "member-1"):  # type: ignore[no-untyped-def]
    options = EventOptions(event_id=event_id, member_id=member_id)
    payload = build_payload("wix.members.v1.member_created", options)
    return normalize(
        event_type="wix.members.v1.member_created", instance_id=INSTANCE, event_id=event_id, payload=payload
    )


class TestSchema:
    @pytest.mark.parametrize(
        ("rule", "problem"),
        [
            ({"points": 5}, "pointsRules[0]: needs exactly one of on and activity"),
            ({"on": "order_paid", "activity": "review", "points": 5}, "pointsRules[0]: needs exactly one"),
            ({"on": "member_created", "points": 5, "per": 10}, "pointsRules[0].per: only for the order"),
            ({"activity": "review", "points": 5, "when": {"minimumTotal": 5}}, "pointsRules[0].when: only"),
            (
                {"on": "checkout_completed", "points": 5, "when": {"firstOrderOnly": True}},
                "pointsRules[0].when.firstOrderOnly: only for the order events",
            ),
            ({"on": "order_paid", "points": 5, "when": {"productIds": []}}, "pointsRules[0].when.productIds"),
        ],
    )
    def test_a_rule_that_cannot_earn_as_written_is_refused(self, rule: dict[str, Any], problem: str) -> None:
        with pytest.raises(ProgramInvalid) as refused:
            parse_program(program(rule))
        assert problem in str(refused.value)

    def test_every_kind_of_rule_is_accepted(self) -> None:
        parsed = parse_program(
            program(
                {"on": "order_paid", "points": 1, "per": 10, "when": {"minimumTotal": 50}},
                {
                    "on": "order_paid",
                    "points": 100,
                    "when": {"firstOrderOnly": True, "collectionIds": ["c1"]},
                },
                {"on": "member_created", "points": 50},
                {"on": "birthday", "points": 200},
                {"activity": "review", "points": 10},
            )
        )
        assert [rule.per for rule in parsed.pointsRules] == [10, None, None, None, None]


class TestEventRules:
    def test_a_flat_order_rule_earns_its_points_whatever_the_total(self) -> None:
        [earn] = points_to_earn(
            order_paid(total="3.00"), parse_program(program({"on": "order_paid", "points": 20}))
        )
        assert (earn.points, earn.idempotency_key) == (20, "wrw:order_paid:order-1:0")

    def test_a_member_signing_up_earns_once_per_member(self) -> None:
        """Two deliveries of the member's creation (different event ids): one key, from the member id."""
        rules = parse_program(program({"on": "member_created", "points": 50}))
        first, again = (points_to_earn(member_created(e), rules) for e in ("evt-1", "evt-2"))
        assert first == again
        assert first[0].contact_id == CONTACT
        assert first[0].idempotency_key == "wrw:member_created:member-1:0"
        assert first[0].points == 50

    def test_the_member_created_webhook_is_normalized_with_the_members_contact(self) -> None:
        event = member_created()
        assert (event.name, event.contactId, event.member and event.member.id) == (
            "member_created",
            CONTACT,
            "member-1",
        )


class TestOrderConditions:
    RULES = (
        {"on": "order_paid", "points": 1, "when": {"minimumTotal": 50}},
        {"on": "order_paid", "points": 10, "when": {"productIds": ["p-shirt"]}},
        {"on": "order_paid", "points": 100, "when": {"collectionIds": ["summer"]}},
        {"on": "order_paid", "points": 1000, "when": {"firstOrderOnly": True}},
    )

    def earned(self, event: Any, facts: OrderFacts) -> int:
        return sum(e.points for e in points_to_earn(event, parse_program(program(*self.RULES)), facts))

    def test_each_condition_met_earns_its_rule(self) -> None:
        facts = OrderFacts(first_order=True, collection_ids=frozenset({"summer"}))
        assert self.earned(order_paid(total="50.00", products=("p-shirt",)), facts) == 1111

    def test_each_condition_missed_earns_nothing(self) -> None:
        facts = OrderFacts(first_order=False, collection_ids=frozenset({"winter"}))
        assert self.earned(order_paid(total="49.99", products=("p-hat",)), facts) == 0

    def test_unknown_facts_meet_no_condition_that_needs_them(self) -> None:
        """A dry run (no Redis, no Wix) cannot say first order or collections: those rules do not earn."""
        assert self.earned(order_paid(total="80.00", products=("p-shirt",)), OrderFacts()) == 11

    def test_of_two_orders_only_the_first_paid_is_first_and_a_redelivery_stays_first(
        self, fake_store
    ) -> None:
        rules = parse_program(program({"on": "order_paid", "points": 100, "when": {"firstOrderOnly": True}}))
        first = event_earns(fake_store, order_paid("order-1"), rules)
        second = event_earns(fake_store, order_paid("order-2"), rules)
        again = event_earns(fake_store, order_paid("order-1", event_id="another-delivery"), rules)
        assert [len(first), len(second)] == [1, 0]
        assert again == first

    def test_an_unpaid_order_is_never_first(self, fake_store) -> None:
        rules = parse_program(program({"on": "order_paid", "points": 100, "when": {"firstOrderOnly": True}}))
        unpaid = order_paid("order-9").model_copy(
            update={"order": order_paid("order-9").order.model_copy(update={"paymentStatus": "NOT_PAID"})}  # type: ignore[union-attr]
        )
        assert event_earns(fake_store, unpaid, rules) == []
        assert fake_store.get(keys.member_first_order(INSTANCE, CONTACT)) is None

    def test_a_products_collections_are_read_from_wix_once_then_kept(self, fake_store) -> None:
        rules = parse_program(
            program({"on": "order_paid", "points": 25, "when": {"collectionIds": ["summer"]}})
        )
        asked: list[str] = []

        def lookup(instance_id: str, product_id: str) -> dict[str, Any] | None:
            asked.append(product_id)
            return {"id": product_id, "collectionIds": ["all", "summer"]} if product_id == "p-1" else None

        for order_id in ("order-1", "order-2"):
            earns = event_earns(fake_store, order_paid(order_id, products=("p-1", "p-gone")), rules, lookup)
            assert [e.points for e in earns] == [25]
        assert asked == ["p-1", "p-gone"]  # the second order found both in the cache

    def test_a_refused_product_lookup_meets_no_collection_and_a_passing_failure_retries(
        self, fake_store
    ) -> None:
        rules = parse_program(
            program({"on": "order_paid", "points": 25, "when": {"collectionIds": ["summer"]}})
        )

        def refused(instance_id: str, product_id: str) -> dict[str, Any] | None:
            raise WixApiError("403 PERMISSION_DENIED", status=403)

        def passing(instance_id: str, product_id: str) -> dict[str, Any] | None:
            raise WixTransientError("503", status=503)

        assert event_earns(fake_store, order_paid(products=("p-1",)), rules, refused) == []
        with pytest.raises(WixTransientError):
            event_earns(fake_store, order_paid(products=("p-1",)), rules, passing)

    def test_a_cancellation_of_a_paid_order_does_not_claim_the_first_order(self, fake_store) -> None:
        canceled = order_paid("order-c").model_copy(update={"name": "order_canceled"})
        rules = parse_program(program({"on": "order_paid", "points": 100, "when": {"firstOrderOnly": True}}))
        event_earns(fake_store, canceled, rules)
        assert [e.points for e in event_earns(fake_store, order_paid("order-p"), rules)] == [100]


EVENT_RULES = program(
    {"on": "member_created", "points": 50},
    {"on": "order_paid", "points": 100, "when": {"firstOrderOnly": True}},
    {"on": "order_paid", "points": 10, "when": {"collectionIds": ["summer"]}},
)
DELIVERIES = {
    "m1": ("wix.members.v1.member_created", EventOptions(member_id="m1")),
    "o1": ("wix.ecom.v1.order_payment_status_updated", EventOptions(order_id="o1", product_ids=("p-hat",))),
    "o2": ("wix.ecom.v1.order_payment_status_updated", EventOptions(order_id="o2", product_ids=("p-cap",))),
}


class TestRedeliveries:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        st.lists(st.tuples(st.sampled_from(sorted(DELIVERIES)), st.integers(0, 2)), min_size=1, max_size=10)
    )
    def test_any_order_of_deliveries_earns_each_thing_once_and_one_first_order(
        self, fake_store, deliveries
    ) -> None:  # type: ignore[no-untyped-def]
        """Webhooks redelivered (same event id) or repeated (a new event id), in any order: each earn's
        key always carries the same points, and exactly one order, the first delivered, is the first."""
        fake_store.flushall()
        ProgressStore(fake_store).save_program(INSTANCE, EVENT_RULES)
        follow_ups = RecordedDispatcher()
        for name, copy in deliveries:
            event_type, options = DELIVERIES[name]
            data = json.dumps(build_payload(event_type, options))
            process_event(
                EventJournal(fake_store, 600), fake_store, event_type=event_type, instance_id=INSTANCE,
                event_id=f"{name}-{copy}", data=data, our_app_id=None,
                claim_ttl_seconds=600, follow_ups=follow_ups,
                product_lookup=lambda instance_id, product_id: {"collectionIds": ["summer"]},
            )  # fmt: skip
        points = {earn.idempotency_key: earn.points for _, earn in follow_ups.earns}
        assert len({(earn.idempotency_key, earn.points) for _, earn in follow_ups.earns}) == len(points)
        delivered = [name for name, _ in deliveries]
        orders = [name for name in dict.fromkeys(delivered) if name.startswith("o")]
        expected = {f"wrw:order_paid:{o}:2": 10 for o in orders}
        expected |= {f"wrw:order_paid:{orders[0]}:1": 100} if orders else {}
        expected |= {"wrw:member_created:m1:0": 50} if "m1" in delivered else {}
        assert points == expected


ACTIVITY_PROGRAM = {
    **program({"activity": "review", "points": 10}),
    "streaks": [
        {
            "id": "reviewer",
            "name": "Reviewer",
            "status": "live",
            "activityIds": ["review", "visit"],
            "aggregationMethod": "count",
            "aggregationPeriod": "weekly",
            "aggregationTargetValue": 1,
        }
    ],
    "challenges": [],
}


def review_log(uid: str, activity_id: str = "review") -> ActivityRequest:
    return ActivityRequest(
        kind="streak",
        item_id="reviewer",
        contact_id=CONTACT,
        activity_id=activity_id,
        activity_value=None,
        activity_at=datetime.now(UTC),
        unique_identifier=uid,
    )


class TestCustomActivities:
    def test_a_log_with_the_activity_earns_and_its_intent_is_committed_with_it(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        follow_ups = RecordedDispatcher()
        record_and_follow_up(fake_store, follow_ups, INSTANCE, review_log("review-42"), datetime.now(UTC))
        [(_, earn)] = follow_ups.earns
        assert earn.points == 10
        pending = outbox.pending(
            fake_store, keys.member_outbox(INSTANCE, CONTACT), [outbox.earn_intent_id(earn.idempotency_key)]
        )
        assert len(pending) == 1  # until the earn task takes it; the relay sends it if the send was lost

    def test_a_log_of_another_activity_earns_nothing(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        follow_ups = RecordedDispatcher()
        record_and_follow_up(fake_store, follow_ups, INSTANCE, review_log("v-1", "visit"), datetime.now(UTC))
        assert follow_ups.earns == []

    def test_a_paused_member_earns_nothing(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        fake_store.set(keys.member_status(INSTANCE, CONTACT), "paused")
        follow_ups = RecordedDispatcher()
        record_and_follow_up(fake_store, follow_ups, INSTANCE, review_log("review-1"), datetime.now(UTC))
        answer, _ = record_custom_activity(
            fake_store, follow_ups, INSTANCE, contact_id=CONTACT, activity_id="review",
            unique_identifier="review-2", now=datetime.now(UTC),
        )  # fmt: skip
        assert follow_ups.earns == [] and answer["points"] == []

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        attempts=st.lists(
            st.tuples(st.sampled_from(["log", "activity"]), st.sampled_from(["a", "b", "c"])), max_size=12
        )
    )
    def test_however_often_an_activity_is_retried_it_earns_once(self, fake_store, attempts) -> None:  # type: ignore[no-untyped-def]
        """Any order of records and retries, through both ways in: one earn per recorded identifier (a
        retry sends again only an intent no worker took: the earn task's idempotency key makes it once)."""
        fake_store.flushall()
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        follow_ups = RecordedDispatcher()
        for way, uid in attempts:
            if way == "log":
                record_and_follow_up(
                    fake_store, follow_ups, INSTANCE, review_log(f"log-{uid}"), datetime.now(UTC)
                )
            else:
                record_custom_activity(
                    fake_store, follow_ups, INSTANCE, contact_id=CONTACT, activity_id="review",
                    unique_identifier=f"act-{uid}", now=datetime.now(UTC),
                )  # fmt: skip
            for _, earn in follow_ups.earns:  # the earn task takes its intent
                outbox.take(
                    fake_store,
                    keys.member_outbox(INSTANCE, CONTACT),
                    outbox.earn_intent_id(earn.idempotency_key),
                )
        sent = [earn.idempotency_key for _, earn in follow_ups.earns]
        resent = [kwargs["idempotency_key"] for _, kwargs, _ in follow_ups.resent]
        assert len(sent) == len(set(sent)) == len({(way, uid) for way, uid in attempts})
        assert resent == []

    def test_a_retry_before_the_earn_was_taken_sends_it_again_with_the_same_key(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        follow_ups = RecordedDispatcher()
        for _ in range(2):
            answer, duplicate = record_custom_activity(
                fake_store, follow_ups, INSTANCE, contact_id=CONTACT, activity_id="review",
                unique_identifier="follow-1", now=datetime.now(UTC),
            )  # fmt: skip
        assert duplicate
        [(_, earn)] = follow_ups.earns
        [(task, kwargs, _)] = follow_ups.resent
        assert (task, kwargs["idempotency_key"]) == ("rewards.earn_points", earn.idempotency_key)
        assert answer["points"][0]["idempotency_key"] == earn.idempotency_key

    def test_bad_input_is_refused_with_nothing_written(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, ACTIVITY_PROGRAM)
        with pytest.raises(LogRejected, match="contactId"):
            record_custom_activity(
                fake_store, RecordedDispatcher(), INSTANCE, contact_id="a}b", activity_id="review",
                unique_identifier="x", now=datetime.now(UTC),
            )  # fmt: skip
        with pytest.raises(LogRejected, match="no program"):
            record_custom_activity(
                fake_store, RecordedDispatcher(), "inst-none", contact_id=CONTACT, activity_id="review",
                unique_identifier="x", now=datetime.now(UTC),
            )  # fmt: skip
        assert fake_store.keys("*:activity:*") == []


class ContactsWix:
    """Contacts and their birthdates, a page at a time (WixClient.query_contact_birthdates)."""

    def __init__(self, birthdates: dict[str, str | None]) -> None:
        self.contacts = [
            {"id": cid, "info": {"name": {"first": cid}} | ({"birthdate": b} if b else {})}
            for cid, b in birthdates.items()
        ]
        self.pages = 0

    def query_contact_birthdates(
        self, instance_id: str, *, offset: int, limit: int = 100
    ) -> tuple[list[Any], int]:
        self.pages += 1
        return self.contacts[offset : offset + limit], len(self.contacts)


def run_birthdays(fake_store, wix: ContactsWix, follow_ups: RecordedDispatcher, now: datetime) -> None:  # type: ignore[no-untyped-def]
    context = JobContext(
        redis=fake_store,
        settings=Settings(redis_url="redis://unused", _env_file=None),  # type: ignore[call-arg]
        wix=lambda: wix,  # type: ignore[arg-type,return-value]
        dispatcher=lambda: follow_ups,
    )
    cursor: str | None = "0"  # as the runner starts a job
    for _ in range(20):
        batch = birthdays(context, {"instanceId": INSTANCE, "cursor": cursor}, now)
        cursor = batch.cursor
        if cursor is None:
            return


class TestBirthdays:
    def test_a_leap_day_birthday_is_on_february_28_in_other_years(self) -> None:
        assert birthday_on("1992-02-29", date(2027, 2, 28))
        assert not birthday_on("1992-02-29", date(2028, 2, 28))
        assert birthday_on("1992-02-29", date(2028, 2, 29))
        assert not birthday_on("not-a-date", date(2028, 2, 29))

    def test_missed_days_are_caught_up_within_the_window(self) -> None:
        today = date(2026, 12, 7)
        assert days_to_go_through(None, today) == [today]
        assert days_to_go_through("2026-12-07", today) == []
        assert days_to_go_through("2026-12-05", today) == [date(2026, 12, 6), today]
        assert days_to_go_through("2026-11-01", today)[0] == date(2026, 12, 4)

    def test_todays_birthdays_in_the_programs_timezone_earn_once_a_year(self, fake_store) -> None:
        """23:30 UTC on 6 December is 7 December in Berlin: 7 December birthdays earn; running again
        that day, or the next day, earns them nothing more; the next year they earn again."""
        ProgressStore(fake_store).save_program(INSTANCE, program({"on": "birthday", "points": 200}))
        wix = ContactsWix(
            {f"c-{n}": "1990-12-07" for n in range(150)} | {"c-dec6": "1990-12-06", "c-none": None}
        )
        follow_ups = RecordedDispatcher()
        with time_machine.travel(datetime(2026, 12, 6, 23, 30, tzinfo=UTC), tick=False):
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
        earned = {earn.contact_id: earn for _, earn in follow_ups.earns}
        assert len(follow_ups.earns) == len(earned) == 150 and "c-dec6" not in earned
        assert earned["c-0"].points == 200 and ":2026:" in earned["c-0"].idempotency_key
        # A year on, the job's last-day mark is long gone (LAST_DAY_TTL_SECONDS); a real Redis's clock does
        # not travel with the test's, so it goes here by hand.
        fake_store.delete(keys.birthdays_last_day(INSTANCE))
        with time_machine.travel(datetime(2027, 12, 7, 9, 0, tzinfo=UTC), tick=False):
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
        assert len(follow_ups.earns) == 300

    def test_a_day_the_job_did_not_run_is_caught_up(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(INSTANCE, program({"on": "birthday", "points": 5}))
        wix = ContactsWix({"born-5th": "2000-12-05", "born-6th": "2000-12-06", "born-7th": "2000-12-07"})
        follow_ups = RecordedDispatcher()
        with time_machine.travel(datetime(2026, 12, 5, 10, 0, tzinfo=UTC), tick=False):
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
        with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=UTC), tick=False):  # the 6th was missed
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
        assert [earn.contact_id for _, earn in follow_ups.earns] == ["born-5th", "born-6th", "born-7th"]

    def test_a_program_without_a_birthday_rule_reads_no_contacts(self, fake_store) -> None:
        ProgressStore(fake_store).save_program(
            INSTANCE, program({"on": "order_paid", "points": 1, "per": 10})
        )
        wix = ContactsWix({"c": "2000-12-07"})
        run_birthdays(fake_store, wix, RecordedDispatcher(), datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
        assert wix.pages == 0
        assert fake_store.get(keys.birthdays_last_day(INSTANCE)) is None


class TestCapsOnActivitiesAndBirthdays:
    """Earns no webhook made go through the same caps as an order's (worker/loyalty/earn_limits.py)."""

    def test_custom_activities_stop_at_the_members_cap_and_a_repeat_changes_nothing(self, fake_store) -> None:
        capped = {"activity": "review", "points": 10, "maxPerPeriod": 25, "period": "monthly"}
        ProgressStore(fake_store).save_program(INSTANCE, {**ACTIVITY_PROGRAM, "pointsRules": [capped]})
        follow_ups = RecordedDispatcher()
        # A month still to come: the store's counters expire by a real Redis's clock (after the period).
        next_year = datetime.now(UTC).year + 1
        with time_machine.travel(datetime(next_year, 3, 10, 12, 0, tzinfo=UTC), tick=False):
            for uid in ("review-1", "review-2", "review-3", "review-3", "review-4"):
                record_custom_activity(
                    fake_store, follow_ups, INSTANCE, contact_id=CONTACT, activity_id="review",
                    unique_identifier=uid, now=datetime.now(UTC),
                )  # fmt: skip
            for uid in ("log-1", "log-1"):  # a log through the records API, recorded twice
                record_and_follow_up(fake_store, follow_ups, INSTANCE, review_log(uid), datetime.now(UTC))
        sent = {earn.idempotency_key: earn.points for _, earn in follow_ups.earns}
        assert sum(sent.values()) == 25  # 10 + 10 + 5, then nothing: the third review was cut
        assert sorted(sent.values()) == [5, 10, 10]

    def test_birthdays_count_against_a_budget(self, fake_store) -> None:
        budgeted = {"on": "birthday", "points": 100, "budget": {"points": 250, "period": "yearly"}}
        ProgressStore(fake_store).save_program(INSTANCE, program(budgeted))
        wix = ContactsWix({f"c-{n}": "1990-12-07" for n in range(5)})
        follow_ups = RecordedDispatcher()
        with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=UTC), tick=False):
            run_birthdays(fake_store, wix, follow_ups, datetime.now(UTC))
        assert sum(earn.points for _, earn in follow_ups.earns) == 250
