"""Recording activity and issuing rewards: what the REST API, the Wix actions and the event rules
share. Plain functions over the store; they know nothing of HTTP or Celery."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis

from worker import keys
from worker.engine.logs import LogRejected, accept_log
from worker.engine.program import Program
from worker.engine.timestamps import utc_stamp
from worker.identifiers import InvalidIdentifier, check_identifier
from worker.store import coupon_codes, outbox
from worker.store.counted_updates import update_reward_log
from worker.store.progress import NoProgram, Outcome, ProgressStore

Kind = Literal["streak", "challenge"]


# Times the service takes: any real one, with room for every timezone's offset on either side.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True)
class ActivityRequest:
    kind: Kind
    item_id: str
    contact_id: str
    activity_id: str
    activity_value: Any
    activity_at: datetime
    unique_identifier: str


def parse_moment(value: Any, field: str) -> datetime:
    """An ISO-8601 instant with its offset, or LogRejected naming the field."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise LogRejected(f"{field} is not an ISO-8601 time: {value!r}") from None
    else:
        raise LogRejected(f"{field} is required")
    if moment.tzinfo is None:
        raise LogRejected(f"{field} must include a timezone offset")
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) <= LATEST
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        in_range = False
    if not in_range:
        raise LogRejected(f"{field} must be between {utc_stamp(EARLIEST)} and {utc_stamp(LATEST)}")
    return moment


def record_activity(
    store: ProgressStore,
    instance_id: str,
    request: ActivityRequest,
    now: datetime,
    also_intents: Sequence[outbox.Intent] = (),
    program: Program | None = None,
) -> Outcome:
    """Record one log against the instance's program (`program` when the caller has read it already);
    LogRejected says why it cannot count. `also_intents` are committed with the log (ProgressStore.record)."""
    try:
        check_identifier(request.contact_id, "contactId")
        check_identifier(request.activity_id, "activityId", 100)
        check_identifier(request.unique_identifier, "uniqueIdentifier", 300)
    except InvalidIdentifier as exc:
        raise LogRejected(str(exc)) from None
    if program is None:
        try:
            program = store.program(instance_id)
        except NoProgram:
            raise LogRejected("the instance has no program yet") from None
    item = program.streak(request.item_id) if request.kind == "streak" else program.challenge(request.item_id)
    if item is None:
        raise LogRejected(f"no {request.kind} with id {request.item_id!r}")
    log = accept_log(
        item,
        contact_id=request.contact_id,
        activity_id=request.activity_id,
        activity_value=request.activity_value,
        activity_at=request.activity_at,
        unique_identifier=request.unique_identifier,
        now=now,
    )
    return store.record(instance_id, program, item, log, now, also_intents)


def issue_reward(
    client: redis.Redis,
    instance_id: str,
    reward_log_id: str,
    *,
    coupon_code: str,
    issued_at: datetime,
    expiry_at: datetime,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Mark a reward log issued with its coupon code; the same values again change nothing (False),
    another code on an issued log is a Conflict."""
    try:
        check_identifier(reward_log_id, "rewardLogId")
    except InvalidIdentifier as exc:
        raise LogRejected(str(exc)) from None
    if not coupon_code or len(coupon_code) > coupon_codes.MAX_CODE_LENGTH:
        raise LogRejected(f"couponCode must be 1 to {coupon_codes.MAX_CODE_LENGTH} characters")
    if expiry_at <= issued_at:
        raise LogRejected("rewardExpiryAt must be after rewardIssuedAt")
    store = ProgressStore(client)
    key = store.reward_log_key(instance_id, reward_log_id)
    contact_id = store.reward_owner(instance_id, reward_log_id)
    if key is None or contact_id is None:
        raise NotFound(f"no reward log {reward_log_id}")
    # `reward_issued` is reported once: its intent is committed with the change (worker/store/outbox.py).
    member_outbox = keys.member_outbox(instance_id, contact_id)
    intents = [outbox.report_intent(instance_id, outbox.REWARD_ISSUED, reward_log_id)]
    outbox.index(client, member_outbox, time.time())
    wanted = {
        "couponCode": coupon_code,
        "rewardIssuedAt": utc_stamp(issued_at),
        "rewardExpiryAt": utc_stamp(expiry_at),
    }

    def issue(reward_log: dict[str, Any]) -> dict[str, Any] | None:
        if reward_log["status"] == "revoked":  # its order was cancelled (worker/rewards/reversal.py)
            return None
        if reward_log["status"] in ("issued", "redeemed"):  # a redeemed coupon is never issued again
            if all(reward_log.get(field) == value for field, value in wanted.items()):
                return None
            raise Conflict(f"reward log {reward_log_id} was already issued with another coupon")
        return {**reward_log, **wanted, "status": "issued", "updatedAt": utc_stamp(now)}

    def also(pipe: Any) -> None:
        outbox.add(pipe, member_outbox, intents, time.time())

    # Outside the member's slot, so before the MULTI: a log issued with a code is found by it; a redemption
    # checks the log's own `couponCode` (worker/store/coupon_codes.py).
    coupon_codes.claim(client, instance_id, coupon_code, contact_id, reward_log_id)
    reward_log, changed = update_reward_log(client, key, issue, instance_id=instance_id, now=now, also=also)
    if reward_log is None:
        raise NotFound(f"no reward log {reward_log_id}")
    return reward_log, changed
