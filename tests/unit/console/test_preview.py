"""The Preview page's domain (worker/console/preview.py): the draft replayed against the journal beside the
live programme, shaped as live | draft | change rows for the whole and per streak/challenge; items only in
one programme marked; no draft, an empty journal and a replay stopped at its cap each said; nothing
written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis

from tests.redis_dump import dump
from worker import keys
from worker.console.preview import Row, preview, rows, shaped
from worker.dev.programs import challenge, coupon, milestone, points, program, rule, streak
from worker.store import program_versions
from worker.store.journal import EventJournal
from worker.wix.events import NormalizedEvent

SITE = "site-a"
DAY = datetime(2026, 11, 2, 12, tzinfo=UTC)
JOURNAL = 30 * 24 * 3600


def daily(target: int, *, extra: bool = False) -> dict[str, Any]:
    """A daily order streak with a coupon at `target` days; with `extra`, a challenge too."""
    challenges = (
        [challenge("orders", "Orders", method="count", period="monthly", completion=5,
                   milestones=[milestone("two", "Two", 2, points(50))])]
        if extra
        else []
    )  # fmt: skip
    rules = [rule("order_paid", streak="daily")]
    return program(
        streaks=[streak("daily", "Order daily", period="daily",
                        milestones=[milestone("run", "A run", target, coupon("Ten", 10))])],
        challenges=challenges,
        rules=rules + ([rule("order_paid", challenge="orders")] if extra else []),
    )  # fmt: skip


def journal_orders(client: fakeredis.FakeRedis, days_by_member: dict[str, int]) -> None:
    """Each member's paid orders, one a day from DAY on, as the worker leaves them in the journal."""
    journal = EventJournal(client, JOURNAL)
    for member, days in days_by_member.items():
        for day in range(days):
            event = NormalizedEvent(
                name="order_paid",
                instanceId=SITE,
                eventId=f"{member}-{day}",
                occurredAt=DAY + timedelta(days=day),
                contactId=member,
            )
            normalized = event.model_dump(mode="json")
            journal.settle(SITE, event.eventId, "processed", event_type="x", normalized=normalized, logs=[])


def row(found: list[Row], measure: str) -> Row:
    return next(r for r in found if r.measure == measure)


class TestRows:
    def test_the_change_carries_its_sign_and_direction(self) -> None:
        up, down, same = Row("m", "M", 1, 4), Row("m", "M", 5, 2), Row("m", "M", 3, 3)
        assert (up.change_text, up.direction) == ("+3", "up")
        assert (down.change_text, down.direction) == ("\u22123", "down")
        assert (same.change_text, same.direction) == ("no change", "same")

    def test_every_measure_is_read_including_the_reward_logs_by_kind(self) -> None:
        live = {"members": 2, "rewardLogs": 1, "rewardLogsByKind": {"coupon": 1, "points": 0, "manual": 0}}
        draft = {"members": 2, "rewardLogs": 3, "rewardLogsByKind": {"coupon": 2, "points": 1, "manual": 0},
                 "points": 50}  # fmt: skip
        found = rows(live, draft)
        assert [r.label for r in found][:4] == [
            "Members who would log", "Activity logs", "Milestones reached", "Reward logs",
        ]  # fmt: skip
        coupons = row(found, "rewardLogsByKind.coupon")
        assert (coupons.live, coupons.draft) == (1, 2)
        assert row(found, "rewardLogsByKind.points").change_text == "+1"
        assert row(found, "points").change_text == "+50"
        assert row(found, "members").change_text == "no change"

    def test_an_item_only_in_one_programme_has_no_numbers_on_the_other_side(self) -> None:
        tally = {"logs": 4, "rewardLogs": 1}
        answer = {
            "events": 4,
            "members": 1,
            "current": tally,
            "draft": tally,
            "byItem": [
                {"kind": "streak", "id": "old", "name": "Old", "current": tally, "draft": {}},
                {"kind": "streak", "id": "new", "name": "New", "current": {}, "draft": tally},
            ],
        }
        live = {"streaks": [{"id": "old"}]}
        draft = {"streaks": [{"id": "new"}]}
        result = shaped(answer, live, draft, days=30)
        old, new = result.items
        assert (old.presence, new.presence) == ("live_only", "draft_only")
        assert row(old.rows, "logs").draft is None and row(old.rows, "logs").live == 4
        assert row(old.rows, "logs").change_text == "\u22124"
        assert row(new.rows, "logs").live is None and row(new.rows, "logs").change_text == "+4"
        assert "removes it" in old.presence_text and "adds it" in new.presence_text

    def test_a_replay_that_stopped_says_why(self) -> None:
        reason = "the site has more than 10 journaled events; 10 replayed"
        answer = {"events": 10, "members": 1, "current": {}, "draft": {}, "byItem": [],
                  "stopped": True, "stoppedReason": reason}  # fmt: skip
        assert "more than 10" in shaped(answer, {}, {}, days=30).stopped
        assert shaped({**answer, "stopped": False}, {}, {}, days=30).stopped == ""


class TestPreview:
    def test_without_a_draft_there_is_nothing_to_preview(self, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, daily(3), who="admin")
        journal_orders(fake_store, {"ann": 3})
        assert preview(fake_store, SITE, max_events=100, journal_seconds=JOURNAL).state == "no_draft"

    def test_an_empty_journal_is_said(self, fake_store) -> None:
        program_versions.save_draft(fake_store, SITE, json.dumps(daily(2)), "owner")
        found = preview(fake_store, SITE, max_events=100, journal_seconds=JOURNAL)
        assert (found.state, found.days, found.has_live) == ("no_events", 30, False)

    def test_a_lower_target_gives_more_reward_logs_and_nothing_is_written(self, fake_store) -> None:
        """Ann orders 3 days running, Ben 2: live (a coupon at 3 days) rewards Ann; the draft (at 2, and a
        new challenge) rewards both, and its challenge shows as only in the draft."""
        program_versions.publish_document(fake_store, SITE, daily(3), who="admin")
        program_versions.save_draft(fake_store, SITE, json.dumps(daily(2, extra=True)), "owner-1")
        journal_orders(fake_store, {"ann": 3, "ben": 2})
        before = dump(fake_store)
        found = preview(fake_store, SITE, max_events=100, journal_seconds=JOURNAL)
        assert dump(fake_store) == before
        assert (found.state, found.events, found.members, found.stopped) == ("ready", 5, 2, "")
        assert found.draft_who == "owner-1"
        streak_rows = next(item for item in found.items if item.id == "daily").rows
        assert (row(streak_rows, "rewardLogs").live, row(streak_rows, "rewardLogs").draft) == (1, 2)
        assert row(streak_rows, "coupons").change_text == "+1"
        assert row(streak_rows, "members").change_text == "no change"
        orders = next(item for item in found.items if item.id == "orders")
        assert orders.presence == "draft_only" and row(orders.rows, "rewardLogs").live is None
        assert row(orders.rows, "rewardLogsByKind.points").draft == 2  # both reach two orders
        assert row(found.totals, "points").draft == 100
        assert row(found.totals, "rewardLogs").change_text == "+3"

    def test_a_journal_over_the_cap_is_replayed_in_part_and_says_so(self, fake_store) -> None:
        program_versions.save_draft(fake_store, SITE, json.dumps(daily(2)), "owner")
        journal_orders(fake_store, {"ann": 3, "ben": 2})
        found = preview(fake_store, SITE, max_events=2, journal_seconds=JOURNAL)
        assert found.state == "ready" and found.events == 2
        assert "more than 2" in found.stopped
        assert found.has_live is False and row(found.totals, "logs").live is None


def test_another_sites_journal_is_not_replayed(fake_store) -> None:
    program_versions.save_draft(fake_store, "site-b", json.dumps(daily(2)), "owner")
    journal_orders(fake_store, {"ann": 3})  # journaled for SITE
    assert preview(fake_store, "site-b", max_events=100, journal_seconds=JOURNAL).state == "no_events"


def test_a_draft_no_longer_valid_lists_its_problems(fake_store) -> None:
    """A draft saved under older rules (written here as it was kept) is refused by today's validation."""
    stale = daily(2)
    stale["streaks"][0]["milestones"][0]["milestoneTargetValue"] = 0
    fake_store.set(keys.program_draft(SITE), json.dumps({"document": stale, "who": "owner", "at": "x"}))
    journal_orders(fake_store, {"ann": 3})
    found = preview(fake_store, SITE, max_events=100, journal_seconds=JOURNAL)
    assert found.state == "invalid_draft"
    assert any("milestoneTargetValue" in problem["path"] for problem in found.problems)
