"""The Redis store of programs, progress and reward logs: it applies the engine's results atomically.

A member's state for one streak or challenge is one JSON value under the member's hash tag
(`{instanceId:contactId}`). Recording a log WATCHes that value and the log's unique-identifier key,
lets the engine compute the outcome, then writes state, the identifier's original answer and any new
reward logs in one MULTI; if another worker changed either key first, it starts again. So two workers
logging for one member at once never lose an update, and a duplicate changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis

from worker.engine.logs import ActivityLog
from worker.engine.program import Challenge, Program, Streak, parse_program
from worker.engine.recording import MemberState, Recorded, record_challenge_log, record_streak_log

Kind = Literal["streak", "challenge"]
MAX_ATTEMPTS = 50


class NoProgram(LookupError):
    """The instance has no program yet."""


class Contention(RuntimeError):
    """Other writers kept changing the member's state; the caller may retry later."""


def _member(instance_id: str, contact_id: str) -> str:
    return f"wrw:{{{instance_id}:{contact_id}}}"


def state_key(instance_id: str, contact_id: str, kind: Kind, item_id: str) -> str:
    return f"{_member(instance_id, contact_id)}:{kind}:{item_id}"


def log_key(instance_id: str, unique_identifier: str) -> str:
    return f"wrw:uid:{instance_id}:{unique_identifier}"


def reward_key(instance_id: str, reward_log_id: str) -> str:
    return f"wrw:reward:{instance_id}:{reward_log_id}"


def member_rewards_key(instance_id: str, contact_id: str) -> str:
    return f"{_member(instance_id, contact_id)}:rewards"


def program_key(instance_id: str) -> str:
    return f"wrw:program:{instance_id}"


@dataclass
class Outcome:
    answer: dict[str, Any]
    duplicate: bool
    reward_logs: list[dict[str, Any]]


def _load_state(raw: str | None) -> MemberState:
    if not raw:
        return MemberState()
    data = json.loads(raw)
    return MemberState(
        logs=[ActivityLog.from_json(entry) for entry in data["logs"]],
        achieved=set(data["achieved"]),
    )


def _dump_state(state: MemberState, late: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "logs": [log.to_json() for log in sorted(state.logs)],
            "achieved": sorted(state.achieved),
            "late": late,
        },
        separators=(",", ":"),
    )


class ProgressStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    # programs -----------------------------------------------------------------------------------

    def save_program(self, instance_id: str, document: dict[str, Any]) -> int:
        """Replace the program (already validated) in one step; returns its new version."""
        key = program_key(instance_id)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    version = (json.loads(raw)["version"] if raw else 0) + 1  # type: ignore[arg-type]
                    pipe.multi()
                    pipe.set(key, json.dumps({"version": version, "document": document}, default=str))
                    pipe.execute()
                    return int(version)
                except redis.WatchError:
                    continue

    def program_document(self, instance_id: str) -> tuple[int, dict[str, Any]] | None:
        raw = self._redis.get(program_key(instance_id))
        if not raw:
            return None
        stored = json.loads(raw)  # type: ignore[arg-type]
        return int(stored["version"]), stored["document"]

    def program(self, instance_id: str) -> Program:
        stored = self.program_document(instance_id)
        if stored is None:
            raise NoProgram(f"instance {instance_id} has no program")
        return parse_program(stored[1])

    # logs ---------------------------------------------------------------------------------------

    def record(
        self,
        instance_id: str,
        program: Program,
        item: Streak | Challenge,
        log: ActivityLog,
        now: datetime,
    ) -> Outcome:
        """Apply one log atomically; a repeated uniqueIdentifier answers the original, unchanged.
        LogRejected from the engine propagates with nothing written."""
        kind: Kind = "streak" if isinstance(item, Streak) else "challenge"
        member_key = state_key(instance_id, log.contactId, kind, item.id)
        uid_key = log_key(instance_id, log.uniqueIdentifier)
        with self._redis.pipeline() as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(member_key, uid_key)  # type: ignore[no-untyped-call]
                    original = pipe.get(uid_key)
                    if original:
                        return Outcome(json.loads(original), duplicate=True, reward_logs=[])  # type: ignore[arg-type]
                    raw_state = pipe.get(member_key)
                    state = _load_state(raw_state)  # type: ignore[arg-type]
                    late = json.loads(raw_state)["late"] if raw_state else []  # type: ignore[arg-type]
                    recorded = self._compute(instance_id, program, item, state, log, now)
                    if recorded.applied:
                        state.logs.append(log)
                        state.achieved.update(recorded.achieved_keys)
                    else:
                        late.append(log.to_json())  # kept, never counted
                    pipe.multi()
                    pipe.set(member_key, _dump_state(state, late))
                    pipe.set(uid_key, json.dumps(recorded.answer, default=str))
                    for reward_log in recorded.reward_logs:
                        pipe.set(reward_key(instance_id, reward_log["id"]), json.dumps(reward_log))
                        pipe.zadd(
                            member_rewards_key(instance_id, log.contactId),
                            {reward_log["id"]: now.timestamp()},
                        )
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
    ) -> Recorded:
        if isinstance(item, Streak):
            return record_streak_log(program, item, state, log, instance_id=instance_id, now=now)
        return record_challenge_log(program, item, state, log, instance_id=instance_id, now=now)

    def member_state(self, instance_id: str, contact_id: str, kind: Kind, item_id: str) -> MemberState:
        return _load_state(self._redis.get(state_key(instance_id, contact_id, kind, item_id)))  # type: ignore[arg-type]

    # reward logs --------------------------------------------------------------------------------

    def reward_log(self, instance_id: str, reward_log_id: str) -> dict[str, Any] | None:
        raw = self._redis.get(reward_key(instance_id, reward_log_id))
        return json.loads(raw) if raw else None  # type: ignore[arg-type]

    def member_reward_logs(self, instance_id: str, contact_id: str) -> list[dict[str, Any]]:
        ids = self._redis.zrange(member_rewards_key(instance_id, contact_id), 0, -1)
        logs = [self.reward_log(instance_id, reward_id) for reward_id in ids]  # type: ignore[union-attr]
        return [log for log in logs if log is not None]
