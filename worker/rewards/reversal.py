"""Cancellations and refunds: an order cancelled (`order_canceled`) or refunded in full (`order_refunded`)
takes back what it earned (docs/programs.md "Cancellations and refunds").

- Points: what the order's points rules actually earned in Wix (recorded by the earn task, after any
  cap or multiplier, in the order's ledger: worker/store/order_reversals.py) is taken back with one
  negative adjustment keyed by the order (`rewards.reverse_points`). An earn that lands after the
  cancellation is covered by its own adjustment as it lands. The adjustment never takes the balance below
  zero, and is made once: Wix's adjust-points has no idempotency key, so the description carries a
  marker of the adjustment and a retry after a lost answer first looks for it among the account's
  newest transactions. `points_reversed` is reported once per order.
- Logs: the order's streak and challenge logs (their uniqueIdentifiers name the order or its checkout,
  worker/events/rules.py) are voided, so progress is computed without them; an order event, or the
  `checkout_completed` of the order's checkout, recorded after the cancellation (webhooks out of order)
  is voided as it is processed.
- Rewards: kept, or with the program's `onCancel: revoke` the unredeemed ones those logs earned become
  `revoked` and a coupon is deleted in Wix (`rewards.revoke_reward`).

The end state is the same whichever order the paid and the cancel webhooks arrive in, and however
often: each step is keyed by the order and committed with its task's intent (worker/store/outbox.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any, Literal

import redis

from worker import keys
from worker.dispatch import REVERSE_POINTS, REVOKE_REWARD, Dispatcher, queue_of
from worker.engine.program import Program, ProgramInvalid
from worker.engine.timestamps import utc_stamp
from worker.identifiers import identifier_problem
from worker.loyalty.points_gate import points_wait_reason
from worker.loyalty.points_rules import PointsEarn
from worker.rewards.fulfilment import coupon_code
from worker.store import order_reversals, outbox
from worker.store.counted_updates import update_reward_log
from worker.store.progress import NoProgram, ProgressStore
from worker.wix.client import WixApiError, WixClient, WixTransientError, transaction_app_id
from worker.wix.events import NormalizedEvent

logger = logging.getLogger(__name__)

REVERSING = {"order_canceled": "canceled", "order_refunded": "refunded"}
ORDER_EVENTS = ("order_approved", "order_paid", "order_fulfilled")
# Points rules earn by the order for order events and by the checkout for `checkout_completed`
# (worker/loyalty/points_rules.py: `wrw:{event}:{entity}:{rule}`).
EARN_ENTITY_EVENTS = (*ORDER_EVENTS, "checkout_completed", *REVERSING)
ADJUST_ATTEMPTS = 5
RECENT_TRANSACTIONS = 20
REVOCABLE = ("pending", "failed", "issued")  # not redeemed, expired or revoked already

Why = Literal["canceled", "refunded"]


# --- the event: mark the order reversed, void its logs, revoke its rewards ---------------------------


def reverse_order(
    client: redis.Redis, follow_ups: Dispatcher | None, event: NormalizedEvent, now: datetime
) -> str | None:
    """For `order_canceled` / `order_refunded`: take the order's points back, void its logs and revoke
    its rewards (onCancel: revoke). For another event of an order already reversed: void what it just
    recorded. Answers what was reversed, for the event's journal (None: nothing to do). Safe to repeat."""
    order, contact_id = event.order, event.contactId
    if not contact_id or identifier_problem(contact_id) is not None:
        return None
    if order is None:
        return _void_a_late_checkout(client, follow_ups, event, contact_id, now)
    entities = [e for e in (order.id, order.checkoutId) if e and identifier_problem(e) is None]
    if not entities or entities[0] != order.id:
        return None
    instance_id = event.instanceId
    words: list[str] = []
    why = REVERSING.get(event.name)
    if why is not None:
        points = _cover_points(client, follow_ups, instance_id, contact_id, order.id, entities, why)
        words.append(
            f"order {why}: " + (f"{points} points to take back" if points else "no points to take back now")
        )
    elif event.name in ORDER_EVENTS and order_reversals.is_reversed(
        client, instance_id, contact_id, order.id
    ):
        words.append("the order was cancelled or refunded before")
    else:
        return None
    return "; ".join(
        words + _void_and_revoke(client, follow_ups, instance_id, contact_id, order.id, order.checkoutId, now)
    )


def _void_a_late_checkout(
    client: redis.Redis, follow_ups: Dispatcher | None, event: NormalizedEvent, contact_id: str, now: datetime
) -> str | None:
    """A `checkout_completed` processed after its order was cancelled or refunded (webhooks out of order;
    the cancellation marked the checkout's ledger too, the order naming its checkout): what it just
    recorded is voided, and its rewards revoked with `onCancel: revoke`, as for a late order event."""
    checkout = event.checkout
    if event.name != "checkout_completed" or checkout is None or identifier_problem(checkout.id) is not None:
        return None
    instance_id = event.instanceId
    try:  # the event's program, read once per event (no round trip here)
        program = ProgressStore(client).program(instance_id)
    except (NoProgram, ProgramInvalid):
        return None
    if not any(rule.on == "checkout_completed" for rule in program.rules):
        return None  # it recorded no log; its points, if any, are covered as they land (the ledger)
    if not order_reversals.is_reversed(client, instance_id, contact_id, checkout.id):
        return None
    order_id, _ = order_reversals.reversal_of(client, instance_id, contact_id, checkout.id, checkout.id, "")
    words = ["the checkout's order was cancelled or refunded before"]
    return "; ".join(
        words + _void_and_revoke(client, follow_ups, instance_id, contact_id, order_id, checkout.id, now)
    )


def _void_and_revoke(
    client: redis.Redis,
    follow_ups: Dispatcher | None,
    instance_id: str,
    contact_id: str,
    order_id: str,
    checkout_id: str | None,
    now: datetime,
) -> list[str]:
    """The order's (and its checkout's) logs voided and, with `onCancel: revoke`, the rewards they earned
    revoked; the words for the event's journal."""
    try:
        program: Program | None = ProgressStore(client).program(instance_id)
    except (NoProgram, ProgramInvalid):
        program = None
    if program is None:
        return []
    voided = _void_logs(client, instance_id, contact_id, order_id, checkout_id, program)
    words = [f"logs voided: {', '.join(voided)}" if voided else "no logs to void"]
    if program.onCancel == "revoke":
        revoked = revoke_rewards(client, follow_ups, instance_id, contact_id, order_id, now)
        words.append(f"rewards revoked: {', '.join(revoked)}" if revoked else "no rewards to revoke")
    else:
        words.append("rewards kept (onCancel: keep)")
    return words


def _cover_points(
    client: redis.Redis,
    follow_ups: Dispatcher | None,
    instance_id: str,
    contact_id: str,
    order_id: str,
    entities: list[str],
    why: str,
) -> int:
    adjustment_id = f"order:{order_id}"
    intent = reverse_intent(instance_id, contact_id, order_id, order_id, adjustment_id, why)
    points = order_reversals.reverse(
        client, instance_id, contact_id, entities, adjustment_id=adjustment_id, intent=intent, why=why,
        now=time.time(),
    )  # fmt: skip
    if points and follow_ups is not None:
        _send(follow_ups, intent)
    return points


def _send(follow_ups: Dispatcher, intent: outbox.Intent) -> None:
    """Send a committed intent's task now; never fails the caller (the relay sends what is left)."""
    try:
        follow_ups.resend(intent.task, intent.kwargs, intent.queue)
    except Exception:
        logger.exception("could not send a reversal task", extra={"task": intent.task})


def reverse_intent(
    instance_id: str, contact_id: str, order_id: str, entity_id: str, adjustment_id: str, why: str
) -> outbox.Intent:
    kwargs = {
        "instance_id": instance_id,
        "contact_id": contact_id,
        "order_id": order_id,
        "entity_id": entity_id,
        "adjustment_id": adjustment_id,
        "why": why,
    }
    return outbox.Intent(f"reverse:{adjustment_id}", REVERSE_POINTS, kwargs, queue_of(REVERSE_POINTS))


def _void_logs(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    order_id: str,
    checkout_id: str | None,
    program: Program,
) -> list[str]:
    prefixes = (f"wix:order:{order_id}:", *((f"wix:checkout:{checkout_id}:",) if checkout_id else ()))
    states = {
        **{
            f"streak:{s.id}": keys.member_state(instance_id, contact_id, "streak", s.id)
            for s in program.streaks
        },
        **{
            f"challenge:{c.id}": keys.member_state(instance_id, contact_id, "challenge", c.id)
            for c in program.challenges
        },
    }
    voided = order_reversals.void_member_logs(
        client, instance_id, contact_id, order_id, states, lambda uid: uid.startswith(prefixes)
    )
    return [str(log["uniqueIdentifier"]) for log in voided]


# --- rewards: revoked with `onCancel: revoke` ------------------------------------------------------


def revoke_intent(instance_id: str, reward_log_id: str) -> outbox.Intent:
    kwargs = {"instance_id": instance_id, "reward_log_id": reward_log_id}
    return outbox.Intent(f"revoke:{reward_log_id}", REVOKE_REWARD, kwargs, queue_of(REVOKE_REWARD))


def revoke_rewards(
    client: redis.Redis,
    follow_ups: Dispatcher | None,
    instance_id: str,
    contact_id: str,
    order_id: str,
    now: datetime,
) -> list[str]:
    """Revoke each unredeemed reward log the order's voided logs earned: `revoked` and, for a coupon, the
    task that deletes it in Wix committed in the same MULTI. Answers the reward logs revoked now."""
    store = ProgressStore(client)
    reward_ids: list[str] = []
    for uid in order_reversals.voided_identifiers(client, instance_id, contact_id, order_id):
        answer = order_reversals.original_answer(client, instance_id, contact_id, uid) or {}
        reward_ids += [r["id"] for r in answer.get("achievedMilestoneRewardLogs") or [] if r.get("id")]
    member_outbox = keys.member_outbox(instance_id, contact_id)
    revoked = []
    for reward_log_id in dict.fromkeys(reward_ids):
        key = store.reward_log_key(instance_id, reward_log_id)
        if key is None:
            continue
        intent = revoke_intent(instance_id, reward_log_id)
        outbox.index(client, member_outbox, time.time())

        def revoke(reward_log: dict[str, Any]) -> dict[str, Any] | None:
            if reward_log["status"] not in REVOCABLE:
                return None
            stamp = utc_stamp(now)
            return {**reward_log, "status": "revoked", "revokedAt": stamp, "updatedAt": stamp}

        def also(pipe: Any, intent: outbox.Intent = intent) -> None:
            outbox.add(pipe, member_outbox, [intent], time.time())

        reward_log, changed = update_reward_log(
            client, key, revoke, instance_id=instance_id, now=now, also=also
        )
        if changed and reward_log is not None:
            revoked.append(reward_log_id)
            if follow_ups is not None:
                _send(follow_ups, intent)
    return revoked


def delete_reward_coupon(wix: WixClient, client: redis.Redis, instance_id: str, reward_log_id: str) -> int:
    """Delete in Wix the coupon of a revoked reward log (its code is derived from the reward log, so a
    coupon made by a fulfilment still under way is found too); answers how many were deleted."""
    reward_log = ProgressStore(client).reward_log(instance_id, reward_log_id)
    if reward_log is None or reward_log["status"] != "revoked":
        return 0
    if (reward_log.get("reward") or {}).get("type") != "coupon":
        return 0
    code = reward_log.get("couponCode") or coupon_code(reward_log_id)
    return sum(
        wix.delete_coupon(instance_id, str(c["id"])) for c in wix.query_coupons_by_code(instance_id, code)
    )


# --- points: recorded as earned, taken back once --------------------------------------------------


def earn_entity(earn: PointsEarn) -> str | None:
    """The order or checkout a points rule's earn was for (its idempotency key names it), else None."""
    parts = earn.idempotency_key.split(":")
    if len(parts) < 4 or parts[0] != "wrw" or parts[1] not in EARN_ENTITY_EVENTS:
        return None
    entity = ":".join(parts[2:-1])
    return entity if identifier_problem(entity) is None else None


def record_earned(
    client: redis.Redis, follow_ups: Dispatcher | None, instance_id: str, earn: PointsEarn
) -> int:
    """After Wix earned a points rule's points: record them in the order's ledger; when the order was
    cancelled or refunded meanwhile, commit and send the adjustment that takes them back. Answers the
    points to take back (0 mostly)."""
    entity = earn_entity(earn)
    if entity is None or identifier_problem(earn.contact_id) is not None:
        return 0
    adjustment_id = f"earn:{earn.idempotency_key}"
    # The order id is the entity for an order's earn; a checkout's earn names the checkout.
    intent = reverse_intent(instance_id, earn.contact_id, entity, entity, adjustment_id, "canceled")
    points = order_reversals.record_earn(
        client, instance_id, earn.contact_id, entity, earn_key=earn.idempotency_key, points=earn.points,
        adjustment_id=adjustment_id, intent=intent, now=time.time(),
    )  # fmt: skip
    if points and follow_ups is not None:
        _send(follow_ups, intent)
    return points


def _marker(instance_id: str, adjustment_id: str) -> str:
    return "#rv-" + hashlib.sha256(f"{instance_id}\n{adjustment_id}".encode()).hexdigest()[:12]


def take_back_points(
    wix: WixClient,
    client: redis.Redis,
    *,
    instance_id: str,
    contact_id: str,
    order_id: str,
    entity_id: str,
    adjustment_id: str,
    why: str,
) -> dict[str, Any]:
    """Make one adjustment (at most the member's balance), once; answers its outcome `{"points",
    "requested", ...}`. Wix errors propagate: transient ones are retried by the task."""
    requested, done = order_reversals.adjustment(client, instance_id, contact_id, entity_id, adjustment_id)
    if done is not None:
        return done
    # A checkout's late earn: the cancellation noted the order (and why) in the checkout's ledger.
    order_id, why = order_reversals.reversal_of(client, instance_id, contact_id, entity_id, order_id, why)
    if (reason := points_wait_reason(client, instance_id)) is not None:  # Wix refuses points meanwhile
        raise WixTransientError(reason, retry_after=60.0, maybe_done=False)
    marker = _marker(instance_id, adjustment_id)
    description = f"Order {why}: points taken back {marker}"
    outcome: dict[str, Any] | None = None
    for _ in range(ADJUST_ATTEMPTS):
        account = wix.get_loyalty_account_by_contact(instance_id, contact_id) if requested > 0 else None
        if account is None:
            outcome = {"points": 0, "requested": requested, "note": "nothing to take back"}
            break
        account_id, revision = str(account["id"]), str(account.get("revision"))
        tried = order_reversals.adjustment_try(client, instance_id, contact_id, entity_id, adjustment_id)
        if tried is not None and tried.get("revision") != revision:  # an earlier try may have landed
            made = _made_earlier(wix, instance_id, account_id, marker)
            if made is not None:
                outcome = {"points": -int(made.get("amount") or 0), "requested": requested}
                break
        balance = int((account.get("points") or {}).get("balance") or 0)
        points = min(requested, balance)
        if points <= 0:
            outcome = {"points": 0, "requested": requested, "note": "the balance is spent"}
            break
        order_reversals.set_adjustment_state(
            client, instance_id, contact_id, entity_id, adjustment_id, {"revision": revision}, done=False
        )
        try:
            wix.adjust_points(
                instance_id, account_id, revision=revision, amount=-points, description=description
            )
        except WixApiError:
            # A stale revision (or a balance spent meanwhile): read the account again, unless it has not
            # changed, in which case the refusal is for good.
            fresh = wix.get_loyalty_account_by_contact(instance_id, contact_id)
            if fresh is not None and str(fresh.get("revision")) == revision:
                raise
            continue
        outcome = {"points": points, "requested": requested}
        break
    if outcome is None:
        raise WixTransientError(
            f"the loyalty account kept changing ({ADJUST_ATTEMPTS} stale revisions in a row)"
        )
    outcome["orderId"] = order_id
    order_reversals.set_adjustment_state(
        client, instance_id, contact_id, entity_id, adjustment_id, outcome, done=True
    )
    return outcome


def _made_earlier(wix: WixClient, instance_id: str, account_id: str, marker: str) -> dict[str, Any] | None:
    """Our adjustment with this marker among the account's newest transactions, if it landed."""
    for transaction in wix.query_loyalty_transactions(instance_id, account_id, limit=RECENT_TRANSACTIONS):
        if (
            transaction.get("transactionType") == "ADJUST"
            and transaction_app_id(transaction) == wix.app_id
            and marker in str(transaction.get("description") or "")
        ):
            return transaction
    return None
