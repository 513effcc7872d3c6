"""Points for custom activities (`pointsRules[].activity`, worker/loyalty/points_rules.py).

Two ways in, one rule: a streak or challenge log recorded through the records API or the Execute
actions (`record_log`), and an activity recorded on its own through `POST /v1/activities`
(`record_custom_activity`), for what should earn points without feeding a streak or a challenge.

Either way the earns' intents are committed in the same atomic step as what records the activity (the
log, or the activity's mark), into the member's outbox (worker/store/outbox.py), and sent right after;
a retry of the request (a duplicate) sends again at once what no worker took, and the relay sends what
a crash left. The earns' idempotency keys come from the activity's uniqueIdentifier, so recorded once
is earned once. A paused member earns nothing; while the site's Wix loyalty program is not ACTIVE the
earns are parked instead (worker/loyalty/points_gate.py).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher
from worker.engine.logs import LogRejected
from worker.engine.program import Program
from worker.engine.timestamps import utc_stamp
from worker.identifiers import InvalidIdentifier, check_identifier, identifier_problem
from worker.loyalty.earn_limits import limit_earns
from worker.loyalty.points_gate import park_earns, points_wait_reason
from worker.loyalty.points_limits import Activity
from worker.loyalty.points_rules import PointsEarn, activity_points
from worker.progress.record import ActivityRequest, record_activity
from worker.store import outbox
from worker.store.member_status import status_of
from worker.store.progress import Contention, NoProgram, Outcome, ProgressStore

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20  # WATCH retries of record_custom_activity under contention on the member


def send_earns(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    earns: list[PointsEarn],
    *,
    duplicate: bool,
    waiting: bool,
) -> None:
    """After the earns' intents were committed: send them (a duplicate: what no worker took yet), or
    park them while points wait. Never fails the caller (the relay sends what is left)."""
    if not earns:
        return
    if waiting:
        park_earns(client, instance_id, earns)
        return
    contact_id = earns[0].contact_id
    if duplicate:
        ids = [outbox.earn_intent_id(earn.idempotency_key) for earn in earns]
        outbox.resend_pending(
            client, keys.member_outbox(instance_id, contact_id), ids, follow_ups.resend, time.time()
        )
        return
    outbox.crash_after_commit_for_tests()
    try:
        follow_ups.earn(instance_id, earns)
    except Exception:  # the intents are in the member's outbox: the relay sends them
        logger.exception("could not send an activity's points", extra={"count": len(earns)})


def record_log(
    client: redis.Redis, follow_ups: Dispatcher, instance_id: str, request: ActivityRequest, now: datetime
) -> Outcome:
    """Record a streak or challenge log (worker.progress.record) with the points its activity earns (none
    for identifiers the recording refuses: it says why)."""
    store = ProgressStore(client)
    try:
        program: Program | None = store.program(instance_id)
    except NoProgram:
        program = None  # the recording refuses it
    earns = []
    valid = not identifier_problem(request.contact_id) and not identifier_problem(
        request.unique_identifier, 300
    )
    if program is not None and valid:
        earns = activity_points(
            program, instance_id, request.contact_id, request.activity_id, request.unique_identifier
        )
    if earns and program is not None and status_of(client, instance_id, request.contact_id) == "live":
        # caps, budgets and multipliers, granted once per earn (a paused member's would not be sent)
        earns, _ = limit_earns(client, program, Activity(instance_id, request.activity_at), earns)
    waiting = bool(earns) and points_wait_reason(client, instance_id) is not None
    intents = [] if waiting else [outbox.earn_intent(instance_id, asdict(earn)) for earn in earns]
    outcome = record_activity(store, instance_id, request, now, intents, program=program)
    if outcome.answer.get("reason") != "paused":
        send_earns(client, follow_ups, instance_id, earns, duplicate=outcome.duplicate, waiting=waiting)
    return outcome


def record_custom_activity(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    *,
    contact_id: str,
    activity_id: str,
    unique_identifier: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Record an activity that feeds no streak or challenge (`POST /v1/activities`): the answer and
    whether it is a duplicate (the original answer, unchanged). LogRejected for bad identifiers or an
    instance without a program."""
    try:
        check_identifier(contact_id, "contactId")
        check_identifier(activity_id, "activityId", 100)
        check_identifier(unique_identifier, "uniqueIdentifier", 300)
    except InvalidIdentifier as exc:
        raise LogRejected(str(exc)) from None
    try:
        program = ProgressStore(client).program(instance_id)
    except NoProgram:
        raise LogRejected("the instance has no program yet") from None
    mark = keys.member_activity_earned(instance_id, contact_id, unique_identifier)
    status_key = keys.member_status(instance_id, contact_id)
    member_outbox = keys.member_outbox(instance_id, contact_id)
    waiting = points_wait_reason(client, instance_id) is not None
    with client.pipeline() as pipe:
        for _ in range(MAX_ATTEMPTS):
            try:
                pipe.watch(mark, status_key)  # type: ignore[no-untyped-call]
                original = pipe.get(mark)
                if original:
                    pipe.reset()
                    answer = json.loads(original)  # type: ignore[arg-type]
                    send_earns(
                        client, follow_ups, instance_id, _answered(answer), duplicate=True, waiting=waiting
                    )
                    return answer, True
                paused = pipe.get(status_key) == "paused"
                earns = (
                    []
                    if paused
                    else activity_points(program, instance_id, contact_id, activity_id, unique_identifier)
                )
                earns, _ = limit_earns(client, program, Activity(instance_id, now), earns)  # once per earn
                intents = [] if waiting else [outbox.earn_intent(instance_id, asdict(e)) for e in earns]
                if intents:
                    outbox.index(client, member_outbox, time.time())
                answer = {
                    "activityId": activity_id,
                    "contactId": contact_id,
                    "uniqueIdentifier": unique_identifier,
                    "recordedAt": utc_stamp(now),
                    "points": [asdict(earn) for earn in earns],
                }
                pipe.multi()
                pipe.set(mark, json.dumps(answer))
                outbox.add(pipe, member_outbox, intents, time.time())
                pipe.execute()
                break
            except redis.WatchError:
                continue
        else:
            raise Contention(f"could not record activity {unique_identifier} after {MAX_ATTEMPTS} attempts")
    send_earns(client, follow_ups, instance_id, earns, duplicate=False, waiting=waiting)
    return answer, False


def _answered(answer: dict[str, Any]) -> list[PointsEarn]:
    return [PointsEarn(**earn) for earn in answer.get("points") or []]
