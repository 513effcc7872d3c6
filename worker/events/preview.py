"""Preview before publishing: the site's past events replayed against a draft program and the live one,
side by side, with no side effect.

The journal keeps each processed event's normalized form for `EVENT_JOURNAL_TTL_SECONDS` (erasure strips
it for erased members, so they are left out). Each event is replayed in the order it occurred, its clock
its own time, through the same rules planner (`worker.events.rules`), the same checks (`accept_log`), the
same engine (`record_*_log`) and the same points rules (`worker.loyalty.points_rules`) the worker uses;
the members' states live in memory. The only Redis calls are reads (SCAN and HMGET of journal records).

A site with more than `max_events` journaled events is replayed up to that many (the first found, then
in occurred order) and the answer says it stopped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import redis
from pydantic import ValidationError

from worker import keys
from worker.engine.carried import ChallengeTracker, Outcome, StreakTracker, tracker_for
from worker.engine.logs import LogRejected, accept_log
from worker.engine.program import Challenge, Program, Streak, load_document, parse_program
from worker.events.rules import PlannedLog, plan_logs
from worker.identifiers import InvalidIdentifier, check_identifier
from worker.loyalty.points_rules import points_to_earn
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
    stopped = False
    for key in client.scan_iter(match=keys.event_records_of(instance_id), count=READ_BATCH):
        batch.append(key)
        if len(batch) >= READ_BATCH:
            found.extend(_decode_batch(client, batch))
            batch = []
            if len(found) >= max_events:
                stopped = True
                break
    if batch and not stopped:
        found.extend(_decode_batch(client, batch))
    if len(found) > max_events:
        stopped = True
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


@dataclass
class Replay:
    """One program's replay: members' states in memory, the logs already counted, the tallies."""

    program: Program | None
    instance_id: str
    total: Tally = field(default_factory=Tally)
    items: dict[tuple[str, str], Tally] = field(default_factory=dict)
    trackers: dict[tuple[str, str, str], StreakTracker | ChallengeTracker] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)
    earned: set[str] = field(default_factory=set)

    def feed(self, event: NormalizedEvent) -> None:
        if self.program is None:
            return
        for planned in plan_logs(event, self.program):
            if isinstance(planned, PlannedLog):
                self._record(self.program, planned, event.occurredAt)
        for earn in points_to_earn(event, self.program):
            if earn.idempotency_key not in self.earned:  # Wix earns a checkout's points once
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
            return  # no such item (the worker refuses it), or a duplicate (answered, not counted again)
        try:
            check_identifier(request.contact_id, "contactId")  # as record_activity checks them
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
            tracker = self.trackers.get((request.contact_id, request.kind, item.id))
            if tracker is None:
                tracker = tracker_for(program, item)
                self.trackers[(request.contact_id, request.kind, item.id)] = tracker
            outcome = tracker.record(log, now)
        except (LogRejected, InvalidIdentifier):  # the worker refuses it: nothing counts
            return
        self.seen.add((request.contact_id, request.unique_identifier))
        if outcome.applied:
            self._count(request.kind, item, request.contact_id, outcome)

    def _count(self, kind: str, item: Streak | Challenge, contact_id: str, outcome: Outcome) -> None:
        share = self.items.get((kind, item.id))
        if share is None:  # not setdefault: a Tally (and its Counter) per log adds up over a replay
            share = self.items[(kind, item.id)] = Tally()
        for tally in (self.total, share):
            tally.logs += 1
            tally.members.add(contact_id)
            tally.milestones += len(outcome.achieved)
            for _, milestone in outcome.achieved:
                reward = milestone.reward
                tally.reward_logs[reward.type if reward else "manual"] += 1  # no reward: given by hand
                tally.reward_points += (reward.points or 0) if reward and reward.type == "points" else 0


def _items(program: Program | None) -> list[tuple[str, Streak | Challenge]]:
    if program is None:
        return []
    return [("streak", s) for s in program.streaks] + [("challenge", c) for c in program.challenges]


def replay(
    events: list[NormalizedEvent], instance_id: str, current: Program | None, draft: Program
) -> dict[str, Any]:
    """The events (in occurred order) replayed against both programs; pure."""
    sides = {"current": Replay(current, instance_id), "draft": Replay(draft, instance_id)}
    for event in events:
        for side in sides.values():
            side.feed(event)
    by_item: dict[tuple[str, str], dict[str, Any]] = {}
    for name, side in sides.items():
        for kind, item in _items(side.program):
            entry = by_item.setdefault((kind, item.id), {"kind": kind, "id": item.id, "name": item.name})
            entry[name] = side.items.get((kind, item.id), Tally()).to_json()
    empty = Tally().to_json()
    return {
        "events": len(events),
        "members": len({event.contactId for event in events if event.contactId}),
        "current": sides["current"].total.to_json(),
        "draft": sides["draft"].total.to_json(),
        "byItem": [{"current": empty, "draft": empty, **entry} for entry in by_item.values()],
    }


def dry_run(
    client: redis.Redis, instance_id: str, current: Program | None, draft: Program, *, max_events: int
) -> dict[str, Any]:
    """The site's journaled events replayed against `current` (None: no program yet) and `draft`."""
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
