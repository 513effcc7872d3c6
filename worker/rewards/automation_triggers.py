"""Wix automation trigger events (wix-facts.md §5.2), so site owners can email or message on rewards.

`milestone_achieved` when a reward log is created, `reward_issued` when it is issued; each carries the
contact id (which Wix enriches into the contact), the names, and the coupon code where there is one.
The reward log id makes both the idempotency key and (as a UUID) the external entity id, so a retried
report is ignored by Wix.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis

from worker.store.progress import ProgressStore
from worker.wix.client import WixClient

MILESTONE_ACHIEVED = "milestone_achieved"
REWARD_ISSUED = "reward_issued"
_NAMESPACE = uuid.UUID("4b0e8a52-1c7e-4f3d-9a61-2f0c6d5e7b90")


def trigger_payload(reward_log: dict[str, Any]) -> dict[str, Any]:
    reward = reward_log.get("reward") or {}
    return {
        "contact_id": reward_log["contactId"],
        "reward_log_id": reward_log["id"],
        "program_item_type": reward_log["linkedSchemaSlug"],
        "program_item_id": reward_log["linkedSchemaRecordId"],
        "milestone_id": reward_log["milestoneId"],
        "milestone_name": reward_log.get("milestoneName") or reward_log["milestoneId"],
        "reward_type": reward.get("type", "manual"),
        "reward_instructions": reward_log.get("rewardInstructions") or "",
        "coupon_code": reward_log.get("couponCode") or "",
        "reward_expires_at": reward_log.get("rewardExpiryAt") or "",
    }


def report_trigger(
    wix: WixClient, client: redis.Redis, instance_id: str, trigger_key: str, reward_log_id: str
) -> bool:
    """Report one trigger event for a reward log; False when the reward log is gone."""
    reward_log = ProgressStore(client).reward_log(instance_id, reward_log_id)
    if reward_log is None:
        return False
    wix.report_trigger_event(
        instance_id,
        trigger_key,
        trigger_payload(reward_log),
        external_entity_id=str(uuid.uuid5(_NAMESPACE, reward_log_id)),
        idempotency_key=f"{trigger_key}:{reward_log_id}",
    )
    return True
