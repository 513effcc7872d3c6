"""A referral's coupon reward as a reward log, kept as the store keeps a milestone's and fulfilled like one
(worker/rewards/fulfilment.py)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import FULFIL_REWARD, queue_of
from worker.loyalty.referral_records import stamp
from worker.store import outbox


def referral_reward_log(
    instance_id: str, contact_id: str, friend_id: str, side: str, reward: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A coupon referral reward as a reward log (fulfilled like a milestone's: worker/rewards/fulfilment.py),
    its id derived from the referral and the side, so releasing it twice makes one."""
    reward_log_id = (
        "rl_"
        + hashlib.sha256(
            "\x1f".join([instance_id, contact_id, "referral", friend_id, side]).encode()
        ).hexdigest()[:24]
    )
    return {
        "id": reward_log_id,
        "instanceId": instance_id,
        "contactId": contact_id,
        "linkedSchemaSlug": "referral",
        "linkedSchemaRecordId": friend_id,
        "milestoneId": side,
        "milestoneName": "Referral reward",
        "rewardInstructions": None,
        "periodKey": friend_id,
        "reward": reward,
        "status": "pending",
        "couponCode": None,
        "rewardIssuedAt": None,
        "rewardExpiryAt": None,
        "createdAt": stamp(now),
        "updatedAt": stamp(now),
    }


def put_reward_log(client: redis.Redis, instance_id: str, reward_log: dict[str, Any], now: datetime) -> bool:
    """Keep a referral's coupon reward log as the store keeps a milestone's (its indexes first, then the
    log and its fulfilment intent in the member's outbox, in one MULTI); False when it exists already."""
    contact_id = reward_log["contactId"]
    key = keys.member_reward(instance_id, contact_id, reward_log["id"])
    if client.exists(key):
        return False
    with client.pipeline() as pipe:  # the indexes outside the member's slot first (worker/store/progress.py)
        pipe.hset(keys.reward_index(instance_id), reward_log["id"], contact_id)
        pipe.zadd(keys.reward_times(instance_id), {reward_log["id"]: now.timestamp()})
        pipe.execute()
    member_outbox = keys.member_outbox(instance_id, contact_id)
    intent = outbox.Intent(
        outbox.fulfil_intent_id(reward_log["id"]),
        FULFIL_REWARD,
        {"instance_id": instance_id, "reward_log_id": reward_log["id"]},
        queue_of(FULFIL_REWARD),
    )
    outbox.index(client, member_outbox, time.time())
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, json.dumps(reward_log), nx=True)
        pipe.zadd(keys.member_rewards(instance_id, contact_id), {reward_log["id"]: now.timestamp()})
        outbox.add(pipe, member_outbox, [intent], time.time())
        pipe.execute()
    return True
