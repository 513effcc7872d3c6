"""Celery's configuration keeps at-least-once delivery without running a task twice by accident."""

from __future__ import annotations

import pytest

import celeryconfig
from worker import dispatch
from worker.retry_policy import retry_policy
from worker.runtime.celery_app import WorkerTask, app


class TestVisibilityTimeoutInvariant:
    def test_the_longest_retry_wait_plus_the_longest_run_fits_in_the_visibility_timeout(self) -> None:
        """A retry's countdown is held unacknowledged: countdown + time limit must end before Redis
        hands the task to another worker (celery #2481, #4400)."""
        timeout = app.conf.broker_transport_options["visibility_timeout"]
        assert WorkerTask.retry_backoff_max + app.conf.task_time_limit < timeout

    def test_every_place_celery_reads_the_timeout_agrees(self) -> None:
        """Broker and result backend options carry the same visibility timeout."""
        timeout = app.conf.broker_transport_options["visibility_timeout"]
        assert app.conf.result_backend_transport_options["visibility_timeout"] == timeout
        assert celeryconfig.visibility_timeout == timeout

    @pytest.mark.parametrize("timeout", [10, 30, 60, 600, 3600, 43200, 86400])
    def test_the_derived_policy_holds_for_any_timeout(self, timeout: int) -> None:
        """Whatever timeout an operator sets, the derived limits leave room."""
        policy = retry_policy(timeout)
        assert policy.backoff_max + policy.time_limit < timeout
        assert policy.soft_time_limit < policy.time_limit

    def test_a_short_timeout_still_gives_tasks_time_to_run(self) -> None:
        """The tests' kill-and-resume runs wait out a short timeout (10 s): their tasks get the time
        limit a 20 s timeout gives, and the longest wait plus the longest run still end with a quarter
        of the timeout to spare, whatever the timeout."""
        assert retry_policy(10).time_limit == retry_policy(20).time_limit == 5
        assert retry_policy(10).soft_time_limit == retry_policy(20).soft_time_limit == 4
        for timeout in [*range(10, 100), 3600, 86400]:
            policy = retry_policy(timeout)
            assert policy.backoff_max + policy.time_limit <= timeout * 3 / 4, timeout

    def test_a_worker_killed_mid_sweep_holds_back_tasks_for_at_most_half_the_timeout(self) -> None:
        """kombu locks its sweep for dead workers' tasks (300 s by default): a worker killed while it
        sweeps kept every task from coming back that long, past a short timeout (a kill test hung).
        The lock lives half the timeout, at least 5 s, at most kombu's 300."""
        options = app.conf.broker_transport_options
        assert (
            options["unacked_mutex_expire"]
            == retry_policy(options["visibility_timeout"]).restore_lock_seconds
        )
        assert [retry_policy(t).restore_lock_seconds for t in (10, 20, 60, 3600)] == [5, 10, 30, 300]

    def test_tries_in_place_end_inside_the_soft_time_limit(self) -> None:
        """A batch stops taking items at half the soft limit; its last item (two Wix calls, each tried
        in place within the budget, the last try with a token fetch and the request, each up to the
        default timeout) still ends before the soft limit."""
        from worker.settings import Settings

        policy = retry_policy(3600)
        timeout = Settings.model_fields["wix_timeout_seconds"].default
        last_item = 2 * (policy.call_wait_budget + 2 * timeout)
        assert policy.soft_time_limit / 2 + last_item < policy.soft_time_limit
        for visibility in (10, 60, 600, 3600, 86400):
            shorter = retry_policy(visibility)
            assert shorter.call_wait_budget <= max(0.5, shorter.soft_time_limit / 20)
            assert shorter.call_attempts >= 2

    def test_the_backoff_schedule_grows_and_is_capped(self) -> None:
        """Exponential backoff with jitter, capped by retry_backoff_max."""
        from celery.utils.time import get_exponential_backoff_interval

        waits = [
            get_exponential_backoff_interval(
                factor=WorkerTask.retry_backoff,
                retries=n,
                maximum=WorkerTask.retry_backoff_max,
                full_jitter=False,
            )
            for n in range(WorkerTask.max_retries)
        ]
        assert waits == sorted(waits)
        assert waits[0] >= 2
        assert max(waits) <= WorkerTask.retry_backoff_max
        assert WorkerTask.retry_jitter is True


class TestDelivery:
    def test_acks_late_and_reject_on_worker_lost(self) -> None:
        """A task is acknowledged after it ran; a task whose process died goes back to the queue."""
        assert app.conf.task_acks_late is True
        assert app.conf.task_reject_on_worker_lost is True
        assert app.conf.worker_prefetch_multiplier == 1

    def test_json_only(self) -> None:
        """No pickle anywhere."""
        assert app.conf.accept_content == ["json"]
        assert app.conf.task_serializer == "json"
        assert app.conf.result_serializer == "json"

    def test_routes(self) -> None:
        """Tasks go to the queue their namespace names."""
        router = app.amqp.router
        for name, queue in [
            ("events.process_wix_event", "events"),
            ("rewards.fulfil", "rewards"),
            ("bulk.bootstrap", "bulk"),
            ("periodic.sweep", "periodic"),
        ]:
            assert router.route({}, name)["queue"].name == queue

    def test_results_are_ignored(self) -> None:
        """Nothing waits on results, so none are stored."""
        assert app.conf.task_ignore_result is True

    def test_the_event_task_is_registered_under_its_namespaced_name(self) -> None:
        """The receiver enqueues by name; the worker must know that name."""
        import tasks.events  # noqa: F401  (registers the task)

        assert "events.process_wix_event" in app.tasks

    def test_every_task_is_named_in_the_dispatch_table(self) -> None:
        """The worker registers exactly the tasks worker/dispatch.py names, so each has one queue."""
        app.loader.import_default_modules()
        ours = {name for name in app.tasks if not name.startswith("celery.")}
        assert ours - {"events.test_slow_effect", "events.test_flaky"} == set(dispatch.TASKS)

    def test_routes_send_each_task_to_its_queue(self) -> None:
        """Celery's namespace routes agree with the queue the dispatch table gives every task."""
        for name, queue in dispatch.TASKS.items():
            assert app.conf.task_routes[f"{name.split('.')[0]}.*"] == {"queue": queue}


class TestBeat:
    def test_one_scheduler_for_the_deployment_with_its_lock_in_redis(self) -> None:
        """RedBeat (2.4.2 or later) keeps the schedule and a lock in the broker's Redis."""
        from importlib.metadata import version

        assert app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
        assert app.conf.redbeat_redis_url == app.conf.broker_url
        assert tuple(int(part) for part in version("celery-redbeat").split(".")[:3]) >= (2, 4, 2)

    def test_every_periodic_job_is_scheduled_and_names_a_job_there_is(self) -> None:
        from worker.jobs.registry import KINDS, QUEUES

        jobs = "periodic.start_job_everywhere"
        entries = [e for e in celeryconfig.beat_schedule.values() if e["task"] == jobs]
        names = {entry["kwargs"]["name"] for entry in entries}  # type: ignore[index]
        assert names == {
            "sweep",
            "expire-rewards",
            "catch-up",
            "monthly-messages",
            "reward-expiring",
            "streak-at-risk",
            "release-referrals",
            "birthdays",
        }
        assert names <= set(KINDS)
        assert {QUEUES[name] for name in names} <= {"periodic", "bulk"}

    def test_monthly_messages_start_only_on_the_first_in_each_programs_timezone(self) -> None:
        assert celeryconfig.beat_schedule["monthly-messages"]["kwargs"] == {
            "name": "monthly-messages",
            "local_day": 1,
        }

    def test_the_outbox_relay_runs_every_minute_and_a_late_start_is_dropped(self) -> None:
        """Beat sends `periodic.relay_outbox` every 60 s; a send nobody took within the minute expires
        (the next one comes), so a stopped worker does not find a pile of relays on its return."""
        from tasks.outbox import relay_outbox_task

        entry = celeryconfig.beat_schedule["relay-outbox"]
        assert entry["task"] == relay_outbox_task.name == "periodic.relay_outbox"
        assert entry["schedule"] == 60.0
        assert entry["options"] == {"expires": 60}
        assert "kwargs" not in entry  # the relay's own default age applies
        assert app.conf.task_routes["periodic.*"] == {"queue": "periodic"}

    def test_lost_events_are_looked_for_often_and_sent_after_the_visibility_timeout(self) -> None:
        """Beat sends `periodic.requeue_lost_events` every quarter of the visibility timeout (5 to 60 s),
        for events queued longer than the timeout; a late start expires."""
        from tasks.events import requeue_lost_events_task

        entry = celeryconfig.beat_schedule["requeue-lost-events"]
        every = max(5, min(60, app.conf.broker_transport_options["visibility_timeout"] // 4))
        assert entry["task"] == requeue_lost_events_task.name == "periodic.requeue_lost_events"
        assert entry["schedule"] == every
        assert entry["options"] == {"expires": every}
        assert entry["kwargs"] == {"stale_after": app.conf.broker_transport_options["visibility_timeout"]}
