"""Preview before publishing: the site's past events replayed against a draft program and the live one,
side by side, with no side effect.

The journal keeps each processed event's normalized form for `EVENT_JOURNAL_TTL_SECONDS` (erasure strips
it for erased members, so they are left out). Each event is replayed in the order it occurred, its clock
its own time, through the same rules planner (`worker.events.rules`), the same checks (`accept_log`) and
the same points rules (`worker.loyalty.points_rules`) the worker uses. Each member's progress lives in
memory and is carried forward log by log (`worker.engine.carried`): the engine's `record_*_log`
recomputes a member's whole history at every log, which made a replay quadratic per member; the
trackers give the same answers (tests/unit/engine/test_carried.py, and tests/unit/events/
test_preview_replay.py against the replay as it was). When the draft keeps the live program's rules, each
event is planned once for both. The only Redis calls are reads (SCAN and pipelined HMGETs of journal
records, 1,000 a round trip), made with the cyclic GC paused (`worker.events.gc_pause`).

A site with more than `max_events` journaled events is replayed up to that many (the first found, then
in occurred order) and the answer says it stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import redis
from pydantic import ValidationError

from worker import keys
from worker.engine.carried import Milestones, Outcome, Step, Tracker, progress_signature, tracker_for
from worker.engine.logs import LogRejected, accept_log
from worker.engine.program import Challenge, Program, Streak, load_document, parse_program
from worker.events.gc_pause import cyclic_gc_paused
from worker.events.rules import PlannedLog, plan_logs
from worker.identifiers import InvalidIdentifier, check_identifier
from worker.loyalty.points_limits import multiply
from worker.loyalty.points_rules import PointsEarn, points_to_earn
from worker.progress.record import ActivityRequest
from worker.store.progress import NoProgram, ProgressStore
from worker.wix.events import NormalizedEvent

READ_BATCH = 1000
REWARD_KINDS = ("coupon", "points", "manual")
Side = Literal["current", "draft"]


def read_events(client: redis.Redis, instance_id: str, max_events: int) -> tuple[list[NormalizedEvent], bool]:
    """The instance's processed events that still carry their normalized form, in occurred order, and
    whether there were more than `max_events` (then only that many are answered). Reads only."""
    found: list[NormalizedEvent] = []
    batch: list[str] = []
    with cyclic_gc_paused():
        for key in client.scan_iter(match=keys.event_records_of(instance_id), count=READ_BATCH):
            batch.append(key)
            if len(batch) >= READ_BATCH:
                found.extend(_decode_batch(client, batch))
                batch = []
                if len(found) > max_events:
                    break  # enough to answer, and to know that there were more
        else:
            found.extend(_decode_batch(client, batch) if batch else [])
        stopped = len(found) > max_events
        found = found[:max_events]
        found.sort(key=lambda event: (event.occurredAt, event.eventId))
    return found, stopped


def _decode_batch(client: redis.Redis, batch: list[str]) -> list[NormalizedEvent]:
    with client.pipeline(transaction=False) as pipe:
        for key in batch:
            pipe.hmget(key, ["status", "normalized"])
        rows: list[list[str | None]] = pipe.execute()
    events = []
    for status, normalized in rows:
        if status != "processed" or not normalized:
            continue
        try:
            events.append(NormalizedEvent.model_validate_json(normalized))
        except (ValueError, ValidationError):  # a record written by another version: not replayable
            continue
    return events


@dataclass
class Tally:
    """What one program would have done: the whole, or one streak's or challenge's share."""

    logs: int = 0
    members: set[str] = field(default_factory=set)
    milestones: int = 0
    reward_logs: Counter[str] = field(default_factory=Counter)
    reward_points: int = 0
    rule_points: int = 0

    @classmethod
    def whole(cls, shares: Iterable[Tally], rule_points: int) -> Tally:
        """The program's tally: its items' shares added up, and the points its rules earn."""
        whole = cls(rule_points=rule_points)
        for share in shares:
            whole.logs += share.logs
            whole.members |= share.members
            whole.milestones += share.milestones
            whole.reward_logs.update(share.reward_logs)
            whole.reward_points += share.reward_points
        return whole

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "logs": self.logs,
            "members": len(self.members),
            "milestonesReached": self.milestones,
            "rewardLogs": sum(self.reward_logs.values()),
            "rewardLogsByKind": {kind: self.reward_logs[kind] for kind in REWARD_KINDS},
            "coupons": self.reward_logs["coupon"],
            "points": self.reward_points + self.rule_points,
        }
        answer["pointsFromRewards"] = self.reward_points
        answer["pointsFromRules"] = self.rule_points
        return answer


Member = tuple[str, str, str]  # (contact id, "streak" or "challenge", item id)


@dataclass(frozen=True)
class Plan:
    """What one event asks of a program's rules: its logs, each with whether its identifiers pass the
    worker's checks (they do not depend on the item), and the points it earns; and the steps its logs
    took (None: refused), so that a second side asking the same of the same progress is answered."""

    logs: list[tuple[ActivityRequest, bool]]
    earns: list[PointsEarn]
    now: datetime  # the replay's clock: when the event occurred
    steps: dict[tuple[str, str, str, str, str], Step | None] = field(default_factory=dict)


class Planner:
    """Plans events under one program's rules, and carries the members' progress that follows from them
    (worker/engine/carried.py). The two sides share one planner when their rules are equal (a draft
    mostly changes targets and rewards, not rules); then an item whose progress signature is the same on
    both sides (say, only its milestones changed) has one tracker per member, and each log one step."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.checked: set[tuple[str, str]] = set()
        self.trackers: dict[tuple[str, str, str, str], Tracker] = {}

    def plan(self, event: NormalizedEvent) -> Plan:
        logs = [
            (planned.request, self._identifiers_pass(planned.request))
            for planned in plan_logs(event, self.program)
            if isinstance(planned, PlannedLog)
        ]
        earns = [
            multiply(earn, self.program, event, None).earn for earn in points_to_earn(event, self.program)
        ]
        return Plan(
            logs, earns, now=event.occurredAt
        )  # bonus windows; a member's tier and caps are not known

    def _identifiers_pass(self, request: ActivityRequest) -> bool:
        """The checks record_activity makes of a log's identifiers; a contact and an activity are checked
        once per replay (it meets the same few thousand again and again)."""
        try:
            if (request.contact_id, request.activity_id) not in self.checked:
                check_identifier(request.contact_id, "contactId")
                check_identifier(request.activity_id, "activityId", 100)
                self.checked.add((request.contact_id, request.activity_id))
            check_identifier(request.unique_identifier, "uniqueIdentifier", 300)
        except InvalidIdentifier:
            return False
        return True

    def step(
        self, plan: Plan, request: ActivityRequest, program: Program, item: Streak | Challenge, signature: str
    ) -> Step | None:
        """The log's step in the member's progress (None: the worker refuses the log), taken once
        whichever side asks first."""
        tracked = (request.contact_id, request.kind, item.id, signature)
        key = (*tracked, request.unique_identifier)
        if key in plan.steps:
            return plan.steps[key]
        step: Step | None
        try:
            log = accept_log(
                item,
                contact_id=request.contact_id,
                activity_id=request.activity_id,
                activity_value=request.activity_value,
                activity_at=request.activity_at,
                unique_identifier=request.unique_identifier,
                now=plan.now,
            )
            tracker = self.trackers.get(tracked)
            if tracker is None:
                tracker = self.trackers[tracked] = tracker_for(program, item)
            step = tracker.advance(log, plan.now)
        except LogRejected:
            step = None
        plan.steps[key] = step
        return step


@dataclass
class Replay:
    """One program's replay: each member's milestones in each item (their progress is the planner's),
    the logs already counted, the tallies."""

    program: Program
    instance_id: str
    planner: Planner
    items: dict[tuple[str, str], Tally] = field(default_factory=dict)
    rule_points: int = 0
    milestones: dict[Member, Milestones] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)
    earned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        items = [("streak", s) for s in self.program.streaks] + [
            ("challenge", c) for c in self.program.challenges
        ]
        self.by_id: dict[tuple[str, str], Streak | Challenge] = {}
        for kind, item in items:
            self.by_id.setdefault((kind, item.id), item)  # the first of a repeated id, as Program.streak()
        self.signatures = {key: progress_signature(self.program, item) for key, item in self.by_id.items()}

    def feed(self, plan: Plan) -> None:
        """One event (in occurred order), planned under this program's rules."""
        for request, identifiers_pass in plan.logs:
            self._record(plan, request, identifiers_pass)
        for earn in plan.earns:
            if earn.idempotency_key not in self.earned:  # Wix earns a checkout's points once
                self.earned.add(earn.idempotency_key)
                self.rule_points += earn.points

    def _record(self, plan: Plan, request: ActivityRequest, identifiers_pass: bool) -> None:
        item = self.by_id.get((request.kind, request.item_id))
        if item is None or (request.contact_id, request.unique_identifier) in self.seen:
            return  # no such item (the worker refuses it), or a duplicate (answered, not counted again)
        if not identifiers_pass:
            return  # the worker refuses it: nothing counts
        signature = self.signatures[(request.kind, item.id)]
        step = self.planner.step(plan, request, self.program, item, signature)
        if step is None:
            return  # the worker refuses it: nothing counts
        self.seen.add((request.contact_id, request.unique_identifier))
        if step.applied:
            member = (request.contact_id, request.kind, item.id)
            milestones = self.milestones.get(member)
            if milestones is None:
                milestones = self.milestones[member] = Milestones(item)
            self._count(request.kind, item, request.contact_id, milestones.reach(step))

    def _count(self, kind: str, item: Streak | Challenge, contact_id: str, outcome: Outcome) -> None:
        share = self.items.get((kind, item.id))
        if share is None:  # not setdefault: a Tally (and its Counter) per log adds up over a replay
            share = self.items[(kind, item.id)] = Tally()
        share.logs += 1
        share.members.add(contact_id)
        share.milestones += len(outcome.achieved)
        for _, milestone in outcome.achieved:
            reward = milestone.reward
            share.reward_logs[reward.type if reward else "manual"] += 1  # no reward: given by hand
            share.reward_points += (reward.points or 0) if reward and reward.type == "points" else 0

    @property
    def total(self) -> Tally:
        return Tally.whole(self.items.values(), self.rule_points)


def _items(program: Program) -> list[tuple[str, Streak | Challenge]]:
    return [("streak", s) for s in program.streaks] + [("challenge", c) for c in program.challenges]


def replay(
    events: list[NormalizedEvent], instance_id: str, current: Program | None, draft: Program
) -> dict[str, Any]:
    """The events (in occurred order) replayed against both programs; pure."""
    planners = {"draft": Planner(draft)}
    sides = {"draft": Replay(draft, instance_id, planners["draft"])}
    if current is not None:
        if (current.rules, current.pointsRules, current.bonusWindows) != (
            draft.rules,
            draft.pointsRules,
            draft.bonusWindows,
        ):
            planners["current"] = Planner(current)
        sides["current"] = Replay(current, instance_id, planners.get("current", planners["draft"]))
    for event in events:
        plans = {name: planner.plan(event) for name, planner in planners.items()}
        for name, side in sides.items():
            side.feed(plans.get(name, plans["draft"]))
    by_item: dict[tuple[str, str], dict[str, Any]] = {}
    for name in ("current", "draft"):  # the live program's items first, as they were
        if name in sides:
            side = sides[name]
            for kind, item in _items(side.program):
                entry = by_item.setdefault((kind, item.id), {"kind": kind, "id": item.id, "name": item.name})
                entry[name] = side.items.get((kind, item.id), Tally()).to_json()
    empty = Tally().to_json()
    return {
        "events": len(events),
        "members": len({event.contactId for event in events if event.contactId}),
        "current": (sides["current"].total if "current" in sides else Tally()).to_json(),
        "draft": sides["draft"].total.to_json(),
        "byItem": [{"current": empty, "draft": empty, **entry} for entry in by_item.values()],
    }


def dry_run(
    client: redis.Redis, instance_id: str, current: Program | None, draft: Program, *, max_events: int
) -> dict[str, Any]:
    """The site's journaled events replayed against `current` (None: no program yet) and `draft`."""
    with cyclic_gc_paused():
        events, stopped = read_events(client, instance_id, max_events)
        answer = replay(events, instance_id, current, draft)
    answer["stopped"] = stopped
    if stopped:
        answer["stoppedReason"] = (
            f"the site has more than {max_events} journaled events; {len(events)} replayed"
        )
    return answer


def preview_document(client: redis.Redis, instance_id: str, text: str, *, max_events: int) -> dict[str, Any]:
    """A program document (YAML or JSON text) previewed against the instance's live program;
    ProgramInvalid with every problem when the document is not a valid program."""
    draft = parse_program(load_document(text))
    try:
        current: Program | None = ProgressStore(client).program(instance_id)
    except NoProgram:
        current = None
    return {"instanceId": instance_id, **dry_run(client, instance_id, current, draft, max_events=max_events)}
