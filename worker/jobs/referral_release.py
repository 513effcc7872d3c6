"""`release-referrals`: reward the instance's referrals whose hold (`holdDays`) has ended.

Beat starts it hourly for every instance; a batch releases up to a hundred due referrals
(worker/rewards/referral_rewards.py), and the job goes on while a batch found a full hundred. Each
release is idempotent, so a batch done again after a crash sends nothing twice. Before a referral is
rewarded, Wix's Order Transactions API says whether the friend paid with the referrer's card; a Wix
failure that passes ends the batch (`WixTransientError`: the runner tries it again after a backoff).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.jobs.runner import Batch, JobContext
from worker.rewards.referral_rewards import release_due

BATCH_SIZE = 100


def release_referrals(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    instance_id = record["instanceId"]
    wix = context.wix()

    def payments(order_id: str) -> list[dict[str, Any]]:
        return wix.list_order_payments(instance_id, order_id)

    done, skipped = release_due(context.redis, context.dispatcher(), instance_id, now, BATCH_SIZE, payments)
    more = done + skipped >= BATCH_SIZE
    return Batch(done=done, skipped=skipped, failures=[], cursor="more" if more else None)
