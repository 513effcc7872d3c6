"""Celery's configuration: broker, queues, routes, acknowledgements, limits, serializers, beat.

Read by `worker.runtime.celery_app` (`app.config_from_object("celeryconfig")`).
"""

from celery.schedules import crontab
from kombu import transport as kombu_transports
from kombu.entity import Queue

from worker import dispatch
from worker.dispatch import (
    PROCESS_EVENT,
    PURGE_REMOVED_INSTANCES,
    QUEUES,
    RELAY_OUTBOX,
    REQUEUE_LOST_EVENTS,
    START_JOB_EVERYWHERE,
    queue_of,
)
from worker.infra.amqp_tls import amqps_for_celery
from worker.infra.redis_sentinel import is_sentinel_url, parse_sentinel_url
from worker.infra.redis_tls import tls_options
from worker.retry_policy import retry_policy
from worker.settings import get_settings

_settings = get_settings()
_policy = retry_policy(_settings.celery_visibility_timeout)

broker_url = _settings.broker_address  # BROKER_URL, else REDIS_URL
# kombu's Redis transport, putting back a message Redis lost sight of while it was being taken
# (worker/runtime/broker_transport.py).
broker_transport = (
    "worker.runtime.broker_transport:Transport"
    if (broker_url or "").startswith(("redis://", "rediss://"))
    else None
)
# A Redis over TLS (`rediss://`): its certificate is verified, as redis-py does for the store, unless the
# URL says otherwise (`ssl_cert_reqs=`, `ssl_ca_certs=`, ...); kombu alone would accept any certificate.
if (broker_url or "").startswith("rediss://"):
    broker_use_ssl = tls_options(broker_url or "")
broker_connection_retry_on_startup = True
# Every place Celery reads the visibility timeout gets the same value. Tasks of a worker killed outright
# come back once the timeout has passed, found by a sweep every `unacked_restore_interval` seconds.
broker_transport_options: dict[str, object] = {
    "visibility_timeout": _policy.visibility_timeout,
    "unacked_restore_interval": _policy.restore_interval,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": _policy.restore_lock_seconds,
}
# RabbitMQ: every queue a replicated quorum queue, and a publish returns only once the broker confirmed
# it (RabbitMQ itself redelivers what a dead worker held, so the visibility timeout plays no part there).
_QUEUE_ARGUMENTS = {"x-queue-type": "quorum"} if _settings.broker_is_amqp else None
if (broker_url or "").startswith("amqps://"):
    # RabbitMQ over TLS: the URL's CA (`cafile=`, as the receiver's publisher reads it), else the system's
    # (worker/infra/amqp_tls.py).
    broker_url, broker_use_ssl = amqps_for_celery(broker_url or "")
if _settings.broker_is_amqp:
    broker_transport_options = {"confirm_publish": True}
    # A retry's countdown waits in RabbitMQ's delay exchanges (Celery's native delayed delivery, which
    # quorum queues need and which binds through topic exchanges), not in a worker's memory.
    task_default_exchange_type = "topic"
# Redis Sentinel (`sentinel://`, worker/infra/redis_sentinel.py): kombu reads the URL without the master's
# name and takes the name as a transport option; the transport is the one above, with Sentinel's discovery.
if is_sentinel_url(broker_url):
    _broker_sentinel = parse_sentinel_url(broker_url or "", "BROKER_URL")
    broker_url = _broker_sentinel.kombu_url
    broker_transport = "worker.runtime.broker_transport:SentinelTransport"
    # When a sentinel fails, kombu moves to the next one's URL and picks the transport by its scheme: that
    # transport too is ours (kombu's own would give up on a master that lost its replicas, and the worker
    # with it).
    kombu_transports.TRANSPORT_ALIASES["sentinel"] = broker_transport
    broker_transport_options |= {
        "master_name": _broker_sentinel.master,
        "sentinel_kwargs": _broker_sentinel.sentinel_kwargs(5.0),
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

task_queues = [Queue(name, routing_key=name, queue_arguments=_QUEUE_ARGUMENTS) for name in QUEUES]
task_default_queue = queue_of(PROCESS_EVENT)
task_routes = dispatch.task_routes()  # worker/dispatch.py: every task to its queue

# Task events (received, started, succeeded: three messages on the broker per task) only while someone
# watches: Flower turns them on in every worker while it runs (its `enable_events`, on by default, through
# the workers' remote control), and nothing else reads them. Off, a worker spends its time on tasks.
worker_send_task_events = False
task_send_sent_event = False
worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = True

# Beat: one scheduler for the whole deployment. RedBeat keeps the schedule and a lock in Redis, so a
# second beat process (a rolling deploy, a mistake) waits for the lock instead of sending every job twice;
# if the holder dies, another takes over once the lock expires. Every job is also safe to run twice for
# one period (a running job of a name is answered, not doubled; each item's effect is idempotent).
beat_scheduler = "redbeat.RedBeatScheduler"
redbeat_redis_url = _settings.store_address
redbeat_redis_options: dict[str, object] = {}
redbeat_key_prefix = "wrw:beat:"
beat_max_loop_interval = 5  # seconds between looks at the schedule
redbeat_lock_timeout = 30  # a dead holder's lock frees after this long
if _settings.store_cluster:
    # A Redis Cluster store: RedBeat's own cluster client (redbeat_redis_options' `cluster`), and every key
    # it writes (the schedule, each entry, the statics, the lock) under one hash tag, so that its pipelines
    # and its lock's Lua stay in one slot (README "The store on Redis Cluster").
    redbeat_redis_options = {"cluster": True, "decode_responses": True, "socket_timeout": 5.0}
    redbeat_key_prefix = "wrw:{beat}:"
# RedBeat on a Sentinel-managed store: its `redis-sentinel://` form, the sentinels and master as options.
if is_sentinel_url(_settings.store_address):
    _store_sentinel = parse_sentinel_url(_settings.store_address or "")
    redbeat_redis_url = "redis-sentinel://"
    redbeat_redis_options = {
        "sentinels": list(_store_sentinel.sentinels),
        "service_name": _store_sentinel.master,
        "socket_timeout": 5.0,
        "sentinel_kwargs": _store_sentinel.sentinel_kwargs(5.0),
        **_store_sentinel.redis_options(),
    }


_LOST_EVENTS_EVERY = max(5, min(60, _policy.visibility_timeout // 4))  # seconds


def _every_instance(name: str, schedule: object, **kwargs: object) -> dict[str, object]:
    """A schedule entry that starts job `name` for every instance with a program."""
    return {
        "task": START_JOB_EVERYWHERE,
        "schedule": schedule,
        "kwargs": {"name": name, **kwargs},
        "options": {"expires": 3600},  # a start nobody took within the hour is dropped: the next one comes
    }


beat_schedule: dict[str, dict[str, object]] = {
    "sweep": _every_instance("sweep", crontab(minute=10)),
    "expire-rewards": _every_instance("expire-rewards", crontab(minute=20)),
    "catch-up": _every_instance("catch-up", crontab(minute=30)),
    # Hourly, so that every timezone's first of the month is seen; only instances where it is the 1st
    # start it, and a member is messaged once a month however often it runs.
    "monthly-messages": _every_instance("monthly-messages", crontab(minute=40), local_day=1),
    # Automation triggers (worker/jobs/trigger_notices.py): each notice goes once however often they run;
    # every quarter hour, so a period's last day is seen soon after it begins in every timezone.
    "reward-expiring": _every_instance("reward-expiring", crontab(minute=25)),
    "streak-at-risk": _every_instance("streak-at-risk", crontab(minute="5,20,35,50")),
    # Hourly: referrals whose hold ended are rewarded (worker/jobs/referral_release.py).
    "release-referrals": _every_instance("release-referrals", crontab(minute=15)),
    # Hourly, so that each timezone's day is seen soon after it begins; a day is gone through once
    # (worker/jobs/birthdays.py), a contact earns once a year.
    "birthdays": _every_instance("birthdays", crontab(minute=45)),
    # Every minute: send again what a commit left in an outbox and no worker took (worker/store/outbox.py).
    "relay-outbox": {"task": RELAY_OUTBOX, "schedule": 60.0, "options": {"expires": 60}},
    # Daily: the data of sites that removed the app INSTANCE_RETENTION_DAYS ago (worker/installs/purge.py).
    "purge-removed-instances": {
        "task": PURGE_REMOVED_INSTANCES,
        "schedule": crontab(minute=50, hour=3),
        "options": {"expires": 3600},
    },
    # An event whose task message was lost between Redis and a worker is sent again once it has been
    # queued as long as the visibility timeout (worker.runtime.lost_events).
    "requeue-lost-events": {
        "task": REQUEUE_LOST_EVENTS,
        "schedule": _LOST_EVENTS_EVERY,
        "kwargs": {"stale_after": _policy.visibility_timeout},
        "options": {"expires": _LOST_EVENTS_EVERY},
    },
}
timezone = "UTC"
