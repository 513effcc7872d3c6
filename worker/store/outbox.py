"""The outbox: what a committed change still has to send, kept beside the change until a worker takes it.

"Commit, then send" loses the send when the sender dies (or the broker refuses) in between. So whatever
commits a change that must set a task going writes the task's *intent* in the same atomic step: a field
of a hash that shares the change's hash tag (a member's `{instanceId:contactId}`, or an instance's sync
tag), so one MULTI or Lua call writes both, and the layout stays Redis Cluster-safe. The committer then
sends the task at once, as before. The task *takes* its intent (deletes the field) when it starts: from
then on the broker holds the task (acks_late; a retry is a new message sent before the old one is
acknowledged). What is not taken is sent again:

- by the relay (`periodic.relay_outbox`, beat every minute), for intents not taken within
  `RESEND_AFTER_SECONDS`, then again after twice as long each time (at most `RESEND_MAX_SECONDS` apart),
  so a long queue behind Wix's rate limit gets a few extra copies, not one a minute;
- by a client's duplicate request, at once (the intents of the original's reward logs).

A task that is itself the change's own retry (the event task, acknowledged late, sending a points rule's
earn; the fulfilment task sending `reward_issued`) has nothing to commit the intent with: it `put`s the
intent first and sends second. Dying before the `put` is the task's own redelivery; a message lost after
the send (a worker SIGKILLed between kombu's BRPOP and its `unacked` write, which `make chaos` showed) is
the relay's.

A trigger event decided once (worker/store/trigger_marks.py: an order paid, points earned, a reward
expiring, a streak at risk, a reward issued by hand) writes its report's intent in the same Lua call or
MULTI as its decision, and is relayed the same way.

Every task sent this way is idempotent by the change's identifier (a reward log id makes the coupon code,
the points' idempotencyKey and the trigger's), so a copy does nothing twice.

Finding outboxes: scanning every member (the sweep's members index) each minute would cost in
proportion to all members, not to the few with something unsent; and an index outside the member's slot
cannot be written in the member's MULTI. So one global index of outbox keys is written *first*,
idempotently (ZADD, scored with the time), then the MULTI: a crash in between leaves an index entry over
an empty outbox, which costs one look; never an intent nobody will find (an index written after the
MULTI would lose exactly the crash this is for). The relay drops an index entry only when its outbox is
empty, the entry is older than `INDEX_GRACE_SECONDS` and unchanged since it looked, so a writer between
its ZADD and its MULTI is not dropped from under (unless it stalls there longer than the grace).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys
from worker.dispatch import EARN_POINTS, FULFIL_REWARD, REPORT_TRIGGER, queue_of

logger = logging.getLogger(__name__)

MILESTONE_ACHIEVED = (
    "milestone_achieved"  # worker.rewards.automation_triggers.MILESTONE_ACHIEVED (a test keeps them equal)
)
REWARD_ISSUED = "reward_issued"  # worker.rewards.automation_triggers.REWARD_ISSUED

RESEND_AFTER_SECONDS = 90.0
RESEND_MAX_SECONDS = 3600.0
INDEX_GRACE_SECONDS = 300.0
RELAY_BATCH = 500  # index entries per ZSCAN step

Send = Callable[[str, dict[str, Any], str], None]
"""Sends a task by name: `(task, kwargs, queue)` (Dispatcher.resend)."""


@dataclass(frozen=True)
class Intent:
    """A task to send: its id is unique within its outbox (e.g. `fulfil:rl_...`)."""

    id: str
    task: str
    kwargs: dict[str, Any]
    queue: str

    def entry(self, now: float) -> str:
        """The hash field's value: the task, when it was last sent (or committed) and how often resent."""
        return json.dumps(
            {"task": self.task, "kwargs": self.kwargs, "queue": self.queue, "at": now, "sends": 0},
            separators=(",", ":"),
        )


def needs_fulfilment(reward_log: dict[str, Any]) -> bool:
    reward = reward_log.get("reward") or {}
    return reward.get("type") in ("coupon", "points")


def fulfil_intent_id(reward_log_id: str) -> str:
    return f"fulfil:{reward_log_id}"


def report_intent_id(trigger_key: str, reward_log_id: str) -> str:
    return f"report:{trigger_key}:{reward_log_id}"


def earn_intent_id(idempotency_key: str) -> str:
    return f"earn:{idempotency_key}"


def earn_intent(instance_id: str, earn: dict[str, Any]) -> Intent:
    """A points rule's earn (`asdict(PointsEarn)`): the task and arguments `Dispatcher.earn` sends."""
    return Intent(
        earn_intent_id(earn["idempotency_key"]),
        EARN_POINTS,
        {"instance_id": instance_id, **earn},
        queue_of(EARN_POINTS),
    )


def report_intent(instance_id: str, trigger_key: str, reward_log_id: str) -> Intent:
    return Intent(
        report_intent_id(trigger_key, reward_log_id),
        REPORT_TRIGGER,
        {"instance_id": instance_id, "trigger_key": trigger_key, "reward_log_id": reward_log_id},
        queue_of(REPORT_TRIGGER),
    )


def reward_intents(instance_id: str, reward_log: dict[str, Any]) -> list[Intent]:
    """What a new reward log sets going: the milestone_achieved report, and fulfilment for a coupon or
    points reward (the same tasks, with the same arguments, as `follow_ups.fulfil_new_rewards` sends)."""
    reward_log_id = reward_log["id"]
    intents = [report_intent(instance_id, MILESTONE_ACHIEVED, reward_log_id)]
    if needs_fulfilment(reward_log):
        intents.append(
            Intent(
                fulfil_intent_id(reward_log_id),
                FULFIL_REWARD,
                {"instance_id": instance_id, "reward_log_id": reward_log_id},
                queue_of(FULFIL_REWARD),
            )
        )
    return intents


def index(client: redis.Redis | redis.client.Pipeline, outbox_key: str, now: float) -> None:
    """Before the MULTI that writes intents into `outbox_key`: make the relay look there."""
    client.zadd(keys.OUTBOX_INDEX, {outbox_key: now})


def add(pipe: Any, outbox_key: str, intents: Iterable[Intent], now: float) -> None:
    """Queue the intents' writes on a MULTI pipeline (the caller's atomic step)."""
    mapping = {intent.id: intent.entry(now) for intent in intents}
    if mapping:
        pipe.hset(outbox_key, mapping=mapping)


def put(client: redis.Redis, outbox_key: str, intents: Iterable[Intent], now: float) -> None:
    """Before a send with no commit of its own to ride on: index the outbox, then write the intents."""
    mapping = {intent.id: intent.entry(now) for intent in intents}
    if mapping:
        # One round trip, the index still first: Redis runs a pipeline's commands in the order sent (on a
        # cluster, redis-py sends to the index's node first), and the caller sends only once both are in.
        with client.pipeline(transaction=False) as pipe:
            index(pipe, outbox_key, now)
            pipe.hset(outbox_key, mapping=mapping)
            pipe.execute()


def take(client: redis.Redis, outbox_key: str, intent_id: str) -> bool:
    """A worker has the task: the intent needs sending no more. True when it was still there."""
    return bool(client.hdel(outbox_key, intent_id))


def pending(client: redis.Redis, outbox_key: str, intent_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The intents among `intent_ids` not yet taken."""
    if not intent_ids:
        return {}
    raws = client.hmget(outbox_key, intent_ids)
    return {i: json.loads(raw) for i, raw in zip(intent_ids, raws, strict=True) if raw}  # type: ignore[arg-type]


# Only while the intent is still there (a task may have taken it meanwhile): never resurrect one.
_MARK_SENT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
entry['at'] = tonumber(ARGV[2])
entry['sends'] = (entry['sends'] or 0) + 1
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
return 1
"""
# Drop an index entry only if nobody indexed the outbox again since the relay looked.
_UNINDEX = """
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


def send_intents(
    client: redis.Redis, outbox_key: str, intents: dict[str, dict[str, Any]], send: Send, now: float
) -> int:
    """Send each intent and note when (the relay's backoff counts these sends); answers how many went."""
    sent = 0
    for intent_id, entry in intents.items():
        send(entry["task"], entry["kwargs"], entry["queue"])
        client.eval(_MARK_SENT, 1, outbox_key, intent_id, repr(now))
        sent += 1
    return sent


def resend_pending(
    client: redis.Redis, outbox_key: str, intent_ids: list[str], send: Send, now: float
) -> int:
    """A duplicate request: send again, at once, what the original committed and no worker took yet.
    Never fails the caller (the relay is there too)."""
    try:
        return send_intents(client, outbox_key, pending(client, outbox_key, intent_ids), send, now)
    except Exception:
        logger.exception("could not send pending intents again", extra={"outbox": outbox_key})
        return 0


def relay(client: redis.Redis, send: Send, now: float, min_age_seconds: float = RESEND_AFTER_SECONDS) -> int:
    """Send every intent not taken in time: `min_age_seconds` after its commit, then twice as long after
    each resend (at most `RESEND_MAX_SECONDS`); forget outboxes that stayed empty. Answers how many were
    sent. A send that fails stops the run: the next minute's tries again."""
    sent = 0
    for outbox_key, indexed_at in client.zscan_iter(keys.OUTBOX_INDEX, count=RELAY_BATCH):
        raw: dict[str, str] = client.hgetall(outbox_key)  # type: ignore[assignment]
        if not raw:
            if now - indexed_at >= INDEX_GRACE_SECONDS:
                client.eval(_UNINDEX, 1, keys.OUTBOX_INDEX, outbox_key, repr(indexed_at))
            continue
        due = {}
        for intent_id, value in raw.items():
            entry = json.loads(value)
            wait = min(min_age_seconds * 2 ** int(entry.get("sends") or 0), RESEND_MAX_SECONDS)
            if now - float(entry["at"]) >= wait:
                due[intent_id] = entry
        if due:
            logger.info("relaying intents not taken in time", extra={"outbox": outbox_key, "count": len(due)})
            sent += send_intents(client, outbox_key, due, send, now)
    return sent


def crash_after_commit_for_tests() -> None:
    """Test-only fault: with `WRW_TEST_CRASH_AFTER_COMMIT=1` the process is SIGKILLed right after a commit,
    before it sends anything (tests/integration/test_outbox.py). Never set it anywhere else."""
    if os.environ.get("WRW_TEST_CRASH_AFTER_COMMIT") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
