"""Preview before publishing: the journal's processed events replayed against a draft program and the live
one, side by side, through the real rules planner and engine, with nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import fakeredis
import pytest

from tests.clock import CALENDAR_INSTANTS
from tests.redis_dump import dump
from worker.dev.programs import challenge as challenge_doc
from worker.dev.programs import coupon, milestone, points, points_rule, program, rule, streak
from worker.engine.program import ProgramInvalid, parse_program
from worker.events.preview import dry_run, preview_document, read_events
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.events import Money, NormalizedEvent, OrderInfo

pytestmark = pytest.mark.calendar  # the replay's clock is each event's own time: any day gives the same

INSTANCE = "inst-1"
START = datetime(2026, 11, 2, 12, tzinfo=UTC)  # a Monday


def document(*, target: int = 3, status: str = "live", per: int = 10) -> dict[str, Any]:
    """A weekly streak (a coupon at `target` weeks), a monthly sum challenge (100 points at 200 spent),
    and one point per `per` spent."""
    return program(
        streaks=[
            streak(
                "weekly",
                "Order every week",
                period="weekly",
                status=status,
                milestones=[milestone("run", "A run", target, coupon("10% off", 10))],
            )
        ],
        challenges=[
            challenge_doc(
                "spend",
                "Spend 200 a month",
                method="sum",
                period="monthly",
                completion=200,
                milestones=[milestone("spent", "Spent 200", 200, points(100))],
            )
        ],
        rules=[
            rule("order_paid", streak="weekly"),
            rule("order_paid", challenge="spend", value="order.total"),
        ],
        points_rules=[points_rule("order_paid", 1, per)],
    )


def order_paid(event_id: str, contact: str, at: datetime, total: str = "50") -> NormalizedEvent:
    return NormalizedEvent(
        name="order_paid",
        instanceId=INSTANCE,
        eventId=event_id,
        occurredAt=at,
        contactId=contact,
        order=OrderInfo(id=f"order-{event_id}", total=Money(amount=Decimal(total), currency="USD")),
    )


def journal_events(client: fakeredis.FakeRedis, events: list[NormalizedEvent]) -> None:
    """Each event as the worker leaves it in the journal once processed."""
    journal = EventJournal(client, 30 * 24 * 3600)
    for event in events:
        normalized = event.model_dump(mode="json")
        journal.settle(INSTANCE, event.eventId, "processed", event_type="x", normalized=normalized, logs=[])


def weekly_orders(weeks: int, contacts: tuple[str, ...] = ("alice", "bob")) -> list[NormalizedEvent]:
    """One order of 50 a week for each contact."""
    return [
        order_paid(f"e-{contact}-{week}", contact, START + timedelta(weeks=week))
        for week in range(weeks)
        for contact in contacts
    ]


@pytest.fixture
def client(fake_store: fakeredis.FakeRedis) -> fakeredis.FakeRedis:
    return fake_store


def item(answer: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(entry for entry in answer["byItem"] if entry["id"] == item_id)


def test_a_lower_milestone_target_yields_more_reward_logs_than_the_live_program(client) -> None:
    """Four weekly orders each for two members: the live program's 5-week coupon is never reached, the
    draft's 2-week one is, once per member."""
    ProgressStore(client).save_program(INSTANCE, document(target=5))
    journal_events(client, weekly_orders(4))
    answer = preview_document(client, INSTANCE, _json(document(target=2)), max_events=1000)
    assert answer["events"] == 8
    assert answer["members"] == 2
    current, draft = answer["current"], answer["draft"]
    assert current["rewardLogsByKind"]["coupon"] == 0
    assert draft["rewardLogsByKind"]["coupon"] == 2
    assert draft["rewardLogs"] > current["rewardLogs"]
    assert draft["coupons"] == 2
    weekly = item(answer, "weekly")
    assert weekly["name"] == "Order every week"
    assert (weekly["current"]["milestonesReached"], weekly["draft"]["milestonesReached"]) == (0, 2)
    assert weekly["draft"]["members"] == 2
    # The challenge is the same in both: 4 x 50 = 200 in November for each member, 100 points each;
    # the points rule gives 5 points an order (50 / 10).
    spend = item(answer, "spend")
    assert spend["current"] == spend["draft"]
    assert spend["draft"]["rewardLogsByKind"]["points"] == 2
    assert draft["pointsFromRewards"] == 200
    assert draft["pointsFromRules"] == 8 * 5
    assert draft["points"] == 240


def test_a_drafts_bonus_window_multiplies_the_points_of_the_orders_inside_it(client) -> None:
    """A x3 window over the second week: its two orders earn 15 each instead of 5."""
    ProgressStore(client).save_program(INSTANCE, document())
    journal_events(client, weekly_orders(4))
    window = {"id": "week-2", "multiplier": 3, "startsAt": (START + timedelta(days=6)).isoformat(),
              "endsAt": (START + timedelta(days=8)).isoformat()}  # fmt: skip
    answer = preview_document(
        client, INSTANCE, _json({**document(), "bonusWindows": [window]}), max_events=1000
    )
    assert answer["current"]["pointsFromRules"] == 8 * 5
    assert answer["draft"]["pointsFromRules"] == 6 * 5 + 2 * 15


def test_a_paused_streak_yields_nothing(client) -> None:
    ProgressStore(client).save_program(INSTANCE, document(target=2))
    journal_events(client, weekly_orders(4))
    answer = preview_document(client, INSTANCE, _json(document(target=2, status="paused")), max_events=1000)
    weekly = item(answer, "weekly")
    assert weekly["current"]["logs"] == 8
    assert weekly["draft"] == {**weekly["draft"], "logs": 0, "members": 0, "rewardLogs": 0, "coupons": 0}
    assert answer["draft"]["rewardLogsByKind"]["coupon"] == 0
    assert answer["current"]["rewardLogsByKind"]["coupon"] == 2


def test_the_same_program_gives_identical_current_and_draft(client) -> None:
    ProgressStore(client).save_program(INSTANCE, document())
    journal_events(client, weekly_orders(6, ("alice", "bob", "carol")))
    answer = preview_document(client, INSTANCE, _json(document()), max_events=1000)
    assert answer["current"] == answer["draft"]
    assert answer["current"]["rewardLogs"] > 0
    assert all(entry["current"] == entry["draft"] for entry in answer["byItem"])


def test_no_program_yet_answers_current_all_zero(client) -> None:
    journal_events(client, weekly_orders(3))
    answer = preview_document(client, INSTANCE, _json(document(target=2)), max_events=1000)
    current = answer["current"]
    assert current["logs"] == current["members"] == current["rewardLogs"] == current["points"] == 0
    assert answer["draft"]["coupons"] == 2


def test_nothing_is_written(client) -> None:
    """A Redis dump before and after the dry-run is the same, byte for byte (no state, no reward log,
    no outbox intent, no task message)."""
    ProgressStore(client).save_program(INSTANCE, document(target=5))
    journal_events(client, weekly_orders(4))
    before = dump(client)
    answer = preview_document(client, INSTANCE, _json(document(target=2)), max_events=1000)
    assert answer["draft"]["rewardLogs"] > 0
    assert dump(client) == before


def test_an_invalid_draft_is_refused_with_each_problem_and_nothing_read(client) -> None:
    bad = document()
    bad["streaks"][0]["milestones"][0]["milestoneTargetValue"] = -1
    with pytest.raises(ProgramInvalid) as caught:
        preview_document(client, INSTANCE, _json(bad), max_events=1000)
    assert any("milestoneTargetValue" in problem["path"] for problem in caught.value.problems)


def test_events_replay_in_occurred_order_and_duplicates_count_once(client) -> None:
    """Journaled in any order, replayed in the order they occurred; two webhooks about one order (same
    business entity) log once, as the worker's uniqueIdentifier makes them."""
    events = weekly_orders(3, ("alice",))
    again = events[0].model_copy(update={"eventId": "e-again"})  # another webhook, the same order
    journal_events(client, [events[2], again, events[0], events[1]])
    answer = preview_document(client, INSTANCE, _json(document(target=3)), max_events=1000)
    assert answer["events"] == 4
    assert item(answer, "weekly")["draft"]["logs"] == 3
    assert item(answer, "weekly")["draft"]["milestonesReached"] == 1  # three weeks in a row, in order


def test_ignored_and_erased_records_are_not_replayed(client) -> None:
    journal = EventJournal(client, 30 * 24 * 3600)
    journal_events(client, weekly_orders(1, ("alice",)))
    journal.settle(INSTANCE, "ignored-1", "ignored", event_type="x", reason="not ours")
    journal.settle(INSTANCE, "erased-1", "processed", event_type="x", logs=[])  # erasure stripped it
    events, stopped = read_events(client, INSTANCE, 1000)
    assert [event.eventId for event in events] == ["e-alice-0"]
    assert not stopped


def test_a_site_over_the_cap_answers_what_it_replayed_and_says_it_stopped(client) -> None:
    journal_events(client, weekly_orders(30, ("alice", "bob", "carol", "dave", "erin")))  # 150 events
    draft = parse_program(document())
    answer = dry_run(client, INSTANCE, None, draft, max_events=40)
    assert answer["events"] == 40
    assert answer["stopped"] is True
    assert "40 replayed" in answer["stoppedReason"]
    assert dry_run(client, INSTANCE, None, draft, max_events=1000)["stopped"] is False


class TestCalendar:
    """Periods as the live program counts them, across ISO week 53 and a month's end, at the instants
    tests/clock.py names."""

    def test_a_weekly_run_goes_on_through_iso_week_53(self, client) -> None:
        week_53 = CALENDAR_INSTANTS["iso-week-53"]  # Thursday 2026-12-31 23:30 UTC, ISO week 53
        times = [week_53 - timedelta(weeks=1), week_53, week_53 + timedelta(weeks=1)]  # weeks 52, 53, 1
        journal_events(client, [order_paid(f"w{n}", "alice", at) for n, at in enumerate(times)])
        answer = preview_document(client, INSTANCE, _json(document(target=3)), max_events=1000)
        assert item(answer, "weekly")["draft"]["milestonesReached"] == 1
        gap = [times[0], times[2]]  # week 53 missed: the run breaks
        client.flushdb()
        journal_events(client, [order_paid(f"g{n}", "alice", at) for n, at in enumerate(gap)])
        answer = preview_document(client, INSTANCE, _json(document(target=2)), max_events=1000)
        assert item(answer, "weekly")["draft"]["milestonesReached"] == 0

    def test_a_month_ends_in_the_programs_timezone(self, client) -> None:
        """150 at 23:30 UTC on February's last day and 60 forty minutes later: two months in UTC (no
        200 either side), one March in Berlin (210: the milestone)."""
        month_end = CALENDAR_INSTANTS["month-end"]  # 2027-02-28 23:30 UTC
        journal_events(
            client,
            [
                order_paid("m1", "alice", month_end, total="150"),
                order_paid("m2", "alice", month_end + timedelta(minutes=40), total="60"),
            ],
        )
        utc = document()
        berlin = {**document(), "timezone": "Europe/Berlin"}
        ProgressStore(client).save_program(INSTANCE, utc)
        answer = preview_document(client, INSTANCE, _json(berlin), max_events=1000)
        spend = item(answer, "spend")
        assert spend["current"]["milestonesReached"] == 0
        assert spend["draft"]["milestonesReached"] == 1
        assert answer["draft"]["pointsFromRewards"] == 100
        assert answer["current"]["pointsFromRules"] == answer["draft"]["pointsFromRules"] == 15 + 6


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


def test_exactly_the_cap_is_not_a_stop(client, monkeypatch) -> None:
    """150 events read in batches of 10 under a cap of 150: all replayed, and the answer does not claim
    to have stopped; a cap of 149 does stop."""
    monkeypatch.setattr("worker.events.preview.READ_BATCH", 10)
    journal_events(client, weekly_orders(30, ("alice", "bob", "carol", "dave", "erin")))  # 150 events
    draft = parse_program(document())
    answer = dry_run(client, INSTANCE, None, draft, max_events=150)
    assert (answer["events"], answer["stopped"]) == (150, False)
    answer = dry_run(client, INSTANCE, None, draft, max_events=149)
    assert (answer["events"], answer["stopped"]) == (149, True)
