"""Two-way points sync with an external loyalty system, over Standard Webhooks (sync/standard_webhooks.py).

Each instance may have its own external system: its URL, secret and matching come from its site settings
(worker/store/site_settings.py), the environment's `EXTERNAL_SYNC_*` being the default for all.

Wix → external. A `points_updated` event becomes a signed POST to the instance's sync URL (task
`sync.push_points_update`, queue `rewards`): `{"type": "loyalty.points_updated", "timestamp", "data":
{instanceId, matchBy, email, contactId, externalId, account, transaction}}`. Its `webhook-id` is derived
from the instance and the Wix transaction id, so a redelivered event, a re-run task or a retry is the same
message; once the external system has answered 2xx the transaction is not sent again. Wix's published
account has no `latestTransaction` (wix-facts.md §8): an event without one is resolved by the push task,
which reads the account's recent transactions (`transactions_to_send`, the Loyalty Transactions query)
and sends each that is not ours and not yet delivered. Not sent, so no change travels back to where it
came from (no echo):
- a transaction whose `appId` (`earnInfo.appId` / `adjustInfo.appId`) is our `WIX_APP_ID` (the
  normalizer already ignores events whose `latestTransaction` says so);
- one whose id earn-points or adjust-points answered us (kept by WixClient for a week);
- one whose `idempotencyKey` we issued: a points rule's (`wrw:...`, worker/loyalty/points_rules.py), a points
  reward's (the reward log id, `rl_` + 24 hex digits, worker/rewards/fulfilment.py), or an inbound sync's
  (the external transaction id, recorded when it was accepted);
- one that inbound sync made (an adjustment: Wix's transaction id is recorded when Wix answers).

External → Wix. `POST /sync/v1/points` (worker/web/sync.py) verifies, validates, finds the contact
through the mapping (worker/sync/member_directory.py), records the transaction and queues
`sync.apply_external_points`, which earns positive amounts (`earn-points`, the external transaction id
as `idempotencyKey`: Wix itself refuses to earn twice) and adjusts the rest (`adjust-points` at the
account's `revision`, re-read and tried again when Wix refuses and the revision has moved). A
transaction id that is a Wix transaction we sent out is the external system echoing it back: it
changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import redis

from worker import keys
from worker.dispatch import APPLY_EXTERNAL_POINTS, PUSH_POINTS_UPDATE, queue_of
from worker.settings import Settings, SettingsError
from worker.store import outbox
from worker.store.site_settings import SiteSettings, site_settings_for
from worker.sync.member_directory import link_of, record_contact
from worker.sync.standard_webhooks import StandardWebhook
from worker.wix.client import (
    WixAlreadyExists,
    WixApiError,
    WixClient,
    WixTransientError,
    transaction_app_id,
)
from worker.wix.events import AccountInfo, NormalizedEvent, contact_email

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "loyalty.points_updated"
# Accepted webhook-ids are kept far longer than the five minutes a timestamp stays acceptable.
WEBHOOK_ID_TTL_SECONDS = 24 * 3600
# How often an adjustment is tried again at a fresh revision before the task retries later.
ADJUST_ATTEMPTS = 5
PUSH_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
# A points change that names no transaction: the account's transactions this long before it are read.
RESOLVE_WINDOW = timedelta(hours=1)
RESOLVE_LIMIT = 50

_REWARD_LOG_ID = re.compile(r"rl_[0-9a-f]{24}")
_POINTS_RULE_KEY_PREFIX = "wrw:"

Send = Callable[[str, dict[str, Any]], None]


class ExternalSyncUnavailable(Exception):
    """The external system did not take the message for now (timeout, network, 408, 429, 5xx)."""


class ExternalSyncRefused(Exception):
    """The external system refused the message for good (another 4xx): retrying will not help."""


def signer(site: SiteSettings) -> StandardWebhook:
    """The instance's secret, shared by both directions (its own, else EXTERNAL_SYNC_SECRET); SettingsError
    when it is missing or unusable. The message names where it comes from, never the secret."""
    where = (
        "the instance's sync secret" if site.sources.get("syncSecret") == "site" else "EXTERNAL_SYNC_SECRET"
    )
    if site.sync_secret is None:
        raise SettingsError(f"{where} is not set (a whsec_ secret the external system shares)")
    try:
        return StandardWebhook(site.sync_secret.get_secret_value())
    except ValueError as exc:
        raise SettingsError(f"{where} is not a usable whsec_ secret: {exc}") from None


def webhook_id_for(instance_id: str, wix_transaction_id: str) -> str:
    """The outbound `webhook-id`: the same for every delivery of one Wix transaction, and free of dots."""
    digest = hashlib.sha256(f"{instance_id}\n{wix_transaction_id}".encode()).hexdigest()
    return f"msg_wix_{digest[:40]}"


# --- Wix → external ------------------------------------------------------------------------------------


def issued_by_us(client: redis.Redis, instance_id: str, idempotency_key: str) -> bool:
    """Whether an earn's idempotency key is one this service issued."""
    return (
        idempotency_key.startswith(_POINTS_RULE_KEY_PREFIX)
        or _REWARD_LOG_ID.fullmatch(idempotency_key) is not None
        or bool(client.exists(keys.sync_inbound(instance_id, idempotency_key)))
    )


def transaction_echo_reason(
    client: redis.Redis, instance_id: str, transaction: dict[str, Any], our_app_id: str | None
) -> str | None:
    """Why this Wix transaction (in the outbound `transaction` shape) must not go out, or None."""
    if our_app_id and transaction.get("appId") == our_app_id:
        return "our own transaction (appId)"
    key = transaction.get("idempotencyKey")
    if isinstance(key, str) and key and issued_by_us(client, instance_id, key):
        return "an idempotency key we issued"
    transaction_id = str(transaction.get("id"))
    if client.exists(keys.own_points_transaction(instance_id, transaction_id)):
        return "a transaction our app made (its id came back from earn or adjust)"
    if client.exists(keys.sync_own_transaction(instance_id, transaction_id)):
        return "a transaction that inbound sync made"
    return None


def echo_reason(client: redis.Redis, event: NormalizedEvent, our_app_id: str | None) -> str | None:
    """Why this points change must not go to the external system, or None when it must (or when it names
    no transaction: the push task then asks Wix which transactions made it, `transactions_to_send`)."""
    if event.account is None:
        return "the event has no loyalty account"
    transaction = _event_transaction(event.account)
    if transaction is None:
        return None
    return transaction_echo_reason(client, event.instanceId, transaction, our_app_id)


def _event_transaction(account: AccountInfo) -> dict[str, Any] | None:
    """The event's own transaction (Wix's older `latestTransaction`) in the outbound shape, if it has one."""
    if not account.transactionId:
        return None
    return {
        "id": account.transactionId,
        "type": account.transactionType,
        "amount": account.transactionAmount,
        "description": account.transactionDescription,
        "createdDate": account.transactionCreatedDate,
        "appId": account.transactionAppId,
        "idempotencyKey": account.transactionIdempotencyKey,
    }


def outbound_transaction(transaction: dict[str, Any]) -> dict[str, Any]:
    """A Wix `LoyaltyTransaction` (`transactionType`, `earnInfo.appId`...) in the outbound shape."""
    return {
        "id": transaction.get("id"),
        "type": transaction.get("transactionType"),
        "amount": transaction.get("amount"),
        "description": transaction.get("description"),
        "createdDate": transaction.get("createdDate"),
        "appId": transaction_app_id(transaction),
        "idempotencyKey": transaction.get("idempotencyKey"),
    }


def transactions_to_send(
    wix: WixClient, client: redis.Redis, instance_id: str, account_id: str, occurred_at: str
) -> list[dict[str, Any]]:
    """A points change that names no transaction (`latestTransaction` is not in Wix's published account,
    wix-facts.md §8): the account's transactions from `RESOLVE_WINDOW` before it on, oldest first, less
    ours and those already delivered, in the outbound shape."""
    since = datetime.fromisoformat(occurred_at).astimezone(UTC) - RESOLVE_WINDOW
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    found = wix.query_loyalty_transactions(instance_id, account_id, since=stamp, limit=RESOLVE_LIMIT)
    wanted = []
    for transaction in reversed(found):
        outbound = outbound_transaction(transaction)
        if not outbound["id"]:
            continue
        reason = transaction_echo_reason(client, instance_id, outbound, wix.app_id)
        if reason is None and client.get(keys.sync_outbound(instance_id, str(outbound["id"]))) != "delivered":
            wanted.append(outbound)
    return wanted


def forward_points_update(
    client: redis.Redis,
    event: NormalizedEvent,
    *,
    our_app_id: str | None,
    sync_defaults: Settings | None,
    send: Send,
) -> str:
    """Queue the points change for the instance's external system unless it is ours; answers what was done.
    The instance's URL and secret (worker/store/site_settings.py) over `sync_defaults`, the environment's;
    None: no outbound sync."""
    if event.name != "points_updated" or event.account is None:
        return "not a points change"
    if (
        sync_defaults is None
        or not site_settings_for(client, event.instanceId, sync_defaults).outbound_sync_url
    ):
        return "outbound sync is off (no sync URL or secret, the instance's or the environment's)"
    reason = echo_reason(client, event, our_app_id)
    if reason is not None:
        logger.info("points change not sent to the external system", extra={"reason": reason})
        return f"not sent: {reason}"
    account = event.account
    send(
        PUSH_POINTS_UPDATE,
        {
            "instance_id": event.instanceId,
            "event_id": event.eventId,
            "occurred_at": event.occurredAt.isoformat(),
            "account": {
                "id": account.id,
                "contactId": account.contactId,
                "memberId": account.memberId,
                "balance": account.balance,
                "revision": account.revision,
            },
            "transaction": _event_transaction(account),  # None: the task asks Wix which ones
        },
    )
    return "queued"


@dataclass(frozen=True)
class Member:
    contact_id: str | None
    email: str | None
    external_id: str | None


def find_member(
    client: redis.Redis, wix: WixClient | None, instance_id: str, contact_id: str | None
) -> Member:
    """The contact's email and external id from the mapping; a contact the mapping does not know yet is
    read from Wix (and recorded)."""
    if not contact_id:
        return Member(None, None, None)
    link = link_of(client, instance_id, contact_id)
    if (link is None or not link.get("email")) and wix is not None:
        contact = wix.get_contact(instance_id, contact_id)
        if contact is not None:
            revision = contact.get("revision")
            record_contact(
                client,
                instance_id,
                contact_id,
                contact_email(contact),
                revision if isinstance(revision, int) and not isinstance(revision, bool) else None,
            )
            link = link_of(client, instance_id, contact_id)
    link = link or {}
    return Member(contact_id, link.get("email"), link.get("externalId"))


def build_message(
    instance_id: str,
    match_by: str,
    member: Member,
    account: dict[str, Any],
    transaction: dict[str, Any],
    occurred_at: str,
) -> dict[str, Any]:
    """The outbound payload, in the spec's recommended `{type, timestamp, data}` shape."""
    return {
        "type": MESSAGE_TYPE,
        "timestamp": transaction.get("createdDate") or occurred_at,
        "data": {
            "instanceId": instance_id,
            "matchBy": match_by,
            "email": member.email,
            "contactId": member.contact_id,
            "externalId": member.external_id,
            "account": account,
            "transaction": transaction,
        },
    }


def push_message(
    client: redis.Redis,
    http: httpx.Client,
    signer: StandardWebhook,
    url: str,
    instance_id: str,
    message: dict[str, Any],
    *,
    ttl_seconds: int,
) -> str:
    """POST the signed message once; `delivered`, or `already_delivered` when an earlier try got a 2xx.

    The transaction is marked as sent before the POST: an external system that echoes it back at once
    finds it already known."""
    transaction_id = str(message["data"]["transaction"]["id"])
    sent_key = keys.sync_outbound(instance_id, transaction_id)
    if client.get(sent_key) == "delivered":
        return "already_delivered"
    client.set(sent_key, "sending", ex=ttl_seconds)
    body = json.dumps(message, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        **signer.headers(webhook_id_for(instance_id, transaction_id), body),
    }
    try:
        response = http.post(url, content=body, headers=headers, timeout=PUSH_TIMEOUT)
    except httpx.TimeoutException as exc:
        raise ExternalSyncUnavailable(
            f"the external system did not answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise ExternalSyncUnavailable(f"could not reach the external system ({type(exc).__name__})") from exc
    status = response.status_code
    if 200 <= status < 300:
        client.set(sent_key, "delivered", ex=ttl_seconds)
        logger.info("points change delivered to the external system", extra={"transaction": transaction_id})
        return "delivered"
    if status in (408, 429) or status >= 500:
        raise ExternalSyncUnavailable(f"the external system answered {status}")
    raise ExternalSyncRefused(f"the external system refused the message: {status}")


# --- external → Wix ------------------------------------------------------------------------------------


Acceptance = Literal["queued", "replayed", "duplicate", "echo"]


def accept_inbound(
    client: redis.Redis,
    *,
    webhook_id: str,
    instance_id: str,
    transaction_id: str,
    contact_id: str,
    amount: int,
    ttl_seconds: int,
    description: str = "",
) -> Acceptance:
    """Claim the message and its transaction before queueing it.

    `replayed`: this webhook-id was accepted before. `echo`: the transaction is a Wix transaction we sent
    out. `duplicate`: another message already brought this transaction. `queued`: claimed; the caller
    queues it (and calls `release_inbound` if it cannot)."""
    if (
        client.set(
            keys.sync_webhook_id(instance_id, webhook_id), instance_id, nx=True, ex=WEBHOOK_ID_TTL_SECONDS
        )
        is not True
    ):
        return "replayed"
    if client.exists(keys.sync_outbound(instance_id, transaction_id)):
        return "echo"
    record = json.dumps(
        {"status": "queued", "contactId": contact_id, "amount": amount, "webhookId": webhook_id},
        separators=(",", ":"),
    )
    # The record and the apply task's intent in one step (both under the instance's tag): a sender that
    # dies before its send leaves the intent for the relay, since the client's retry is `replayed`.
    intent = apply_intent(instance_id, contact_id, transaction_id, amount, description)
    sync_outbox = keys.sync_outbox(instance_id)
    outbox.index(client, sync_outbox, time.time())
    claimed = client.eval(
        _CLAIM_WITH_INTENT,
        2,
        keys.sync_inbound(instance_id, transaction_id),
        sync_outbox,
        record,
        str(ttl_seconds),
        intent.id,
        intent.entry(time.time()),
    )
    return "queued" if claimed else "duplicate"


_CLAIM_WITH_INTENT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  return 1
end
return 0
"""


def apply_intent(
    instance_id: str, contact_id: str, transaction_id: str, amount: int, description: str
) -> outbox.Intent:
    """The `sync.apply_external_points` task an accepted inbound change is owed (worker/store/outbox.py)."""
    kwargs = {
        "instance_id": instance_id,
        "contact_id": contact_id,
        "transaction_id": transaction_id,
        "amount": amount,
        "description": description,
    }
    return outbox.Intent(
        inbound_intent_id(transaction_id), APPLY_EXTERNAL_POINTS, kwargs, queue_of(APPLY_EXTERNAL_POINTS)
    )


def inbound_intent_id(transaction_id: str) -> str:
    return f"sync-in:{transaction_id}"


def release_inbound(client: redis.Redis, *, webhook_id: str, instance_id: str, transaction_id: str) -> None:
    """Undo `accept_inbound`'s claims when the message could not be queued (the sender will retry)."""
    client.delete(
        keys.sync_webhook_id(instance_id, webhook_id), keys.sync_inbound(instance_id, transaction_id)
    )
    client.hdel(keys.sync_outbox(instance_id), inbound_intent_id(transaction_id))


def _inbound_record(client: redis.Redis, key: str) -> dict[str, Any]:
    raw = client.get(key)
    record = json.loads(raw) if isinstance(raw, str) else {}
    return record if isinstance(record, dict) else {}


def _mark_applied(
    client: redis.Redis,
    instance_id: str,
    key: str,
    record: dict[str, Any],
    wix_transaction_id: str | None,
    ttl: int,
) -> None:
    if wix_transaction_id:
        client.set(keys.sync_own_transaction(instance_id, wix_transaction_id), "1", ex=ttl)
    updated = {**record, "status": "applied", "wixTransactionId": wix_transaction_id}
    client.set(key, json.dumps(updated, separators=(",", ":")), ex=ttl)


def _loyalty_account(wix: WixClient, instance_id: str, contact_id: str) -> dict[str, Any]:
    account = wix.get_loyalty_account_by_contact(instance_id, contact_id)
    if account is None:
        try:
            account = wix.create_loyalty_account(instance_id, contact_id)
        except WixAlreadyExists as exc:  # opened meanwhile (by an earlier try, or the bootstrap)
            account = exc.existing
    return account


def _our_adjustment(
    wix: WixClient,
    instance_id: str,
    account: dict[str, Any],
    record: dict[str, Any],
    amount: int,
    description: str,
) -> tuple[bool, str | None]:
    """After a crash between Wix's answer and our record: is the account's latest transaction this very
    adjustment of ours? And its id. The latest transaction is the newest of the Loyalty Transactions
    query (the account's `latestTransaction`, where an older Wix still sends one)."""
    if record.get("status") != "adjusting" or str(account.get("revision")) == str(record.get("revision")):
        return False, None
    latest = account.get("latestTransaction")
    if isinstance(latest, dict):
        kind, app_id = latest.get("type"), latest.get("appId", wix.app_id)
    else:
        newest = wix.query_loyalty_transactions(instance_id, str(account["id"]), limit=1)
        latest = newest[0] if newest else {}
        kind, app_id = latest.get("transactionType"), transaction_app_id(latest)
    ours = (
        kind == "ADJUST"
        and app_id == wix.app_id
        and latest.get("amount") == amount
        and (latest.get("description") or "") == description
    )
    transaction_id = latest.get("id")
    return ours, transaction_id if ours and isinstance(transaction_id, str) else None


def apply_external_points(
    wix: WixClient,
    client: redis.Redis,
    *,
    instance_id: str,
    contact_id: str,
    transaction_id: str,
    amount: int,
    description: str,
    ttl_seconds: int,
) -> str:
    """Apply one external transaction to the contact's Wix account, once; `applied` or `already_applied`.

    Wix errors propagate: transient ones are retried by the task, others park it in the dead-letter queue.
    """
    key = keys.sync_inbound(instance_id, transaction_id)
    record = _inbound_record(client, key)
    if record.get("status") == "applied":
        return "already_applied"
    description = description[:100]
    if amount > 0:
        answer = wix.earn_points(
            instance_id,
            str(_loyalty_account(wix, instance_id, contact_id)["id"]),
            amount,
            description,
            transaction_id,
        )
        _mark_applied(client, instance_id, key, record, answer.transaction_id, ttl_seconds)
        return "applied"
    for _ in range(ADJUST_ATTEMPTS):
        account = _loyalty_account(wix, instance_id, contact_id)
        ours, wix_transaction_id = _our_adjustment(wix, instance_id, account, record, amount, description)
        if ours:
            _mark_applied(client, instance_id, key, record, wix_transaction_id, ttl_seconds)
            return "applied"
        record = {**record, "status": "adjusting", "revision": str(account.get("revision"))}
        client.set(key, json.dumps(record, separators=(",", ":")), ex=ttl_seconds)
        try:
            answer = wix.adjust_points(
                instance_id,
                str(account["id"]),
                revision=str(account.get("revision")),
                amount=amount,
                description=description or None,
            )
        except WixApiError:
            # Wix's packages declare no error for a stale revision: the account read again says whether
            # it changed under us (then try again at its new revision) or the refusal is for good.
            if str(_loyalty_account(wix, instance_id, contact_id).get("revision")) == record["revision"]:
                raise
            logger.info("loyalty account revision was stale; reading it again")
            continue
        _mark_applied(client, instance_id, key, record, answer.transaction_id, ttl_seconds)
        return "applied"
    raise WixTransientError(f"the loyalty account kept changing ({ADJUST_ATTEMPTS} stale revisions in a row)")
