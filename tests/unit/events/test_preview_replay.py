"""The dry-run's replay, carried forward log by log (worker/engine/carried.py), gives the very answer the
replay gave when it recorded every log through the live engine (`record_*_log` over a `MemberState`,
kept here as `recording_replay`, as it was): the same dict, for any programs and events."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.program_strategies import SPAN_DAYS, START, milestones, program_documents
from worker.engine.logs import ActivityLog, LogRejected, accept_log
from worker.engine.program import Challenge, Program, Streak, parse_program
from worker.engine.recording import MemberState, Recorded, record_challenge_log, record_streak_log
from worker.events import preview
from worker.events.rules import PlannedLog, plan_logs
from worker.identifiers import InvalidIdentifier, check_identifier
from worker.loyalty.points_rules import points_to_earn
from worker.wix.events import CheckoutInfo, Money, NormalizedEvent, OrderInfo

INSTANCE = "inst-1"
MEMBERS = ("alice", "bob", "carol", "dave", "erin", "bad{contact}")  # the worker refuses the last


@dataclass
class RecordingReplay:
    """One program's replay as it was before the trackers: every log recorded by the live engine."""

    program: Program | None
    instance_id: str
    total: preview.Tally = field(default_factory=preview.Tally)
    items: dict[tuple[str, str], preview.Tally] = field(default_factory=dict)
    states: dict[tuple[str, str, str], MemberState] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)
    earned: set[str] = field(default_factory=set)

    def feed(self, event: NormalizedEvent) -> None:
        if self.program is None:
            return
        for planned in plan_logs(event, self.program):
            if isinstance(planned, PlannedLog):
                self._record(self.program, planned, event.occurredAt)
        for earn in points_to_earn(event, self.program):
            if earn.idempotency_key not in self.earned:
                self.earned.add(earn.idempotency_key)
                self.total.rule_points += earn.points

    def _record(self, program: Program, planned: PlannedLog, now: datetime) -> None:
        request = planned.request
        item = (
            program.streak(request.item_id)
            if request.kind == "streak"
            else program.challenge(request.item_id)
        )
        if item is None or (request.contact_id, request.unique_identifier) in self.seen:
            return
        try:
            check_identifier(request.contact_id, "contactId")
            check_identifier(request.activity_id, "activityId", 100)
            check_identifier(request.unique_identifier, "uniqueIdentifier", 300)
            log = accept_log(
                item,
                contact_id=request.contact_id,
                activity_id=request.activity_id,
                activity_value=request.activity_value,
                activity_at=request.activity_at,
                unique_identifier=request.unique_identifier,
                now=now,
            )
            state = self.states.setdefault((request.contact_id, request.kind, item.id), MemberState())
            if isinstance(item, Streak):
                recorded = record_streak_log(program, item, state, log, instance_id=self.instance_id, now=now)
            else:
                recorded = record_challenge_log(
                    program, item, state, log, instance_id=self.instance_id, now=now
                )
        except (LogRejected, InvalidIdentifier):
            return
        self.seen.add((request.contact_id, request.unique_identifier))
        state.apply(log, recorded)
        if recorded.applied:
            self._count(request.kind, item, log, recorded)

    def _count(self, kind: str, item: Streak | Challenge, log: ActivityLog, recorded: Recorded) -> None:
        share = self.items.setdefault((kind, item.id), preview.Tally())
        for tally in (self.total, share):
            tally.logs += 1
            tally.members.add(log.contactId)
            tally.milestones += len(recorded.achieved_keys)
            for reward_log in recorded.reward_logs:
                reward = reward_log.get("reward") or {}
                tally.reward_logs[reward.get("type", "manual")] += 1
                tally.reward_points += int(reward.get("points") or 0) if reward.get("type") == "points" else 0


def _items(program: Program | None) -> list[tuple[str, Streak | Challenge]]:
    if program is None:
        return []
    return [("streak", s) for s in program.streaks] + [("challenge", c) for c in program.challenges]


def recording_replay(
    events: list[NormalizedEvent], current: Program | None, draft: Program
) -> dict[str, Any]:
    """`worker.events.preview.replay` as it was, every log through the engine's recording."""
    sides = {"current": RecordingReplay(current, INSTANCE), "draft": RecordingReplay(draft, INSTANCE)}
    for event in events:
        for side in sides.values():
            side.feed(event)
    by_item: dict[tuple[str, str], dict[str, Any]] = {}
    for name, side in sides.items():
        for kind, item in _items(side.program):
            entry = by_item.setdefault((kind, item.id), {"kind": kind, "id": item.id, "name": item.name})
            entry[name] = side.items.get((kind, item.id), preview.Tally()).to_json()
    empty = preview.Tally().to_json()
    return {
        "events": len(events),
        "members": len({event.contactId for event in events if event.contactId}),
        "current": sides["current"].total.to_json(),
        "draft": sides["draft"].total.to_json(),
        "byItem": [{"current": empty, "draft": empty, **entry} for entry in by_item.values()],
    }


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """A program whose rules feed each item from order_paid (a count or the order total) and some from
    checkout_completed, with points for spending."""
    document = draw(program_documents())
    rules = []
    for kind in ("streak", "challenge"):
        for item in document[f"{kind}s"]:
            for on in draw(st.sampled_from((["order_paid"], ["order_paid", "checkout_completed"]))):
                value = (
                    "count"
                    if item["aggregationMethod"] == "count"
                    else draw(st.sampled_from(("order.total", "checkout.total", "count")))
                )
                rules.append(
                    {"on": on, kind: item["id"], "activityId": item["activityIds"][0], "value": value}
                )
    document["rules"] = rules
    document["pointsRules"] = [{"on": "order_paid", "points": draw(st.integers(1, 3)), "per": 10}]
    return parse_program(document)


@st.composite
def drafts_of(draw: st.DrawFn, current: Program) -> Program:
    """The live program with its items' milestones drawn again (so most items keep their progress
    signature and the replay shares their progress), and now and then one streak's period and target
    changed."""
    document = current.model_dump(mode="json", exclude_none=True)
    for item in document["streaks"]:
        item["milestones"] = draw(milestones(st.integers(1, item.get("completionTargetValue") or 6)))
    for item in document["challenges"]:
        item["milestones"] = draw(milestones(st.integers(1, int(Decimal(item["completionTargetValue"])))))
    if draw(st.booleans()):  # one streak's progress defined otherwise: its members' progress not shared
        item = draw(st.sampled_from(document["streaks"]))
        item["aggregationTargetValue"] = str(Decimal(item["aggregationTargetValue"]) * 3)
        item["aggregationPeriod"] = draw(st.sampled_from(("daily", "weekly", "monthly")))
    return parse_program(document)


@st.composite
def journals(draw: st.DrawFn) -> list[NormalizedEvent]:
    """Orders and checkouts of a few members over up to 45 days; some orders delivered twice (as two
    events), some events with no contact, some with identifiers the worker refuses; in occurred order,
    as the journal is read."""
    spread = draw(st.sampled_from((3, 14, SPAN_DAYS)))
    count = draw(st.integers(min_value=0, max_value=120))
    events = []
    for n in range(count):
        at = START + timedelta(minutes=draw(st.integers(0, spread * 24 * 60)))
        contact = draw(st.sampled_from((*MEMBERS, None)))
        total = Money(amount=Decimal(draw(st.sampled_from(("5", "12.50", "40", "99.99")))), currency="EUR")
        order = f"order-{draw(st.integers(0, count * 2))}"  # the same order twice: one log, counted once
        order += draw(st.sampled_from(("",) * 9 + ("{x}",)))  # the worker refuses such a log identifier
        if draw(st.integers(0, 4)):
            events.append(
                NormalizedEvent(
                    name="order_paid",
                    instanceId=INSTANCE,
                    eventId=f"e{n}",
                    occurredAt=at,
                    contactId=contact,
                    order=OrderInfo(id=order, total=total),
                )
            )
        else:
            events.append(
                NormalizedEvent(
                    name="checkout_completed",
                    instanceId=INSTANCE,
                    eventId=f"e{n}",
                    occurredAt=at,
                    contactId=contact,
                    checkout=CheckoutInfo(id=f"checkout-{n}", total=total),
                )
            )
    events.sort(key=lambda event: (event.occurredAt, event.eventId))
    return events


class TestSameAnswerAsRecordingEveryLog:
    @settings(max_examples=120, deadline=None)
    @given(current=st.none() | programs(), draft=programs(), events=journals())
    def test_any_programs_and_journal(self, current, draft, events) -> None:
        """Whatever the programs and the journal, the answer is the one the engine's recording gives."""
        assert preview.replay(events, INSTANCE, current, draft) == recording_replay(events, current, draft)

    @settings(max_examples=120, deadline=None)
    @given(current=programs(), data=st.data(), events=journals())
    def test_a_draft_that_changes_milestones(self, current, data, events) -> None:
        """A draft with the live rules and new milestones (the two sides then share each member's
        progress in the items whose progress is defined alike): the answer the engine's recording gives."""
        draft = data.draw(drafts_of(current))
        assert preview.replay(events, INSTANCE, current, draft) == recording_replay(events, current, draft)

    @settings(max_examples=50, deadline=None)
    @given(current=programs(), draft=programs(), events=journals(), seed=st.randoms(use_true_random=False))
    def test_events_out_of_order(self, current, draft, events, seed) -> None:
        """Fed out of order (earlier periods completed after later ones), still the same answer."""
        seed.shuffle(events)
        assert preview.replay(events, INSTANCE, current, draft) == recording_replay(events, current, draft)

    def test_a_larger_journal(self) -> None:
        """2,000 orders of 200 members over 45 days (seeded): the same answer, rewards included."""
        rng = random.Random(14)  # noqa: S311 (test data from a fixed seed, not a secret)
        document: dict[str, Any] = {
            "timezone": "Europe/Berlin",
            "streaks": [
                {
                    "id": "weekly",
                    "name": "Weekly",
                    "status": "live",
                    "activityIds": ["order_paid"],
                    "aggregationMethod": "count",
                    "aggregationPeriod": "weekly",
                    "aggregationTargetValue": 1,
                    "completionTargetValue": 3,
                    "milestones": [
                        {
                            "id": "m2",
                            "name": "Two",
                            "milestoneTargetValue": 2,
                            "reward": {"type": "points", "points": 50},
                        }
                    ],
                }
            ],
            "challenges": [
                {
                    "id": "spend",
                    "name": "Spend",
                    "status": "live",
                    "activityIds": ["order_paid"],
                    "aggregationMethod": "sum",
                    "aggregationPeriod": "monthly",
                    "completionTargetValue": 200,
                    "milestones": [{"id": "half", "name": "Half", "milestoneTargetValue": 100}],
                }
            ],
            "rules": [
                {"on": "order_paid", "streak": "weekly", "activityId": "order_paid"},
                {
                    "on": "order_paid",
                    "challenge": "spend",
                    "activityId": "order_paid",
                    "value": "order.total",
                },
            ],
        }
        current = parse_program(document)
        document["streaks"][0]["milestones"][0]["milestoneTargetValue"] = 1
        draft = parse_program(document)
        events = sorted(
            (
                NormalizedEvent(
                    name="order_paid",
                    instanceId=INSTANCE,
                    eventId=f"e{n}",
                    occurredAt=START + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 60)),
                    contactId=f"member-{rng.randrange(200)}",
                    order=OrderInfo(
                        id=f"o{n}", total=Money(amount=Decimal(rng.randrange(5, 90)), currency="EUR")
                    ),
                )
                for n in range(2000)
            ),
            key=lambda event: (event.occurredAt, event.eventId),
        )
        answer = preview.replay(events, INSTANCE, current, draft)
        assert answer == recording_replay(events, current, draft)
        assert answer["draft"]["rewardLogs"] > answer["current"]["rewardLogs"] > 0
