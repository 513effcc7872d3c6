"""`release-referrals`: reward the instance's referrals whose hold (`holdDays`) has ended.

Beat starts it hourly for every instance; a batch releases up to a hundred due referrals
(worker/rewards/referral_rewards.py), and the job goes on while a batch found a full hundred. Each
release is idempotent, so a batch done again after a crash sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.jobs.runner import Batch, JobContext
from worker.rewards.referral_rewards import release_due

BATCH_SIZE = 100


def release_referrals(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    done, skipped = release_due(context.redis, context.dispatcher(), record["instanceId"], now, BATCH_SIZE)
    more = done + skipped >= BATCH_SIZE
    return Batch(done=done, skipped=skipped, failures=[], cursor="more" if more else None)
