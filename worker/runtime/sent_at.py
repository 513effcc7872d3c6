"""Every task message Celery publishes carries when it was sent (`wrw_sent_at`, epoch seconds), so the
age of a queue's oldest message can be read off the message itself (worker/runtime/queue_metrics.py).
The receiver's hand-built messages carry the same header (worker/runtime/task_messages.py).

Connected on import, by the worker's Celery app and by the producer-only app of other processes
(worker/runtime/dispatcher.py); a retry is a new message, stamped when it is sent again.
"""

from __future__ import annotations

import time
from typing import Any

from celery import signals

from worker.runtime.task_messages import SENT_AT


def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[SENT_AT] = time.time()


signals.before_task_publish.connect(stamp_sent_at, weak=False)
