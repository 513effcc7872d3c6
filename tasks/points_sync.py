"""Queue `rewards`: the points sync with an external loyalty system (worker/sync/points.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import httpx

from worker import keys
from worker.dispatch import APPLY_EXTERNAL_POINTS, queue_of
from worker.loyalty.points_gate import park_task, points_wait_reason
from worker.runtime.celery_app import TRANSIENT_ERRORS, WorkerTask, app, in_place_deadline
from worker.runtime.providers import redis_store, wix_client
from worker.settings import SettingsError, get_settings
from worker.store.outbox import take
from worker.store.site_settings import site_settings_for
from worker.sync.points import (
    ExternalSyncUnavailable,
    apply_external_points,
    build_message,
    find_member,
    inbound_intent_id,
    push_message,
    transactions_to_send,
)
from worker.sync.points import signer as sync_signer
from worker.wix.client import WixTransientError, retry_in_place

T = TypeVar("T")


@lru_cache
def _http() -> httpx.Client:
    """One client per worker process (after Celery's fork); timeouts are set per request."""
    return httpx.Client()


@app.task(
    name="sync.push_points_update",
    bind=True,
    autoretry_for=(*TRANSIENT_ERRORS, ExternalSyncUnavailable),
)
def push_points_update_task(
    self: WorkerTask,
    *,
    instance_id: str,
    event_id: str,
    occurred_at: str,
    account: dict[str, Any],
    transaction: dict[str, Any] | None = None,
) -> str:
    """POST a Wix points change to the instance's sync URL with its secret and matching (its site settings
    over EXTERNAL_SYNC_*); retried with backoff, then parked. Without its transaction (Wix's account has no
    `latestTransaction`), Wix is asked which ones made it."""
    settings = get_settings()
    site = site_settings_for(redis_store(), instance_id, settings)
    if not site.sync_url:
        raise SettingsError("no sync URL (the instance's or EXTERNAL_SYNC_URL): outbound points sync is off")
    try:
        wix = wix_client()
    except SettingsError:  # no Wix credentials: send what the mapping knows
        wix = None
    deadline = in_place_deadline()

    def tried_in_place(work: Callable[[], T]) -> T:
        """Wix's passing failures are tried again here first (worker.wix.client.retry_in_place)."""
        return work() if wix is None else retry_in_place(work, deadline=deadline, base=2 * wix.retry_base)

    try:
        if transaction is not None:
            transactions = [transaction]
        elif wix is not None:
            transactions = tried_in_place(
                lambda: transactions_to_send(wix, redis_store(), instance_id, account["id"], occurred_at)
            )
        else:
            return "not sent: the change names no transaction and Wix cannot be asked (no credentials)"
        if not transactions:
            return "nothing to send: every transaction is ours or delivered"
        member = tried_in_place(
            lambda: find_member(redis_store(), wix, instance_id, account.get("contactId"))
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    outcomes = [
        push_message(
            redis_store(),
            _http(),
            sync_signer(site),
            site.sync_url,
            instance_id,
            build_message(instance_id, site.sync_match_by, member, account, found, occurred_at),
            ttl_seconds=settings.event_journal_ttl_seconds,
        )
        for found in transactions
    ]
    return ", ".join(outcomes)


@app.task(name="sync.apply_external_points", bind=True)
def apply_external_points_task(
    self: WorkerTask,
    *,
    instance_id: str,
    contact_id: str,
    transaction_id: str,
    amount: int,
    description: str = "",
) -> str:
    """Earn or adjust an external transaction's points on the contact's Wix account, once; while the
    Wix loyalty program is not ACTIVE it waits, as points rules do, and is sent again when it is."""
    take(
        redis_store(), keys.sync_outbox(instance_id), inbound_intent_id(transaction_id)
    )  # worker/store/outbox.py
    waiting = points_wait_reason(redis_store(), instance_id)
    if waiting is not None:
        kwargs = {
            "instance_id": instance_id,
            "contact_id": contact_id,
            "transaction_id": transaction_id,
            "amount": amount,
            "description": description,
        }
        park_task(
            redis_store(),
            instance_id,
            f"sync:{transaction_id}",
            APPLY_EXTERNAL_POINTS,
            kwargs,
            queue_of(APPLY_EXTERNAL_POINTS),
        )
        return f"waiting: {waiting}"
    try:
        return retry_in_place(  # the transaction's record makes a second go apply nothing twice
            lambda: apply_external_points(
                wix_client(),
                redis_store(),
                instance_id=instance_id,
                contact_id=contact_id,
                transaction_id=transaction_id,
                amount=amount,
                description=description,
                ttl_seconds=get_settings().event_journal_ttl_seconds,
            ),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
