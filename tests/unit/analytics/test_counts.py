"""Each analytics count changes with the effect it counts: once whatever the redeliveries, and a worker
killed before the effect's step leaves neither the effect nor its count, killed after leaves both."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import fakeredis
import pytest
import redis
import time_machine

from worker import keys
from worker.analytics.overview import BadRange, overview
from worker.console import members
from worker.dev.programs import BASE_PROGRAM, challenge, coupon, milestone, points, program, rule, streak
from worker.dispatch import RecordedDispatcher
from worker.events import processing
from worker.events.processing import process_event
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.jobs.sweep import close_member
from worker.progress.record import issue_reward
from worker.rewards.fulfilment import coupon_code, mark_reward
from worker.runtime.providers import job_context
from worker.store import coupon_codes, stats
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.sync.member_directory import record_contact
from worker.wix.fake.payloads import EventOptions, build_payload

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-counts"
PAID = "wix.ecom.v1.order_payment_status_updated"
# A fixed instant (time-machine holds the clock there): the counts' days do not depend on today.
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
PROGRAM = program(
    streaks=[
        streak(
            "weekly-buyer",
            "Weekly buyer",
            period="weekly",
            milestones=[milestone("one-week", "One week", 1, points(25))],
        )
    ],
    challenges=[
        challenge(
            "spend-50",
            "Spend $50",
            method="sum",
            period="monthly",
            completion=50,
            milestones=[milestone("fifty", "Fifty spent", 50, coupon("10% off", 10, valid_days=14))],
        )
    ],
    rules=[
        rule("order_paid", streak="weekly-buyer"),
        rule("order_paid", challenge="spend-50", value="order.total"),
    ],
)


def order(at: datetime, *, contact: str = "buyer-1", total: str = "60.00", code: str | None = None) -> Any:
    options = EventOptions(
        order_id=str(uuid.uuid4()),
        contact_id=contact,
        total=total,
        currency="USD",
        payment_status="PAID",
        coupon_code=code,
        event_time=at.timestamp(),
    )
    return build_payload(PAID, options)


def process(client: redis.Redis, payload: dict[str, Any], now: datetime) -> str:
    return process_event(
        EventJournal(client, 3600),
        client,
        event_type=PAID,
        instance_id=INSTANCE,
        event_id=payload["id"],
        data=json.dumps(payload),
        our_app_id="ours",
        claim_ttl_seconds=3600,
        now=now,
    )


def day(client: redis.Redis, at: datetime) -> dict[str, int]:
    raw: dict[str, str] = client.hgetall(keys.stats_day(INSTANCE, at.date().isoformat()))  # type: ignore[assignment]
    return {field: int(value) for field, value in raw.items()}


def totals(client: redis.Redis, now: datetime) -> dict[str, Any]:
    return overview(client, INSTANCE, 7, now)["totals"]


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    with time_machine.travel(START, tick=True):
        yield


@pytest.fixture
def client(fake_store: fakeredis.FakeRedis) -> fakeredis.FakeRedis:
    ProgressStore(fake_store).save_program(INSTANCE, PROGRAM)
    return fake_store


def the_coupon(client: redis.Redis, contact: str = "buyer-1") -> dict[str, Any]:
    [found] = [
        r
        for r in ProgressStore(client).member_reward_logs(INSTANCE, contact)
        if r["reward"]["type"] == "coupon"
    ]
    return found


def issue(client: redis.Redis, reward_log: dict[str, Any], now: datetime) -> dict[str, Any]:
    issued, _ = issue_reward(
        client,
        INSTANCE,
        reward_log["id"],
        coupon_code=coupon_code(reward_log["id"]),
        issued_at=now,
        expiry_at=now + timedelta(days=14),
        now=now,
    )
    return issued


class TestRedeliveries:
    def test_a_redelivered_order_counts_its_event_order_logs_and_milestones_once(self, client) -> None:
        """One paid order of 60: one webhook, one order, two logs (the streak's and the challenge's), two
        milestones and reward logs (points and coupon), one member; the same webhook again adds nothing."""
        payload = order(START)
        assert process(client, payload, START) == "processed"
        first = day(client, START)
        assert process(client, payload, START + timedelta(minutes=1)) == "already_settled"
        assert day(client, START) == first
        got = totals(client, START)
        assert (got["events"], got["orders"], got["logs"], got["milestones"], got["members"]) == (
            1,
            1,
            2,
            2,
            1,
        )
        assert got["rewardLogs"]["created"] == 2
        assert got["rewardLogs"]["byKind"]["coupon"]["created"] == 1
        assert got["rewardLogs"]["byKind"]["points"]["created"] == 1
        assert got["streaks"] == {"started": 1, "alive": 1, "broken": 0}
        assert got["challenges"] == {"completed": 1, "failed": 0}

    def test_a_webhook_run_again_after_a_crash_before_settling_counts_once(self, client) -> None:
        """The worker died after recording the logs, before settling: the re-run finds its logs recorded
        (duplicates of itself) and counts neither them nor the order again."""
        payload = order(START)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(processing, "fulfil_new_rewards", _crash)
            with pytest.raises(Killed):
                process_event(
                    EventJournal(client, 3600), client, event_type=PAID, instance_id=INSTANCE,
                    event_id=payload["id"], data=json.dumps(payload), our_app_id="ours",
                    claim_ttl_seconds=3600, now=START, follow_ups=_NoFollowUps(),
                )  # fmt: skip
        counted = day(client, START)
        assert (counted["logs"], counted["orders"], counted.get("events", 0)) == (2, 1, 0)
        assert process(client, payload, START) == "processed"
        after = day(client, START)
        assert (after["logs"], after["orders"], after["events"], after["milestones"]) == (2, 1, 1, 2)

    def test_the_same_log_twice_by_two_webhooks_counts_once(self, client) -> None:
        """Another webhook about the same order (a redelivery with a new event id) is a duplicate log."""
        payload = order(START)
        process(client, payload, START)
        again = {**payload, "id": str(uuid.uuid4())}
        assert process(client, again, START) == "processed"
        got = totals(client, START)
        assert (got["events"], got["orders"], got["logs"]) == (2, 1, 2)

    def test_a_run_started_counts_once_however_many_logs_extend_it(self, client) -> None:
        process(client, order(START, total="10.00"), START)
        later = START + timedelta(days=7)
        process(client, order(later, total="10.00"), later)
        process(client, order(later + timedelta(hours=1), total="10.00"), later + timedelta(hours=1))
        got = overview(client, INSTANCE, 30, later)["totals"]
        assert got["streaks"]["started"] == 1
        assert got["logs"] == 6


class TestRewardLogs:
    def test_issued_redeemed_and_revenue_count_once(self, client) -> None:
        """Issue twice, redeem by one order delivered twice: one issued, one redeemed, the order's total once
        as redeemed revenue; the redeeming order's buyer had a streak alive, so it is engaged revenue too."""
        process(client, order(START), START)
        reward_log = the_coupon(client)
        issued = issue(client, reward_log, START)
        issue(client, reward_log, START)
        paid_at = START + timedelta(hours=3)
        redeeming = order(paid_at, code=issued["couponCode"], total="30.00")
        process(client, redeeming, paid_at)
        process(client, {**redeeming, "id": str(uuid.uuid4())}, paid_at)
        got = totals(client, paid_at)
        assert got["rewardLogs"]["issued"] == 1
        assert got["rewardLogs"]["redeemed"] == 1
        assert got["rewardLogs"]["byKind"]["coupon"]["redeemed"] == 1
        assert got["redemptionRate"] == 1.0
        assert got["revenue"]["currency"] == "USD"
        assert got["revenue"]["redeemed"] == "30.00"
        assert got["revenue"]["engaged"] == "30.00"  # the first order (60.00) came before any streak
        assert got["orders"] == 2
        assert overview(client, INSTANCE, 7, paid_at)["funnel"] == {
            "logged": 1,
            "milestone": 1,
            "issued": 1,
            "redeemed": 1,
        }

    def test_a_points_reward_issued_counts_its_points_once(self, client) -> None:
        process(client, order(START), START)
        [points_log] = [
            r
            for r in ProgressStore(client).member_reward_logs(INSTANCE, "buyer-1")
            if r["reward"]["type"] == "points"
        ]
        mark_reward(client, INSTANCE, points_log["id"], status="issued", now=START)
        mark_reward(client, INSTANCE, points_log["id"], status="issued", now=START)
        got = totals(client, START)
        assert got["pointsEarnedBy"] == {"rules": 0, "rewards": 25}
        [item] = [i for i in overview(client, INSTANCE, 7, START)["byItem"] if i["id"] == "weekly-buyer"]
        assert item["pointsEarned"] == 25
        assert item["rewardLogs"]["byKind"]["points"]["issued"] == 1

    def test_a_failed_reward_counts_as_failed(self, client) -> None:
        process(client, order(START), START)
        reward_log = the_coupon(client)
        mark_reward(client, INSTANCE, reward_log["id"], status="failed", now=START, error="Wix said no")
        mark_reward(client, INSTANCE, reward_log["id"], status="failed", now=START, error="Wix said no")
        assert totals(client, START)["rewardLogs"]["failed"] == 1

    def test_expiry_counts_once_and_on_its_own_day(self, client) -> None:
        process(client, order(START), START)
        issue(client, the_coupon(client), START)
        later = START + timedelta(days=15)
        for _ in range(2):
            jobs = Jobs(client, KINDS)
            record, _ = jobs.start(INSTANCE, "expire-rewards")
            while (
                batch := jobs.run_batch(record["id"], later, job_context(client))
            ) is not None and batch.cursor:
                pass
        assert day(client, later)["rewardLogs.expired"] == 1
        assert day(client, later)["rewardLogs.expired.coupon"] == 1
        assert "rewardLogs.expired" not in day(client, START)

    def test_rule_points_count_once_per_earn(self, client) -> None:
        assert stats.count_points_earned(client, INSTANCE, "earn:order-1", 40, START)
        assert not stats.count_points_earned(client, INSTANCE, "earn:order-1", 40, START)
        assert totals(client, START)["pointsEarned"] == 40


class TestKilledWorker:
    def test_killed_before_the_log_step_leaves_neither_log_nor_count(self, client, monkeypatch) -> None:
        """A crash while the log's MULTI is being queued (before EXEC): no state, no count; the retry
        writes both."""
        from worker.store import outbox

        real_add = outbox.add
        monkeypatch.setattr(outbox, "add", _crash)
        payload = order(START)
        with pytest.raises(Killed):
            process(client, payload, START)
        assert day(client, START) == {}
        assert ProgressStore(client).member_reward_logs(INSTANCE, "buyer-1") == []
        monkeypatch.setattr(outbox, "add", real_add)
        assert process(client, payload, START) == "processed"
        assert (day(client, START)["logs"], day(client, START)["milestones"]) == (2, 2)

    def test_killed_after_the_log_step_leaves_both_and_the_rerun_adds_nothing(
        self, client, monkeypatch
    ) -> None:
        """A crash right after the MULTI (while claiming the uniqueIdentifier): the log and its counts are
        there; the re-run takes the duplicate path and counts nothing more."""
        real_set = client.set
        calls = {"n": 0}

        def set_then_die(key: str, *args: Any, **kwargs: Any) -> Any:
            if key.startswith("wrw:uid-source:") and "nx" not in kwargs:
                calls["n"] += 1
                raise Killed
            return real_set(key, *args, **kwargs)

        monkeypatch.setattr(client, "set", set_then_die)
        payload = order(START)
        with pytest.raises(Killed):
            process(client, payload, START)
        assert calls["n"] == 1
        assert day(client, START)["logs"] == 1  # the first rule's log, with its count
        assert len(ProgressStore(client).member_reward_logs(INSTANCE, "buyer-1")) == 1
        monkeypatch.setattr(client, "set", real_set)
        assert process(client, payload, START) == "processed"
        got = day(client, START)
        assert (got["logs"], got["milestones"], got["events"]) == (2, 2, 1)

    def test_killed_inside_a_reward_change_leaves_neither_status_nor_count(self, client, monkeypatch) -> None:
        process(client, order(START), START)
        reward_log = the_coupon(client)
        real_claim = coupon_codes.claim
        monkeypatch.setattr(coupon_codes, "claim", _crash)
        with pytest.raises(Killed):
            issue(client, reward_log, START)
        assert the_coupon(client)["status"] == "pending"
        assert "rewardLogs.issued" not in day(client, START)
        monkeypatch.setattr(coupon_codes, "claim", real_claim)
        issue(client, reward_log, START)
        assert the_coupon(client)["status"] == "issued"
        assert day(client, START)["rewardLogs.issued"] == 1


class TestClosures:
    def test_a_broken_run_counts_once_and_is_no_longer_alive(self, client) -> None:
        process(client, order(START, total="10.00"), START)
        weeks_later = START + timedelta(days=30)
        store = ProgressStore(client)
        program_now = store.program(INSTANCE)
        assert close_member(store, INSTANCE, "buyer-1", program_now, weeks_later) >= 1
        assert close_member(store, INSTANCE, "buyer-1", program_now, weeks_later) == 0
        got = overview(client, INSTANCE, 90, weeks_later)
        assert got["totals"]["streaks"] == {"started": 1, "alive": 0, "broken": 1}
        assert got["totals"]["challenges"]["failed"] == 1  # 10 of 50 in November
        [item] = [i for i in got["byItem"] if i["id"] == "weekly-buyer"]
        assert item["streaks"] == {"started": 1, "alive": 0, "broken": 1}
        alive = [d["streaks"]["alive"] for d in got["series"]]
        assert alive[-31] == 1 and alive[-1] == 0  # alive on the first day, not after the break


class TestOverview:
    def test_days_other_than_7_30_90_are_refused(self, client) -> None:
        for days in (0, 1, 8, 365):
            with pytest.raises(BadRange):
                overview(client, INSTANCE, days, START)

    def test_each_day_is_its_own_row_and_the_range_ends_today(self, client) -> None:
        process(client, order(START), START)
        tomorrow = START + timedelta(days=1)
        process(client, order(tomorrow, contact="buyer-2"), tomorrow)
        answer = overview(client, INSTANCE, 7, tomorrow)
        assert [d["date"] for d in answer["series"]][-2:] == ["2026-11-30", "2026-12-01"]
        assert [d["orders"] for d in answer["series"]][-3:] == [0, 1, 1]
        assert answer["totals"]["members"] == 2
        assert answer["to"] == "2026-12-01" and len(answer["series"]) == 7

    def test_counts_expire_a_bit_after_90_days_and_go_with_the_site(self, client) -> None:
        process(client, order(START), START)
        day_key = keys.stats_day(INSTANCE, "2026-11-30")
        assert 90 * 86_400 < client.ttl(day_key) <= stats.STATS_TTL_SECONDS
        patterns = keys.instance_key_patterns(INSTANCE)
        found = [k for k in client.scan_iter(match="wrw:stats:*")]
        assert found and all(any(fnmatchcase(k, p) for p in patterns) for k in found)


class Killed(Exception):
    """The worker dies here."""


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise Killed


class _NoFollowUps:
    """A dispatcher that is never reached (the crash comes first)."""


class TestBadInput:
    def test_an_absurd_total_counts_the_order_and_no_revenue(self, client) -> None:
        """A total past any real order (or not a number) leaves revenue alone; processing goes on."""
        assert process(client, order(START, total="99999999999999999.00"), START) == "processed"
        got = totals(client, START)
        assert got["orders"] == 1
        assert got["revenue"]["byCurrency"] == {}

    def test_money_is_exact_in_thousandths(self) -> None:
        assert stats.money("19.99") == 19_990
        assert stats.money("0.125") == 125
        assert [stats.money(v) for v in ("NaN", "Infinity", "abc", None, "1e13")] == [None] * 5

    def test_an_order_id_that_cannot_be_a_key_is_not_counted(self, client) -> None:
        assert not stats.count_paid_order(client, INSTANCE, "a b*{x}", "10", "USD", True, START)
        assert not stats.count_paid_order(client, INSTANCE, "x" * 500, "10", "USD", True, START)
        assert day(client, START) == {}


class TestGrantedByHand:
    def test_a_grant_clicked_twice_counts_one_reward_log_created(self, fake_store) -> None:
        """The console's grant (worker/console/members.py) counts in its own MULTI: once per action id."""
        ProgressStore(fake_store).save_program(INSTANCE, BASE_PROGRAM)
        record_contact(fake_store, INSTANCE, "c-1", "jane@example.com")
        chosen = {"action_id": "A" * 24, "milestone": "streak:weekly-shopper:two-weeks"}
        for _ in range(2):
            members.grant(fake_store, RecordedDispatcher(), INSTANCE, "c-1", chosen, "jane", START)
        got = totals(fake_store, START)
        assert got["rewardLogs"]["created"] == 1
        assert got["rewardLogs"]["byKind"]["coupon"]["created"] == 1
        assert got["milestones"] == 0  # granted, not achieved
