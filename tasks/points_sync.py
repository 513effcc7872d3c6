"""Queue `rewards`: the points sync with an external loyalty system (worker/points_sync.py)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx

from worker.celery_app import TRANSIENT_ERRORS, WorkerTask, app, in_place_deadline, redis_store
from worker.loyalty_program import park_task, points_wait_reason
from worker.points_sync import (
    APPLY_TASK,
    SYNC_QUEUE,
    ExternalSyncUnavailable,
    apply_external_points,
    build_message,
    find_member,
    push_message,
)
from worker.points_sync import signer as sync_signer
from worker.settings import SettingsError, get_settings
from worker.wix.client import WixTransientError, retry_in_place
from worker.wix_access import wix_client


@lru_cache
def _http() -> httpx.Client:
    """One client per worker process (after Celery's fork); timeouts are set per request."""
    return httpx.Client()


@app.task(
    name="sync.push_points_update",
    bind=True,
    autoretry_for=(*TRANSIENT_ERRORS, ExternalSyncUnavailable),
)
def push_points_update(
    self: WorkerTask,
    *,
    instance_id: str,
    event_id: str,
    occurred_at: str,
    account: dict[str, Any],
    transaction: dict[str, Any],
) -> str:
    """POST one Wix points change to EXTERNAL_SYNC_URL, signed; retried with backoff, then parked."""
    settings = get_settings()
    if not settings.external_sync_url:
        raise SettingsError("EXTERNAL_SYNC_URL is not set: outbound points sync is off")
    try:
        member = retry_in_place(
            lambda: find_member(redis_store(), wix_client(), instance_id, account.get("contactId")),
            deadline=in_place_deadline(),
            base=2 * wix_client().retry_base,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    except SettingsError:  # no Wix credentials: send what the mapping knows
        member = find_member(redis_store(), None, instance_id, account.get("contactId"))
    message = build_message(
        instance_id, settings.external_sync_match_by, member, account, transaction, occurred_at
    )
    return push_message(
        redis_store(),
        _http(),
        sync_signer(settings),
        settings.external_sync_url,
        instance_id,
        message,
        ttl_seconds=settings.event_journal_ttl_seconds,
    )


@app.task(name="sync.apply_external_points", bind=True)
def apply_points(
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
    waiting = points_wait_reason(redis_store(), instance_id)
    if waiting is not None:
        kwargs = {
            "instance_id": instance_id,
            "contact_id": contact_id,
            "transaction_id": transaction_id,
            "amount": amount,
            "description": description,
        }
        park_task(redis_store(), instance_id, f"sync:{transaction_id}", APPLY_TASK, kwargs, SYNC_QUEUE)
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
