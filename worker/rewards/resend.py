"""Sending a failed reward again: the one path of the console's Rewards page, the member page and the API.

A reward log is `failed` when its fulfilment task failed for good (tasks/rewards.py parks the task in the
dead-letter queue and marks the log). Sending it again is "commit, then send" (worker/store/outbox.py):
one MULTI flips the log `failed` → `pending` (its error kept as `lastError`, the person in `sentAgainBy`),
writes the fulfilment task's intent into the member's outbox and the audit entry (on a Redis Cluster the
entry right after it: `audit_log.append_after_member_step`); then the task is sent.
Only the request that made the flip sends: a second click finds the log `pending` (or already `issued`)
and sends nothing; a send lost after the commit is the relay's. Fulfilment itself is idempotent by the
reward log id (the coupon code, the points' idempotencyKey), so even a replayed dead letter makes one
coupon.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis

from worker import keys
from worker.dispatch import FULFIL_REWARD, Dispatcher, queue_of
from worker.engine.timestamps import utc_stamp
from worker.store import audit_log, outbox
from worker.store.progress import ProgressStore, update_json

logger = logging.getLogger(__name__)

Result = Literal["sent", "not_failed", "not_found", "manual"]
AUDIT_ACTION = "reward_sent_again"


@dataclass(frozen=True)
class Outcome:
    """What `send_again` did: `sent` (the flip was this call's and the task went, or waits in the
    outbox), `not_failed` (nothing to do: already sent again, issued, ...), `not_found` (no such log of
    that member), `manual` (a manual reward: a person issues it, nothing to send)."""

    result: Result
    reward_log: dict[str, Any] | None = None

    @property
    def message(self) -> str:
        status = (self.reward_log or {}).get("status")
        return {
            "sent": "Sent again: the reward is pending until the worker fulfils it.",
            "not_failed": f"Nothing sent: the reward is {status}, not failed.",
            "not_found": "There is no such reward log for this member.",
            "manual": "A manual reward is issued by hand, not sent.",
        }[self.result]


def fulfil_intent(instance_id: str, reward_log_id: str) -> outbox.Intent:
    """The fulfilment task's intent, as a new reward log's (outbox.reward_intents) is."""
    return outbox.Intent(
        outbox.fulfil_intent_id(reward_log_id),
        FULFIL_REWARD,
        {"instance_id": instance_id, "reward_log_id": reward_log_id},
        queue_of(FULFIL_REWARD),
    )


def send_again(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    reward_log_id: str,
    who: str,
) -> Outcome:
    """Send a failed reward log of `contact_id` again, once however often asked (see the module)."""
    if ProgressStore(client).reward_owner(instance_id, reward_log_id) != contact_id:
        return Outcome("not_found")
    key = keys.member_reward(instance_id, contact_id, reward_log_id)
    member_outbox = keys.member_outbox(instance_id, contact_id)
    at = time.time()
    stamp = utc_stamp(datetime.fromtimestamp(at, UTC))
    intent = fulfil_intent(instance_id, reward_log_id)
    details = {"contactId": contact_id, "rewardLogId": reward_log_id}
    audit_entry = audit_log.entry(who, AUDIT_ACTION, details, at)

    def flip(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        if reward_log.get("status") != "failed" or not outbox.needs_fulfilment(reward_log):
            return None
        changed = {**reward_log, "status": "pending", "updatedAt": stamp, "sentAgainBy": who}
        changed["lastError"] = changed.pop("error", None)
        return changed

    def also(pipe: Any) -> None:
        outbox.add(pipe, member_outbox, [intent], at)
        audit_log.append_after_member_step(pipe, instance_id, audit_entry)

    outbox.index(client, member_outbox, at)  # before the MULTI, as every outbox writer does
    reward_log, changed = update_json(client, key, flip, also)
    if reward_log is None:
        return Outcome("not_found")
    if not changed:
        manual = not outbox.needs_fulfilment(reward_log)
        return Outcome("manual" if manual else "not_failed", reward_log)
    outbox.crash_after_commit_for_tests()
    try:
        follow_ups.fulfil(instance_id, [reward_log_id])
    except Exception:  # the intent is in the member's outbox: the relay sends it
        logger.exception("could not send a reward again", extra={"reward_log_id": reward_log_id})
    return Outcome("sent", reward_log)
