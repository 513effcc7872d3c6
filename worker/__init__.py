"""The Wix rewards worker. `celery -A worker` finds the Celery app here (imported on first use)."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.runtime.celery_app import app

        return app
    raise AttributeError(name)
