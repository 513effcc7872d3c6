"""The jobs there are, each one batch at a time from a cursor (see worker.jobs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis

from worker.jobs import Batch, JobStep
from worker.progress_store import reward_index_key, reward_key, update_json

BATCH_SIZE = 100


def expire_reward(
    client: redis.Redis, instance_id: str, contact_id: str, reward_log_id: str, now: datetime
) -> bool:
    """Mark an issued reward log `expired` once its rewardExpiryAt has passed; True when it changed."""
    key = reward_key(instance_id, contact_id, reward_log_id)

    def expire(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        expiry = reward_log.get("rewardExpiryAt")
        if reward_log.get("status") != "issued" or not expiry:
            return None
        if datetime.fromisoformat(expiry.replace("Z", "+00:00")) > now:
            return None
        stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {**reward_log, "status": "expired", "updatedAt": stamp}

    return update_json(client, key, expire)[1]


def expire_rewards(client: redis.Redis, record: dict[str, Any], now: datetime) -> Batch:
    """`expire-rewards`: every reward log of the instance, a hundred at a time (HSCAN of the id index)."""
    index = reward_index_key(record["instanceId"])
    total = int(client.hlen(index)) if record["total"] is None else None  # type: ignore[arg-type]
    cursor, entries = client.hscan(index, cursor=int(record["cursor"] or 0), count=BATCH_SIZE)  # type: ignore[misc]
    done = sum(
        expire_reward(client, record["instanceId"], contact_id, reward_log_id, now)
        for reward_log_id, contact_id in entries.items()
    )
    return Batch(
        done=done,
        skipped=len(entries) - done,
        failures=[],
        cursor=None if int(cursor) == 0 else str(cursor),
        total=total,
    )


KINDS: dict[str, JobStep] = {"expire-rewards": expire_rewards}
QUEUES: dict[str, str] = {"expire-rewards": "periodic"}
