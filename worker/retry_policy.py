"""How long a task may run and how long its retries may wait, derived from Redis's visibility timeout.

With the Redis transport an unacknowledged task goes back to the queue once the visibility timeout
passes, and a retry's countdown is held by the worker *unacknowledged*. So any countdown or run time
longer than the timeout makes the task run twice (celery #2481, #4400). Both limits are a quarter of
the timeout here, so even a retry that waits its longest and then runs its longest ends with half the
timeout to spare. A short timeout (the tests' kill-and-resume runs wait it out) would make that quarter
too short for a real task, so the time limit is never under `SHORTEST_TIME_LIMIT` while half the
timeout allows it: the longest wait and run then still end with a quarter of the timeout to spare.

Inside a task, one Wix call that fails for now is tried again in place (worker.wix.client): at most
`call_attempts` tries, their waits adding up to at most `call_wait_budget`, a twentieth of the soft
limit (at most `LONGEST_CALL_WAIT`), so a job's batch, which stops taking new items at half the soft
limit, still ends inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RETRIES = 8
LONGEST_TIME_LIMIT = 300
SHORTEST_TIME_LIMIT = 5
LONGEST_BACKOFF = 600
CALL_ATTEMPTS = 4
LONGEST_CALL_WAIT = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    visibility_timeout: int
    time_limit: int
    soft_time_limit: int
    backoff_max: int
    restore_interval: int
    # How long kombu's lock on the sweep that brings back tasks of dead workers lives: a worker killed
    # while it sweeps holds the lock until then, and no task comes back meanwhile (kombu's own 300 s
    # would hold them back long past a short visibility timeout).
    restore_lock_seconds: int
    call_wait_budget: float = LONGEST_CALL_WAIT
    max_retries: int = MAX_RETRIES
    call_attempts: int = CALL_ATTEMPTS


def retry_policy(visibility_timeout: int) -> RetryPolicy:
    floor = min(SHORTEST_TIME_LIMIT, visibility_timeout // 2)
    time_limit = max(2, floor, min(LONGEST_TIME_LIMIT, visibility_timeout // 4))
    soft_time_limit = max(1, time_limit - max(1, time_limit // 10))
    return RetryPolicy(
        visibility_timeout=visibility_timeout,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        backoff_max=max(1, min(LONGEST_BACKOFF, visibility_timeout // 4)),
        restore_interval=max(1, min(10, visibility_timeout // 10)),
        restore_lock_seconds=max(5, min(300, visibility_timeout // 2)),
        call_wait_budget=max(0.5, min(LONGEST_CALL_WAIT, soft_time_limit / 20)),
    )
