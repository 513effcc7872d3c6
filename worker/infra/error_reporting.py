"""Sentry, when SENTRY_DSN is set: FastAPI and Celery integrations, no PII, no request bodies.

sentry_sdk and its integrations are imported only when a DSN is set: they take a quarter of a second to
import, on every start of every web, worker and CLI process, most of which report nowhere.
"""

from __future__ import annotations

from typing import Any

from worker.settings import Settings

_SECRET_HEADERS = {"authorization", "cookie", "x-wix-signature", "proxy-authorization"}


def scrub_event(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """Drop what could carry a token: request bodies (a webhook body *is* a JWT), auth headers and
    query strings."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        if request.get("query_string"):  # `?token=...` would carry a secret
            request["query_string"] = "[Filtered]"
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].partition("?")[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            for name in list(headers):
                if name.lower() in _SECRET_HEADERS:
                    headers[name] = "[Filtered]"
    return event


def init_sentry(settings: Settings, **options: Any) -> bool:
    """Set Sentry up once per process (the web app and the Celery app both ask)."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    if sentry_sdk.get_client().is_active():
        return True
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.worker_env,
        # No user details, no request bodies (a webhook body is a JWT), no frame locals (they may
        # hold a token), no queue message contents.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "stack_frame_variables": False,
            "queues": False,
        },
        integrations=[StarletteIntegration(), FastApiIntegration(), CeleryIntegration()],
        before_send=scrub_event,  # type: ignore[arg-type]
        **options,
    )
    return True
