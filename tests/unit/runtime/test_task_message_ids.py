"""The receiver's own task ids are Celery's kind: random version-4 UUIDs in their usual spelling."""

from __future__ import annotations

import json
import uuid

from worker.runtime.task_messages import build_task_message


def test_task_ids_and_delivery_tags_are_distinct_version_4_uuids() -> None:
    """Each message gets its own task id and delivery tag, each a v4 UUID written as `str(uuid4())`."""
    seen: set[str] = set()
    for _ in range(200):
        task_id, text = build_task_message("events.process_wix_event", {"a": 1}, queue="events")
        message = json.loads(text)
        tag = message["properties"]["delivery_tag"]
        for value in (task_id, tag):
            parsed = uuid.UUID(value)
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
            assert str(parsed) == value
        assert message["headers"]["id"] == task_id
        seen |= {task_id, tag}
    assert len(seen) == 400
