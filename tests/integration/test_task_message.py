"""The receiver's hand-built task message is the message Celery itself would publish."""

from __future__ import annotations

import base64
import json

from worker.runtime.celery_app import app
from worker.runtime.task_messages import build_task_message


def _shape(value: object) -> object:
    """Keys and value types, recursively: ids and hostnames differ, the shape may not."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


class TestTaskMessage:
    def test_same_shape_as_celerys_own_publish(self, real_redis) -> None:
        """Publish with Celery's send_task to real Redis, then compare with ours field by field."""
        kwargs = {"event_type": "t", "instance_id": "i", "event_id": "e", "data": "{}", "identity": None}
        app.send_task("events.process_wix_event", kwargs=kwargs, queue="events", ignore_result=True)
        [celerys] = [json.loads(raw) for raw in real_redis.lrange("events", 0, -1)]
        _, ours_text = build_task_message("events.process_wix_event", kwargs, queue="events")
        ours = json.loads(ours_text)

        celerys["properties"]["reply_to"] = ""  # Celery fills in its own reply queue; we have none
        # Celery sends a registered task's own limits, or nulls; nulls mean "the worker's configured
        # task_time_limit", which is what every task of ours uses.
        assert ours["headers"]["timelimit"] == [None, None]
        celerys["headers"]["timelimit"] = [None, None]
        # Sentry's Celery integration (set up by another test in this process) adds tracing headers.
        for name in [
            name for name in celerys["headers"] if name.startswith(("sentry", "baggage", "headers"))
        ]:
            del celerys["headers"][name]
        assert _shape(ours) == _shape(celerys)
        for field in ("task", "lang", "retries", "eta", "expires", "ignore_result"):
            assert ours["headers"][field] == celerys["headers"][field], field
        assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
        assert ours["properties"]["delivery_info"] == celerys["properties"]["delivery_info"]
        assert json.loads(base64.b64decode(ours["body"])) == json.loads(base64.b64decode(celerys["body"]))
