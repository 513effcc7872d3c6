"""What a recorded log sets in motion: fulfilling the reward logs it created (queue `rewards`).

The web app and the event task hand new reward logs to a `Dispatcher` (worker/dispatch.py), which sends
a `rewards.fulfil_reward` task by name for each coupon or points reward (manual ones wait for a person).
The store wrote the same tasks as intents into the member's outbox in the step that created the reward
logs (worker/store/outbox.py): if this send fails, or the process dies before it, the relay sends them within
a couple of minutes, and a duplicate of the request sends them again at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.progress.record import ActivityRequest, issue_reward
from worker.rewards.activity_points import record_log
from worker.rewards.automation_triggers import MILESTONE_ACHIEVED, REWARD_ISSUED
from worker.store import outbox
from worker.store.outbox import needs_fulfilment
from worker.store.progress import Outcome

logger = logging.getLogger(__name__)


def fulfil_new_rewards(
    follow_ups: Dispatcher, instance_id: str, reward_logs: Iterable[dict[str, Any]]
) -> None:
    """Report each new reward log's milestone to Wix's automations and send fulfilment for the coupon
    and points rewards among them; never fails the caller."""
    reward_logs = list(reward_logs)
    if reward_logs:
        outbox.crash_after_commit_for_tests()
    ids = [reward_log["id"] for reward_log in reward_logs if needs_fulfilment(reward_log)]
    try:
        if reward_logs:
            follow_ups.report(
                instance_id, MILESTONE_ACHIEVED, [reward_log["id"] for reward_log in reward_logs]
            )
        if ids:
            follow_ups.fulfil(instance_id, ids)
    except Exception:  # the intents are in the member's outbox: the relay sends them
        logger.exception("could not send reward follow-ups", extra={"reward_log_ids": ids})


def send_follow_ups(follow_ups: Dispatcher, client: redis.Redis, instance_id: str, outcome: Outcome) -> None:
    """After a log was recorded: a new log's follow-ups go now; a duplicate's original sends again, at
    once, whatever it committed that no worker has taken yet (its send may have failed, or its process
    died). Never fails the caller."""
    if not outcome.duplicate:
        fulfil_new_rewards(follow_ups, instance_id, outcome.reward_logs)
        return
    by_contact: dict[str, list[str]] = {}
    for reward_log in outcome.answer.get("achievedMilestoneRewardLogs") or []:
        intents = outbox.reward_intents(instance_id, reward_log)
        by_contact.setdefault(reward_log["contactId"], []).extend(intent.id for intent in intents)
    for contact_id, intent_ids in by_contact.items():
        outbox.resend_pending(
            client, keys.member_outbox(instance_id, contact_id), intent_ids, follow_ups.resend, time.time()
        )


def record_and_follow_up(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, activity: ActivityRequest, now: datetime
) -> Outcome:
    """Record a log (worker.progress.record), then send what it set in motion: the one path of the records
    API and the Wix actions. What the domain refuses, and Redis errors, come from recording; sending
    never fails the caller."""
    outcome = record_log(client, follow_ups, instance_id, activity, now)  # with its activity's points
    send_follow_ups(follow_ups, client, instance_id, outcome)
    return outcome


def issue_and_follow_up(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    reward_log_id: str,
    *,
    coupon_code: str,
    issued_at: datetime,
    expiry_at: datetime,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Issue a reward log with a coupon someone else made (worker.progress.record.issue_reward), then
    report `reward_issued`: the one path of the Update Reward Log action and the records API. The issue
    committed the report's intent, so a repeat sends again only what is still unsent; sending never
    fails the caller."""
    reward_log, changed = issue_reward(
        client,
        instance_id,
        reward_log_id,
        coupon_code=coupon_code,
        issued_at=issued_at,
        expiry_at=expiry_at,
        now=now,
    )
    intent = outbox.report_intent(instance_id, REWARD_ISSUED, reward_log_id)
    if not changed:
        member_outbox = keys.member_outbox(instance_id, reward_log["contactId"])
        outbox.resend_pending(client, member_outbox, [intent.id], follow_ups.resend, time.time())
        return reward_log, changed
    outbox.crash_after_commit_for_tests()
    try:
        follow_ups.report(instance_id, REWARD_ISSUED, [reward_log_id])
    except Exception:  # the intent is in the member's outbox: the relay sends it
        logger.exception("could not send the reward_issued report", extra={"reward_log_id": reward_log_id})
    return reward_log, changed
