"""A paid order counted for the analytics (worker/store/stats.py), once per order id: in `orders`, and its
total as loyalty-driven revenue when its buyer was engaged at the moment of payment.

Engaged: the buyer had a streak run in progress, or had logged in a challenge window still open
(completed or not), judged from the logs that happened before the payment (so a re-run after a crash,
which sees this order's own log, judges the same; and the order that itself starts a streak is not
counted as driven by it).
"""

from __future__ import annotations

from datetime import datetime

import redis

from worker.engine.challenges import window_of
from worker.engine.program import ProgramInvalid
from worker.engine.streaks import streak_runs
from worker.identifiers import identifier_problem
from worker.rewards.redemption import paid_order
from worker.store import stats
from worker.store.progress import Kind, NoProgram, ProgressStore
from worker.wix.events import NormalizedEvent


def engaged(store: ProgressStore, instance_id: str, contact_id: str, moment: datetime) -> bool:
    """Whether the member had a streak alive or a challenge open (with their logs in it) at `moment`."""
    try:
        program = store.program(instance_id)
    except (NoProgram, ProgramInvalid):
        return False
    windows = [(challenge, window_of(challenge, moment, program.zone)) for challenge in program.challenges]
    open_windows = [(challenge, window) for challenge, window in windows if window is not None]
    items: list[tuple[Kind, str]] = [("streak", streak.id) for streak in program.streaks]
    items += [("challenge", challenge.id) for challenge, _ in open_windows]
    states = store.member_states(instance_id, contact_id, items)  # one round trip for all of them
    for streak, state in zip(program.streaks, states, strict=False):
        before = [log for log in state().logs if log.activityAt < moment]
        if before:
            runs, _ = streak_runs(before, streak, program.zone, moment)
            if any(run.status == "in_progress" for run in runs):
                return True
    for (_, window), state in zip(open_windows, states[len(program.streaks) :], strict=True):
        if any(window.start <= log.activityAt < moment for log in state().logs):
            return True
    return False


def count_order(client: redis.Redis, event: NormalizedEvent, now: datetime) -> bool:
    """Count the event's paid order once; True when this call counted it (False: not a paid order, or
    counted already)."""
    order = paid_order(event)
    if order is None:
        return False
    contact_id = event.contactId
    is_engaged = (
        contact_id is not None
        and identifier_problem(contact_id) is None
        and engaged(ProgressStore(client), event.instanceId, contact_id, event.occurredAt)
    )
    total = order.total
    return stats.count_paid_order(
        client,
        event.instanceId,
        order.id,
        total.amount if total is not None else None,
        total.currency if total is not None else None,
        is_engaged,
        now,
    )
