"""Celery's configuration: broker, queues, routes, acknowledgements, limits, serializers, beat.

Read by `worker.celery_app` (`app.config_from_object("celeryconfig")`).
"""

from kombu.entity import Queue

from worker.keys import QUEUES
from worker.retry_policy import retry_policy
from worker.settings import get_settings

_settings = get_settings()
_policy = retry_policy(_settings.celery_visibility_timeout)

broker_url = _settings.redis_url
broker_connection_retry_on_startup = True
# Every place Celery reads the visibility timeout gets the same value. Tasks of a worker killed outright
# come back once the timeout has passed, found by a sweep every `unacked_restore_interval` seconds.
broker_transport_options = {
    "visibility_timeout": _policy.visibility_timeout,
    "unacked_restore_interval": _policy.restore_interval,
    "unacked_restore_throttle": 1,
}
result_backend_transport_options = {"visibility_timeout": _policy.visibility_timeout}
visibility_timeout = _policy.visibility_timeout  # read by some kombu versions from the top level

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# At least once: a task is acknowledged after it ran, and one whose process died goes back to the queue.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_ignore_result = True
task_time_limit = _policy.time_limit
task_soft_time_limit = _policy.soft_time_limit

task_queues = [Queue(name, routing_key=name) for name in QUEUES]
task_default_queue = "events"
task_routes = {
    "events.*": {"queue": "events"},
    "rewards.*": {"queue": "rewards"},
    "bulk.*": {"queue": "bulk"},
    "periodic.*": {"queue": "periodic"},
}

worker_send_task_events = True
task_send_sent_event = False
worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = True

beat_schedule: dict[str, dict[str, object]] = {
    "expire-rewards": {
        "task": "periodic.start_job_everywhere",
        "schedule": 3600.0,
        "kwargs": {"name": "expire-rewards"},
        "options": {"expires": 3600},
    },
}
timezone = "UTC"
