"""The FastAPI application: `uvicorn worker.web.app:create_app --factory` (or `python -m worker web`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from fastapi import FastAPI

from worker.dispatch import Dispatcher
from worker.infra import heap
from worker.infra.error_reporting import init_sentry
from worker.infra.redis_client import (
    WEB_TIMEOUT,
    check_broker_server,
    require_redis_url,
    store_async_client,
    store_client,
)
from worker.infra.redis_health import describe_durability_problems
from worker.runtime.dispatcher import CeleryDispatcher
from worker.runtime.event_publishers import event_publisher
from worker.runtime.metrics import ReceiverMetrics, TaskOutcomeCollector, metric_registries
from worker.runtime.queue_metrics import QueueCollector, broker_queues
from worker.settings import Settings, get_settings
from worker.web import activities, admin, admin_members, ops, receiver, records, widget, wix_actions
from worker.web.admin_analytics import router as analytics_router
from worker.web.admin_api_keys import router as api_keys_router
from worker.web.admin_instances import router as instances_router
from worker.web.admin_loyalty_program import router as loyalty_program_router
from worker.web.admin_preview import router as preview_router
from worker.web.admin_program_versions import router as program_versions_router
from worker.web.admin_referrals import router as admin_referrals_router
from worker.web.admin_rewards import router as admin_rewards_router
from worker.web.admin_settings import router as admin_settings_router
from worker.web.console.apikeys_routes import router as console_api_keys_router
from worker.web.console.members_routes import router as console_members_router
from worker.web.console.ops_routes import router as ops_console_router
from worker.web.console.overview_routes import router as overview_router
from worker.web.console.rewards_routes import router as console_rewards_router
from worker.web.console.routes import router as console_router
from worker.web.errors import install_error_handlers
from worker.web.event_queue import EventQueue
from worker.web.guards import AuthFirst, BodyLimit
from worker.web.sync import router as sync_router
from worker.web.widget_referrals import router as widget_referrals_router
from worker.web.widget_spend import router as widget_spend_router
from worker.wix.tokens import TokenVerifier, load_public_key

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    async_redis: redis.asyncio.Redis | None = None,
    store: redis.Redis | None = None,
    follow_ups: Dispatcher | None = None,
) -> FastAPI:
    """Build the app; settings are checked here, so a misconfiguration stops start-up."""
    settings = settings or get_settings()
    settings.check_for_production()
    broker_problems: list[str] = []
    if async_redis is None or store is None:
        require_redis_url(settings)
        broker_problems = check_broker_server(settings)
        async_redis = async_redis or store_async_client(settings)
        store = store or store_client(settings, timeout=WEB_TIMEOUT, retries=False)
    key_text = settings.public_key_text()
    verifier = (
        TokenVerifier(load_public_key(key_text), leeway=settings.jwt_leeway_seconds) if key_text else None
    )
    if verifier is None:
        logger.warning("WIX_PUBLIC_KEY is not set: webhooks will be answered 503 until it is")
    init_sentry(settings)

    publisher = event_publisher(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for problem in describe_durability_problems(store):
            logger.warning(problem)
        for problem in broker_problems:
            logger.warning(problem)
        if publisher is not None:
            await publisher.connect()
        heap.freeze_startup_heap()  # no full GC pass over the start-up heap while serving (p99)
        yield
        heap.thaw_startup_heap()
        if publisher is not None:
            await publisher.close()
        await async_redis.aclose()

    app = receiver.WebhookFirstApp(
        title="Wix rewards worker",
        version="0.1.0",
        description="Gamification and loyalty for Wix stores, driven by Wix webhooks.",
        lifespan=lifespan,
    )
    own_metrics, registry = metric_registries()  # one, unless several processes answer /metrics
    registry.register(TaskOutcomeCollector(store))
    registry.register(QueueCollector(store, broker=broker_queues(settings)))
    app.state.settings = settings
    app.state.async_redis = async_redis
    app.state.store = store
    app.state.follow_ups = follow_ups or CeleryDispatcher()
    app.state.registry = registry
    app.state.event_publisher = publisher  # /readyz checks the broker too when it is another server
    app.state.receiver = receiver.ReceiverState(
        verifier=verifier,
        queue=EventQueue(async_redis, settings.event_journal_ttl_seconds, publisher=publisher),
        metrics=ReceiverMetrics(own_metrics),
        max_bytes=settings.webhook_max_bytes,
    )
    install_error_handlers(app)
    app.add_middleware(AuthFirst)  # credentials before the body ...
    app.add_middleware(BodyLimit, max_bytes=settings.webhook_max_bytes)  # ... and no body over the limit
    app.include_router(receiver.router)
    app.include_router(admin.router)
    app.include_router(loyalty_program_router)
    app.include_router(admin_members.router)
    app.include_router(instances_router)
    app.include_router(records.router)
    app.include_router(activities.router)
    app.include_router(wix_actions.router)
    app.include_router(ops.router)
    app.include_router(sync_router)
    app.include_router(admin_settings_router)
    app.include_router(program_versions_router)
    app.include_router(admin_rewards_router)
    app.include_router(preview_router)
    app.include_router(analytics_router)
    app.include_router(console_router)
    app.include_router(console_rewards_router)
    app.include_router(ops_console_router)
    app.include_router(console_members_router)
    app.include_router(overview_router)
    app.include_router(api_keys_router)
    app.include_router(console_api_keys_router)
    app.include_router(widget_spend_router)
    app.include_router(admin_referrals_router)
    app.include_router(widget_referrals_router)  # before install: the widget's CORS wraps it too
    widget.install(app)  # the storefront widget's routes and their CORS
    return app
