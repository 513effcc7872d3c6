"""Queue `events`: webhook processing."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis

from worker.events.processing import process_event
from worker.infra.redis_client import sync_client
from worker.runtime.celery_app import WorkerTask, app
from worker.runtime.dispatcher import CeleryDispatcher
from worker.runtime.kombu_broker_queues import KombuBrokerQueues
from worker.runtime.lost_events import RedisBrokerQueues, requeue_lost_events
from worker.runtime.providers import redis_store, wix_client
from worker.settings import get_settings
from worker.store.journal import EventJournal


class EventTask(WorkerTask):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        with contextlib.suppress(redis.RedisError, KeyError):
            _journal().settle(
                kwargs["instance_id"],
                kwargs["event_id"],
                "failed",
                event_type=kwargs["event_type"],
                error=f"{type(exc).__name__}: {exc} (parked in the dead-letter queue)",
            )


def _journal() -> EventJournal:
    return EventJournal(redis_store(), get_settings().event_journal_ttl_seconds)


@app.task(name="events.process_wix_event", base=EventTask)
def process_wix_event_task(
    *,
    event_type: str,
    instance_id: str,
    event_id: str,
    data: str,
    identity: str | None = None,
    received_at: str | None = None,
) -> str:
    """Normalize the event and feed the program's rules into the engine (worker.events.processing)."""
    settings = get_settings()
    return process_event(
        _journal(),
        redis_store(),
        event_type=event_type,
        instance_id=instance_id,
        event_id=event_id,
        data=data,
        our_app_id=settings.wix_app_id,
        claim_ttl_seconds=settings.event_journal_ttl_seconds,
        received_at=received_at,
        follow_ups=CeleryDispatcher(),
        order_lookup=wix_client().get_order if settings.wix_app_id and settings.wix_app_secret else None,
        product_lookup=wix_client().get_product if settings.wix_app_id and settings.wix_app_secret else None,
        sync_defaults=settings,
    )


@app.task(name="periodic.requeue_lost_events")
def requeue_lost_events_task(stale_after: float) -> int:
    """Send again the task of each event queued too long whose message is nowhere
    (worker.runtime.lost_events)."""
    store = redis_store()
    settings = get_settings()
    if settings.broker_is_amqp:
        with app.connection_for_write() as connection:
            broker = KombuBrokerQueues(connection)
            return requeue_lost_events(store, stale_after=stale_after, now=time.time(), broker=broker)
    broker_url = settings.broker_address
    queues = RedisBrokerQueues(
        store if broker_url == settings.store_address else sync_client(broker_url or "")
    )
    return requeue_lost_events(store, stale_after=stale_after, now=time.time(), broker=queues)
