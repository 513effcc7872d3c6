"""Celery configuration for a web process whose sends fail: the service's own, with a broker nobody
listens on (`CELERY_CONFIG_MODULE=tests.integration.broken_broker_config`). Redis, the store, still works."""

from celeryconfig import *  # noqa: F403  (the service's configuration, all of it)
from worker.infra.embedded_redis import free_port

broker_url = f"redis://127.0.0.1:{free_port()}/0"  # free a moment ago: nothing listens there
