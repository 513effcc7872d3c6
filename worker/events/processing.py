"""What the worker does with one webhook event: normalize it, apply the instance's program rules through
the engine, and record the outcome in the journal.

Safe to run again at any point. A settled event is left alone. A run that stopped after recording some
of its logs and before settling records them again: the store answers each as a duplicate of itself, and
a claim (the id of the event that first produced a uniqueIdentifier) tells "my own earlier attempt" from
"another webhook about the same order", so the journal ends as if the first run had finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.dispatch import Dispatcher, queue_of
from worker.engine.logs import LogRejected
from worker.engine.program import ProgramInvalid, Rule
from worker.events.first_look import first_look
from worker.events.rules import PlannedLog, SkippedRule, plan_logs, rule_target
from worker.installs.lifecycle import admit_event
from worker.loyalty.earn_limits import limit_earns
from worker.loyalty.earning import ProductLookup, event_earns
from worker.loyalty.points_gate import (
    earn_gates,
    park_earns,
    record_program_status,
    release_waiting,
)
from worker.members.erasure import erase_on_request
from worker.progress.record import record_activity
from worker.rewards.automation_triggers import report_order_event
from worker.rewards.follow_ups import fulfil_new_rewards
from worker.rewards.order_counts import count_order
from worker.rewards.redemption import redeem_order_coupons
from worker.rewards.referral_rewards import on_order_event
from worker.rewards.reversal import reverse_order
from worker.rewards.tier_changes import follow_tier
from worker.settings import Settings
from worker.store import outbox
from worker.store.journal import EventJournal
from worker.store.progress import NoProgram, ProgressStore, one_program_read
from worker.sync.member_directory import apply_contact_event
from worker.sync.points import forward_points_update
from worker.wix.events import EventIgnored, InvalidEvent, NormalizedEvent, normalize, resolve_fulfilment

logger = logging.getLogger(__name__)

NO_PROGRAM = "the instance has no program yet: no rules applied"


def process_event(
    journal: EventJournal,
    client: redis.Redis,
    *,
    event_type: str,
    instance_id: str,
    event_id: str,
    data: str,
    our_app_id: str | None,
    claim_ttl_seconds: int,
    received_at: str | None = None,
    now: datetime | None = None,
    follow_ups: Dispatcher | None = None,
    order_lookup: Callable[[str, str], dict[str, Any] | None] | None = None,
    product_lookup: ProductLookup | None = None,
    sync_defaults: Settings | None = None,
) -> str:
    """Normalize the event, apply the rules and settle its journal record; an event already settled is
    left alone. Redis errors propagate (the task retries); what the domain refuses is recorded. A points
    change goes out to the instance's external system (its site settings over `sync_defaults`, the
    environment's; None: no outbound sync) unless it is ours."""
    payload, event, refused = _read(event_type, instance_id, event_id, data, our_app_id, received_at)
    look = first_look(client, instance_id, event_id, event.contactId if event is not None else None)
    if look.settled:
        logger.info("event already settled; nothing to do")
        return "already_settled"
    with one_program_read(look.programs):  # the program read above serves every step of this event
        try:
            if not isinstance(payload, dict):
                raise refused or InvalidEvent("the event payload is not a JSON object")
            known = (event.contactId if event is not None else None, look.contact_deleted)
            if erased := erase_on_request(
                journal, client, payload, event_type, instance_id, event_id, our_app_id, known
            ):
                return erased  # contact_deleted, an anonymize request, or an event about an erased contact
            if event is None:
                raise refused or InvalidEvent("the event could not be read")
            # the instance registry; a removed site's events are ignored
            admit_event(client, event, follow_ups, look.instance_status)
            if event.needsOrderLookup and event.order is not None and order_lookup is not None:
                event = resolve_fulfilment(event, order_lookup(instance_id, event.order.id))
                claim = keys.order_fulfilled(instance_id, event.order.id)  # type: ignore[union-attr]
                first = first_claim(client, claim, event_id, claim_ttl_seconds)
                if first != event_id:
                    raise EventIgnored(f"order_fulfilled was emitted for this order by event {first}")
        except EventIgnored as exc:
            journal.settle(instance_id, event_id, "ignored", event_type=event_type, reason=str(exc))
            logger.info("event ignored", extra={"reason": str(exc)})
            return "ignored"
        except (InvalidEvent, ValueError) as exc:
            journal.settle(instance_id, event_id, "failed", event_type=event_type, error=str(exc))
            logger.warning("event payload is not usable", extra={"error": str(exc)})
            return "failed"
        return _apply(
            journal,
            client,
            event,
            payload,
            event_type=event_type,
            our_app_id=our_app_id,
            claim_ttl_seconds=claim_ttl_seconds,
            now=now,
            follow_ups=follow_ups,
            product_lookup=product_lookup,
            sync_defaults=sync_defaults,
        )


def _read(
    event_type: str,
    instance_id: str,
    event_id: str,
    data: str,
    our_app_id: str | None,
    received_at: str | None,
) -> tuple[Any, NormalizedEvent | None, Exception | None]:
    """The payload (None when it is not JSON), the normalized event (None when it is refused) and why
    not: kept to be raised where `process_event` decides, after the first look and the erasure check."""
    try:
        payload = json.loads(data)
    except ValueError as exc:
        return None, None, exc
    if not isinstance(payload, dict):
        return payload, None, None
    try:
        event = normalize(
            event_type=event_type,
            instance_id=instance_id,
            event_id=event_id,
            payload=payload,
            our_app_id=our_app_id,
            received_at=received_at,
        )
    except (EventIgnored, InvalidEvent, ValueError) as exc:
        return payload, None, exc
    return payload, event, None


def _apply(
    journal: EventJournal,
    client: redis.Redis,
    event: NormalizedEvent,
    payload: dict[str, Any],
    *,
    event_type: str,
    our_app_id: str | None,
    claim_ttl_seconds: int,
    now: datetime | None,
    follow_ups: Dispatcher | None,
    product_lookup: ProductLookup | None,
    sync_defaults: Settings | None,
) -> str:
    """The rules, the order's effects, the follow-ups and the settled record of an admitted event."""
    instance_id, event_id = event.instanceId, event.eventId
    normalized = event.model_dump(mode="json")
    reason: str | None = None
    if event.contact is not None:  # contact_created|updated|deleted keep the points sync's mapping current
        apply_contact_event(client, event)
    if event.account is not None and event.account.contactId:  # the member's points changed in Wix
        client.delete(keys.loyalty_account_copy(instance_id, event.account.contactId))
    if event.program is not None:  # the program's name, status or expiration changed
        client.delete(keys.loyalty_program_copy(instance_id))
    try:
        entries = apply_rules(
            ProgressStore(client),
            client,
            event,
            now=now or datetime.now(UTC),
            claim_ttl_seconds=claim_ttl_seconds,
        )
    except NoProgram:
        entries, reason = [], NO_PROGRAM
    except ProgramInvalid as exc:
        error = f"the instance's stored program is not valid: {exc}"
        journal.settle(
            instance_id, event_id, "failed", event_type=event_type, normalized=normalized, error=error
        )
        logger.warning("the stored program is not valid", extra={"error": str(exc)})
        return "failed"
    # A cancelled or refunded order takes back what it earned; an event of such an order is voided too.
    reason = reverse_order(client, follow_ups, event, now or datetime.now(UTC)) or reason
    # Whatever the program: a paid order's reward coupons are redeemed (once; a re-run changes nothing).
    redeem_order_coupons(client, event, now or datetime.now(UTC))
    count_order(client, event, now or datetime.now(UTC))  # once per order id, for the analytics
    on_order_event(client, event, payload, now or datetime.now(UTC))  # referrals: decided, or dropped
    capped: list[str] = []  # why a points rule's earn was cut (worker/loyalty/earn_limits.py)
    if follow_ups is not None:
        # Before settling: a crash in between sends them again on the re-run (fulfilment is idempotent).
        store = ProgressStore(client)
        reward_logs = store.reward_logs(
            instance_id, [reward_id for entry in entries for reward_id in entry.get("rewardLogIds", [])]
        )
        fulfil_new_rewards(follow_ups, instance_id, [r for r in reward_logs if r is not None])
        report_order_event(client, follow_ups, event)  # order_paid, order_fulfilled: once per order
        with contextlib.suppress(NoProgram, ProgramInvalid):
            program = store.program(instance_id)
            earns = event_earns(client, event, program, product_lookup)
            # One round trip: each earner's status and the Wix program's (the points gate's).
            statuses, wait_reason = earn_gates(client, instance_id, [earn.contact_id for earn in earns])
            earns = [earn for earn, status in zip(earns, statuses, strict=True) if status == "live"]
            earns, capped = limit_earns(client, program, event, earns)  # caps, budgets, multipliers
            if wait_reason:
                park_earns(client, instance_id, earns)
            else:
                sent_at = time.time()  # the relay's clock
                for earn in earns:  # the intent first: a message lost on its way is relayed
                    key = keys.member_outbox(instance_id, earn.contact_id)
                    outbox.put(client, key, [outbox.earn_intent(instance_id, asdict(earn))], sent_at)
                follow_ups.earn(instance_id, earns)
        follow_tier(client, follow_ups, event)  # tier_changed once per change of the member's Wix tier
        if event.account is not None:  # a points change goes to the external system unless it is ours
            forward_points_update(
                client,
                event,
                our_app_id=our_app_id,
                sync_defaults=sync_defaults,
                send=lambda task, kwargs: follow_ups.resend(task, kwargs, queue_of(task)),
            )
        status = event.program.status if event.program is not None else None
        if status:
            record_program_status(client, instance_id, status)
        if status == "ACTIVE":  # not only on the change: a re-run after a crash releases what still waits
            release_waiting(client, instance_id, follow_ups)
    journal.settle(
        instance_id,
        event_id,
        "processed",
        event_type=event_type,
        normalized=normalized,
        reason=reason or "; ".join(capped) or None,
        logs=entries,
    )
    logger.info("event processed", extra={"event": event.name, "logs": len(entries), "reason": reason})
    return "processed"


# SET NX, else the holder: one atomic step on one key (so any slot under Redis Cluster).
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return ARGV[1] end
return redis.call('GET', KEYS[1])
"""


def first_claim(client: redis.Redis, key: str, event_id: str, ttl_seconds: int) -> str | None:
    """Claim `key` for this event unless another event has; answers the event that holds it."""
    return first_claims(client, [key], event_id, ttl_seconds)[0]


def first_claims(
    client: redis.Redis, claim_keys: list[str], event_id: str, ttl_seconds: int
) -> list[str | None]:
    """`first_claim` for each key, in one round trip (each claim atomic on its own key)."""
    if not claim_keys:
        return []
    with client.pipeline(transaction=False) as pipe:
        for key in claim_keys:
            pipe.eval(_CLAIM, 1, key, event_id, str(ttl_seconds))
        holders = pipe.execute()
    return [holder if isinstance(holder, str) else None for holder in holders]


def apply_rules(
    store: ProgressStore,
    client: redis.Redis,
    event: NormalizedEvent,
    *,
    now: datetime,
    claim_ttl_seconds: int,
) -> list[dict[str, Any]]:
    """Record the logs the instance's rules make of the event; one journal entry per matching rule.
    NoProgram when the instance has none."""
    program = store.program(event.instanceId)
    plans = plan_logs(event, program)
    # Every log's claim at once, before any is recorded (a claim only names the first event to try it).
    logs = [planned for planned in plans if not isinstance(planned, SkippedRule)]
    claims = [keys.uid_source(event.instanceId, planned.request.unique_identifier) for planned in logs]
    holders = iter(first_claims(client, claims, event.eventId, claim_ttl_seconds))  # in the logs' order
    entries: list[dict[str, Any]] = []
    for planned in plans:
        if isinstance(planned, SkippedRule):
            entries.append({**_describe(planned.index, planned.rule), "reason": planned.reason})
        else:
            holder = next(holders)
            entries.append(_record(store, client, event, planned, holder, now, claim_ttl_seconds))
    return entries


def _describe(index: int, rule: Rule) -> dict[str, Any]:
    kind, item_id = rule_target(rule)
    return {"rule": index, "on": rule.on, kind: item_id, "activityId": rule.activityId}


def _record(
    store: ProgressStore,
    client: redis.Redis,
    event: NormalizedEvent,
    planned: PlannedLog,
    first_claimant: str | None,
    now: datetime,
    claim_ttl_seconds: int,
) -> dict[str, Any]:
    request = planned.request
    entry = {
        **_describe(planned.index, planned.rule),
        "uniqueIdentifier": request.unique_identifier,
        "activityValue": str(request.activity_value),
    }
    claim = keys.uid_source(event.instanceId, request.unique_identifier)
    try:
        outcome = record_activity(store, event.instanceId, request, now)
    except LogRejected as exc:
        return {**entry, "reason": str(exc)}
    if not outcome.duplicate:
        # Whoever applies the log owns it, even if an earlier claimant stopped before recording it.
        client.set(claim, event.eventId, ex=claim_ttl_seconds)
    elif first_claimant != event.eventId:
        by = f"event {first_claimant}" if first_claimant else "an earlier log"
        return {
            **entry,
            "applied": False,
            "duplicate": True,
            "achievedMilestones": [],
            "rewardLogIds": [],
            "reason": f"already counted by {by}",
        }
    # Applied now, or by this event's own earlier attempt: the (original) answer is this event's result.
    answer = outcome.answer
    result = {
        **entry,
        "applied": bool(answer.get("applied")),
        "duplicate": False,
        "achievedMilestones": [milestone["id"] for milestone in answer.get("achievedMilestones") or []],
        "rewardLogIds": [reward["id"] for reward in answer.get("achievedMilestoneRewardLogs") or []],
    }
    if answer.get("reason"):
        result["reason"] = answer["reason"]
    return result
