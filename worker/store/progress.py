"""The Redis store of programs, progress and reward logs: it applies the engine's results atomically.

Everything one log touches lives under the member's hash tag (`{instanceId:contactId}`): the state for
one streak or challenge (one JSON value), the log's unique-identifier key holding its original answer,
the reward logs and the member's list of them. Recording a log WATCHes the state and the identifier,
lets the engine compute the outcome, then writes all of it in one MULTI; if another worker changed
either key first, it starts again. So two workers logging for one member at once never lose an update,
a duplicate changes nothing, and the layout is ready for Redis Cluster (one slot per member).

Reward logs are found by id through a per-instance index (id -> contact), listed by time through another
(id -> createdAt, worker/store/reward_listing.py), and the sweep finds members
through a per-instance set; both live outside the member's hash slot, so they are written just *before*
the MULTI (idempotently: reward log ids are derived from what they reward, so a retried attempt writes
the same entries) and again by every duplicate of the same log. Nothing is written after the MULTI, so a
crash at any point leaves nothing unfindable. The MULTI also writes, for each new reward log, the intents
to fulfil and report it into the member's outbox (worker/store/outbox.py), which a relay sends if the
immediate send never happens.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis

from worker import keys
from worker.engine.caps import IssuedCounts, cap_rewards
from worker.engine.logs import ActivityLog
from worker.engine.program import Challenge, Program, Streak, parse_program
from worker.engine.recording import MemberState, Recorded, record_challenge_log, record_streak_log
from worker.store import outbox, program_versions, stats

Kind = Literal["streak", "challenge"]
MAX_ATTEMPTS = 50


class NoProgram(LookupError):
    """The instance has no program yet."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id} has no program")
        self.instance_id = instance_id


class Contention(RuntimeError):
    """Other writers kept changing the member's state; the caller may retry later."""


@dataclass
class Outcome:
    answer: dict[str, Any]
    duplicate: bool
    reward_logs: list[dict[str, Any]]


@functools.lru_cache(maxsize=1024)
def _parsed_program(raw: str | bytes) -> Program:
    """The stored program, validated once per process for each stored text (a change is another text).

    One event reads its instance's program several times (the rules, the analytics, the points), and
    validating it cost more than the rest of the worker's own CPU per event (bench/scaling.py); reading
    it stays a Redis GET, so every reader still sees the program as published. The Program is frozen
    and nobody changes its lists. A stored program that does not validate is not cached: ProgramInvalid
    is raised each time."""
    return parse_program(json.loads(raw)["document"])


_program_reads: ContextVar[dict[str, str | None] | None] = ContextVar("program_reads", default=None)


@contextlib.contextmanager
def one_program_read(known: Mapping[str, str | None] | None = None) -> Iterator[None]:
    """Inside the block, each instance's program is read from Redis once, the first time it is asked for
    (`known`: texts already read, e.g. in a pipeline with other reads; None for no program), and every
    later reader in the block gets that same text.

    One event asks for its program up to six times (its rules, each log, the analytics, the trigger
    report, the points): one GET each. Within the block it is one, and the event is applied against one
    version of the program throughout, even when a new one is published meanwhile (the next event sees
    it)."""
    token = _program_reads.set(dict(known or {}))
    try:
        yield
    finally:
        _program_reads.reset(token)


def created_score(reward_log: dict[str, Any]) -> float:
    """A reward log's place in the instance's time index: its `createdAt` in epoch seconds."""
    return datetime.fromisoformat(str(reward_log["createdAt"]).replace("Z", "+00:00")).timestamp()


def _load_state(raw: str | None) -> MemberState:
    return _state_of(json.loads(raw)) if raw else MemberState()


def _state_of(data: dict[str, Any]) -> MemberState:
    if not data:
        return MemberState()
    return MemberState(
        logs=[ActivityLog.from_json(entry) for entry in data["logs"]],
        achieved=set(data["achieved"]),
    )


def _dump_state(
    state: MemberState, late: list[dict[str, Any]], counted: list[str], issued: IssuedCounts | None = None
) -> str:
    return json.dumps(
        {
            "logs": [log.to_json() for log in sorted(state.logs)],
            "achieved": sorted(state.achieved),
            "late": late,
            "counted": counted,
            **({"rewardsIssued": issued} if issued else {}),  # reward caps (worker/engine/caps.py)
        },
        separators=(",", ":"),
    )


def update_json(
    client: redis.Redis,
    key: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    also: Callable[[Any], None] | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """Apply `change` to the JSON object at `key` in one step (WATCH/MULTI, again if another writer came
    first). `change` answers the new value, or None to leave it; exceptions it raises propagate with
    nothing written. `also` queues more writes on the same MULTI when the value changes (keys of the
    same hash tag). Answers the value now stored (None when the key is missing) and whether it changed."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.get(key)
                if not raw:
                    return None, False
                current: dict[str, Any] = json.loads(raw)  # type: ignore[arg-type]
                new = change(json.loads(raw))  # type: ignore[arg-type]
                if new is None:
                    return current, False
                pipe.multi()
                pipe.set(key, json.dumps(new))
                if also is not None:
                    also(pipe)
                pipe.execute()
                return new, True
            except redis.WatchError:
                continue


class ProgressStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @property
    def client(self) -> redis.Redis:
        """The Redis client the store writes with (for callers that keep related data beside it)."""
        return self._redis

    # programs -----------------------------------------------------------------------------------

    def save_program(self, instance_id: str, document: dict[str, Any], who: str = "admin") -> int:
        """Replace the program (already validated) in one step, recorded as a published version
        (worker/store/program_versions.py); returns its new version."""
        return int(program_versions.publish_document(self._redis, instance_id, document, who=who)["version"])

    def program_document(self, instance_id: str) -> tuple[int, dict[str, Any]] | None:
        raw = self._redis.get(keys.program(instance_id))
        if not raw:
            return None
        stored = json.loads(raw)  # type: ignore[arg-type]
        return int(stored["version"]), stored["document"]

    def program(self, instance_id: str) -> Program:
        """The instance's live program: read from Redis each time, except inside `one_program_read`."""
        reads = _program_reads.get()
        if reads is not None and instance_id in reads:
            raw = reads[instance_id]
        else:
            raw = self._redis.get(keys.program(instance_id))  # type: ignore[assignment]
            if reads is not None:
                reads[instance_id] = raw
        if not raw:
            raise NoProgram(instance_id)
        return _parsed_program(raw)

    # logs ---------------------------------------------------------------------------------------

    def record(
        self,
        instance_id: str,
        program: Program,
        item: Streak | Challenge,
        log: ActivityLog,
        now: datetime,
        also_intents: Sequence[outbox.Intent] = (),
    ) -> Outcome:
        """Apply one log atomically; a repeated uniqueIdentifier answers the original, unchanged.
        LogRejected from the engine propagates with nothing written. `also_intents` (a custom activity's
        points, worker/rewards/activity_points.py) are committed with the log unless the member is paused."""
        kind: Kind = "streak" if isinstance(item, Streak) else "challenge"
        member_key = keys.member_state(instance_id, log.contactId, kind, item.id)
        uid_key = keys.member_log(instance_id, log.contactId, log.uniqueIdentifier)
        status_key = keys.member_status(instance_id, log.contactId)
        with self._redis.pipeline() as pipe:
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    # Someone wrote the member first: step aside a random moment so the writers spread out.
                    time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))  # noqa: S311  (not security)
                try:
                    pipe.watch(member_key, uid_key, status_key)  # type: ignore[no-untyped-call]
                    # One MGET (the keys share the member's hash slot) under the WATCH; sent as a command
                    # because redis-py's cluster pipeline refuses `mget` by name.
                    read: list[str | None] = pipe.execute_command("MGET", uid_key, member_key, status_key)  # type: ignore[no-untyped-call]
                    original, raw_state, status = read
                    if original:
                        answer = json.loads(original)
                        pipe.reset()
                        self._index(instance_id, log.contactId, answer.get("achievedMilestoneRewardLogs"))
                        return Outcome(answer, duplicate=True, reward_logs=[])
                    stored: dict[str, Any] = json.loads(raw_state) if raw_state else {}  # decoded once
                    state = _state_of(stored)
                    late = stored.get("late", [])
                    paused = status == "paused"  # pausing is seen by this MULTI or the next
                    counted = stored.get("counted", [])
                    recorded = self._compute(instance_id, program, item, state, log, now, paused=paused)
                    issued: IssuedCounts = stored.get("rewardsIssued", {})
                    recorded.reward_logs, issued = cap_rewards(
                        program, item, recorded.answer, recorded.reward_logs, issued, now
                    )
                    state.apply(log, recorded)
                    if not recorded.applied:
                        late.append(log.to_json())  # kept, never counted
                    member_outbox = keys.member_outbox(instance_id, log.contactId)
                    intents = [
                        intent
                        for reward_log in recorded.reward_logs
                        for intent in outbox.reward_intents(instance_id, reward_log)
                    ] + ([] if paused else list(also_intents))
                    # Outside the member's slot, so before the MULTI (see the module's docstring).
                    self._index(
                        instance_id, log.contactId, recorded.reward_logs, member_outbox if intents else None
                    )
                    counts = stats.log_counts(
                        instance_id, kind, item.id, log.contactId, recorded, counted, now
                    )
                    pipe.multi()
                    pipe.set(member_key, _dump_state(state, late, counted, issued))
                    pipe.set(uid_key, json.dumps(recorded.answer, default=str))
                    for reward_log in recorded.reward_logs:
                        pipe.set(
                            keys.member_reward(instance_id, log.contactId, reward_log["id"]),
                            json.dumps(reward_log),
                        )
                        pipe.zadd(
                            keys.member_rewards(instance_id, log.contactId),
                            {reward_log["id"]: now.timestamp()},
                        )
                    outbox.add(pipe, member_outbox, intents, time.time())
                    counts.queue(pipe)  # the analytics counts of this log, in the same step
                    pipe.execute()
                    return Outcome(recorded.answer, duplicate=False, reward_logs=recorded.reward_logs)
                except redis.WatchError:
                    continue
        raise Contention(f"could not record {log.uniqueIdentifier} after {MAX_ATTEMPTS} attempts")

    @staticmethod
    def _compute(
        instance_id: str,
        program: Program,
        item: Streak | Challenge,
        state: MemberState,
        log: ActivityLog,
        now: datetime,
        *,
        paused: bool = False,
    ) -> Recorded:
        if isinstance(item, Streak):
            return record_streak_log(
                program, item, state, log, instance_id=instance_id, now=now, paused=paused
            )
        return record_challenge_log(
            program, item, state, log, instance_id=instance_id, now=now, paused=paused
        )

    def member_state(self, instance_id: str, contact_id: str, kind: Kind, item_id: str) -> MemberState:
        return _load_state(self._redis.get(keys.member_state(instance_id, contact_id, kind, item_id)))  # type: ignore[arg-type]

    def member_states(
        self, instance_id: str, contact_id: str, items: Sequence[tuple[Kind, str]]
    ) -> list[Callable[[], MemberState]]:
        """The member's state for each (kind, item id), read in one round trip (one MGET: the keys share
        the member's hash slot); each is decoded only when called, so a caller that stops early saves
        the decoding."""
        if not items:
            return []
        member_keys = [keys.member_state(instance_id, contact_id, kind, item_id) for kind, item_id in items]
        raws: list[str | None] = self._redis.mget(member_keys)  # type: ignore[assignment]
        return [functools.partial(_load_state, raw) for raw in raws]

    # reward logs --------------------------------------------------------------------------------

    def _index(
        self,
        instance_id: str,
        contact_id: str,
        reward_logs: list[dict[str, Any]] | None,
        member_outbox: str | None = None,
    ) -> None:
        """What a log writes outside the member's slot, in one round trip before the member's MULTI: the
        sweep's members set, the id index and the time index (worker/store/reward_listing.py) of new
        reward logs, and the outbox index when the MULTI writes intents. All idempotent (a reward log's id
        and createdAt never change), and the MULTI is sent only once this answered, so no reward log ever
        exists without its entries and no intent without its index. Not one MULTI: the keys are in
        several slots under Redis Cluster (each command is atomic on its own, and all are repeatable)."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(keys.members(instance_id), contact_id)
            if reward_logs:
                pipe.hset(keys.reward_index(instance_id), mapping={r["id"]: contact_id for r in reward_logs})
                pipe.zadd(keys.reward_times(instance_id), {r["id"]: created_score(r) for r in reward_logs})
            if member_outbox is not None:
                outbox.index(pipe, member_outbox, time.time())
            pipe.execute()

    def _reward_owner(self, instance_id: str, reward_log_id: str) -> str | None:
        """The contact whose reward log this is, from the instance's reward index (None: no such log)."""
        contact_id = self._redis.hget(keys.reward_index(instance_id), reward_log_id)
        return contact_id if isinstance(contact_id, str) else None

    def reward_owner(self, instance_id: str, reward_log_id: str) -> str | None:
        """The contact whose reward log this is (None: the instance has no such log)."""
        return self._reward_owner(instance_id, reward_log_id)

    def reward_log_key(self, instance_id: str, reward_log_id: str) -> str | None:
        """The key of a reward log of this instance, or None when the instance has no such log."""
        contact_id = self._reward_owner(instance_id, reward_log_id)
        return keys.member_reward(instance_id, contact_id, reward_log_id) if contact_id else None

    def put_intent(self, instance_id: str, reward_log_id: str, intent: outbox.Intent, now: float) -> bool:
        """Before a task about a reward log sends another (outbox.put): its intent in the member's outbox."""
        contact_id = self._reward_owner(instance_id, reward_log_id)
        if contact_id is None:
            return False
        outbox.put(self._redis, keys.member_outbox(instance_id, contact_id), [intent], now)
        return True

    def take_intent(self, instance_id: str, reward_log_id: str, intent_id: str) -> bool:
        """A task about a reward log has started: its intent in the member's outbox is taken."""
        contact_id = self._reward_owner(instance_id, reward_log_id)
        if contact_id is None:
            return False
        return outbox.take(self._redis, keys.member_outbox(instance_id, contact_id), intent_id)

    def reward_log(self, instance_id: str, reward_log_id: str) -> dict[str, Any] | None:
        key = self.reward_log_key(instance_id, reward_log_id)
        raw = self._redis.get(key) if key else None
        return json.loads(raw) if raw else None  # type: ignore[arg-type]

    def reward_logs(self, instance_id: str, reward_log_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Each reward log as `reward_log` reads it (None: no such log), in two round trips for all of
        them: their owners from the index (one HMGET), then the logs (one pipeline: each member's own
        slot)."""
        if not reward_log_ids:
            return []
        owners: list[str | None] = self._redis.hmget(keys.reward_index(instance_id), list(reward_log_ids))  # type: ignore[assignment]
        found = [
            (i, keys.member_reward(instance_id, c, i))
            for i, c in zip(reward_log_ids, owners, strict=True)
            if c
        ]
        raws: dict[str, str | None] = {}
        if found:
            with self._redis.pipeline(transaction=False) as pipe:
                for _, key in found:
                    pipe.get(key)
                raws = dict(zip((i for i, _ in found), pipe.execute(), strict=True))
        return [json.loads(raw) if (raw := raws.get(i)) else None for i in reward_log_ids]

    def member_reward_logs(self, instance_id: str, contact_id: str) -> list[dict[str, Any]]:
        ids: list[str] = self._redis.zrange(keys.member_rewards(instance_id, contact_id), 0, -1)  # type: ignore[assignment]
        raws = [self._redis.get(keys.member_reward(instance_id, contact_id, reward_id)) for reward_id in ids]
        return [json.loads(raw) for raw in raws if raw]  # type: ignore[arg-type]

    # closed progress records (the sweep) ---------------------------------------------------------

    def save_closures(
        self,
        instance_id: str,
        contact_id: str,
        kind: Kind,
        item_id: str,
        closures: dict[str, dict[str, Any]],
        now: datetime,
    ) -> int:
        """Keep each closed record once (the first stamp stays), counted as it is kept (a streak run broken,
        a challenge failed: worker/store/stats.py); answers how many were new."""
        key = keys.member_closed(instance_id, contact_id)
        counts = stats.closure_counts(instance_id, kind, item_id, now)
        new = 0
        for run_key, record in closures.items():
            field, text = f"{kind}:{item_id}:{run_key}", json.dumps(record, default=str)
            new += stats.save_closure(self._redis, key, field, text, counts)
        return new

    def closed_records(self, instance_id: str, contact_id: str) -> list[dict[str, Any]]:
        """The member's closed records, as the sweep stamped them."""
        raw: dict[str, str] = self._redis.hgetall(keys.member_closed(instance_id, contact_id))  # type: ignore[assignment]
        return [json.loads(raw[field]) for field in sorted(raw)]
