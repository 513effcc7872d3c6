"""The outbox: a reward log's follow-ups are written with it, taken by the task, and sent again by the
relay or a duplicate request when nothing took them; a crash right after the commit loses nothing."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from worker import keys
from worker.dev.programs import MANUAL, challenge, coupon, milestone, points, program
from worker.dispatch import RecordedDispatcher
from worker.progress.record import ActivityRequest, record_activity
from worker.rewards.follow_ups import send_follow_ups
from worker.runtime.dispatcher import CeleryDispatcher
from worker.store import instances, outbox
from worker.store.progress import ProgressStore

# A Wix client that makes no call: the tasks read its retry pace; any call would fail.
NO_WIX = SimpleNamespace(retry_base=0.0)

INSTANCE = "inst-1"
CONTACT = "c1"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the domain's clock; the outbox keeps wall-clock time
PROGRAM: dict[str, Any] = program(
    challenges=[
        challenge(
            "spend-100",
            "Spend $100",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[
                milestone("note", "Noted", 10, MANUAL),
                milestone("fifty", "Fifty", 50, coupon("10% off", 10)),
                milestone("hundred", "A hundred", 100, points(5)),
            ],
        )
    ]
)
MEMBER_OUTBOX = keys.member_outbox(INSTANCE, CONTACT)


@pytest.fixture
def store(fake_store) -> ProgressStore:  # type: ignore[no-untyped-def]
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, PROGRAM)
    return store


def spend(store: ProgressStore, uid: str, value: str) -> Any:
    request = ActivityRequest(
        kind="challenge",
        item_id="spend-100",
        contact_id=CONTACT,
        activity_id="order_paid",
        activity_value=value,
        activity_at=NOW,
        unique_identifier=uid,
    )
    return record_activity(store, INSTANCE, request, NOW)


def intents_in(client: redis.Redis) -> dict[str, dict[str, Any]]:
    raw: dict[str, str] = client.hgetall(MEMBER_OUTBOX)  # type: ignore[assignment]
    return {intent_id: json.loads(value) for intent_id, value in raw.items()}


class TestWrittenWithTheRewardLog:
    def test_each_reward_log_leaves_its_report_and_fulfilment_in_the_members_outbox(
        self, store, fake_store
    ) -> None:
        """A coupon and a points reward: report and fulfil each; a manual one: only its report."""
        outcome = spend(store, "order-1", "120")
        ids = {r["milestoneId"]: r["id"] for r in outcome.reward_logs}
        intents = intents_in(fake_store)
        assert set(intents) == {
            f"report:milestone_achieved:{ids['note']}",
            f"report:milestone_achieved:{ids['fifty']}",
            f"fulfil:{ids['fifty']}",
            f"report:milestone_achieved:{ids['hundred']}",
            f"fulfil:{ids['hundred']}",
        }
        assert intents[f"fulfil:{ids['fifty']}"]["task"] == "rewards.fulfil_reward"
        assert intents[f"fulfil:{ids['fifty']}"]["kwargs"] == {
            "instance_id": INSTANCE,
            "reward_log_id": ids["fifty"],
        }
        assert intents[f"fulfil:{ids['fifty']}"]["queue"] == "rewards"
        assert fake_store.zscore(keys.OUTBOX_INDEX, MEMBER_OUTBOX) is not None

    def test_a_log_without_a_milestone_writes_no_intent(self, store, fake_store) -> None:
        """No reward log, nothing to send: no outbox and no index entry."""
        spend(store, "order-1", "5")
        assert intents_in(fake_store) == {}
        assert fake_store.zcard(keys.OUTBOX_INDEX) == 0

    def test_the_intents_are_what_the_immediate_send_sends(self, store, monkeypatch) -> None:
        """The outbox holds the same task names, arguments and queues CeleryDispatcher sends."""
        from worker.runtime.celery_app import app

        sent: list[tuple[str, dict[str, Any], str]] = []
        monkeypatch.setattr(app, "send_task", lambda name, kwargs, queue: sent.append((name, kwargs, queue)))
        outcome = spend(store, "order-1", "60")
        from worker.rewards.follow_ups import fulfil_new_rewards

        fulfil_new_rewards(CeleryDispatcher(), INSTANCE, outcome.reward_logs)
        committed = intents_in(store.client).values()
        assert sorted(sent, key=str) == sorted(
            ((i["task"], i["kwargs"], i["queue"]) for i in committed), key=str
        )

    def test_the_trigger_key_is_the_triggers_module_one(self) -> None:
        """The outbox names the triggers exactly as worker.rewards.automation_triggers does."""
        from worker.rewards.automation_triggers import MILESTONE_ACHIEVED, REWARD_ISSUED

        assert (outbox.MILESTONE_ACHIEVED, outbox.REWARD_ISSUED) == (MILESTONE_ACHIEVED, REWARD_ISSUED)

    def test_killed_right_after_the_commit_the_reward_is_found_and_relayed(
        self, store, fake_store, monkeypatch
    ) -> None:
        """The process dies the instant the MULTI returns: the reward log is readable by id (its index
        was written first) and the relay sends its fulfilment."""
        pipeline_class = type(fake_store.pipeline())  # one Redis's, or the cluster's (StorePipeline)
        real_execute = pipeline_class.execute

        class Killed(BaseException):
            pass

        def explicit_multi(pipe: Any) -> bool:
            strategy = getattr(pipe, "_execution_strategy", None)  # a cluster pipeline's MULTI state
            if strategy is not None:  # a plain (transaction=False) cluster pipeline has none
                return bool(getattr(strategy, "_explicit_transaction", False))
            return bool(pipe.explicit_transaction)

        def execute_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            committing = explicit_multi(self)  # the member's MULTI (execute resets the pipeline)
            result = real_execute(self, *args, **kwargs)
            if committing:
                raise Killed
            return result

        monkeypatch.setattr(pipeline_class, "execute", execute_then_die)
        with pytest.raises(Killed):
            spend(store, "order-1", "60")
        monkeypatch.undo()
        [reward_log] = [r for r in store.member_reward_logs(INSTANCE, CONTACT) if r["milestoneId"] == "fifty"]
        assert store.reward_log(INSTANCE, reward_log["id"]) == reward_log
        assert CONTACT in fake_store.smembers(f"wrw:members:{INSTANCE}")
        follow_ups = RecordedDispatcher()
        outbox.relay(fake_store, follow_ups.resend, time.time() + 120)
        assert (
            "rewards.fulfil_reward",
            {"instance_id": INSTANCE, "reward_log_id": reward_log["id"]},
            "rewards",
        ) in follow_ups.resent


class TestTaken:
    def test_a_started_task_takes_its_intent_and_the_relay_leaves_it(self, store, fake_store) -> None:
        """take_intent removes the fulfil intent; the relay then sends only what is left."""
        outcome = spend(store, "order-1", "60")
        [coupon] = [r for r in outcome.reward_logs if r["milestoneId"] == "fifty"]
        assert store.take_intent(INSTANCE, coupon["id"], outbox.fulfil_intent_id(coupon["id"]))
        assert not store.take_intent(INSTANCE, coupon["id"], outbox.fulfil_intent_id(coupon["id"]))
        follow_ups = RecordedDispatcher()
        outbox.relay(fake_store, follow_ups.resend, time.time() + 120)
        assert [task for task, _, _ in follow_ups.resent] == [
            "rewards.report_trigger",
            "rewards.report_trigger",
        ]

    def test_the_reward_tasks_take_their_intents(self, store, fake_store, monkeypatch) -> None:
        """rewards.fulfil_reward and rewards.report_trigger, run for real, leave nothing to relay."""
        import tasks.rewards
        from worker.runtime import celery_app

        for module in (celery_app, tasks.rewards):
            monkeypatch.setattr(module, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.rewards, "fulfil_reward", lambda *args: "pending")
        monkeypatch.setattr(tasks.rewards, "report_trigger", lambda *args: True)
        monkeypatch.setattr(tasks.rewards, "wix_client", lambda: NO_WIX)
        outcome = spend(store, "order-1", "60")
        for intent in intents_in(fake_store).values():
            getattr(tasks.rewards, intent["task"].split(".")[1] + "_task")(**intent["kwargs"])
        assert intents_in(fake_store) == {}
        assert outcome.reward_logs


class TestRelay:
    def test_nothing_is_sent_before_its_time_then_everything_not_taken(self, store, fake_store) -> None:
        """Younger than the first wait: left alone; older: sent, each once."""
        spend(store, "order-1", "60")
        follow_ups = RecordedDispatcher()
        assert outbox.relay(fake_store, follow_ups.resend, time.time() + 10) == 0
        assert outbox.relay(fake_store, follow_ups.resend, time.time() + outbox.RESEND_AFTER_SECONDS + 1) == 3
        assert sorted(task for task, _, _ in follow_ups.resent) == [
            "rewards.fulfil_reward",
            "rewards.report_trigger",
            "rewards.report_trigger",
        ]

    def test_resends_back_off(self, store, fake_store) -> None:
        """After a resend the next waits twice as long, and so on, capped at an hour."""
        spend(store, "order-1", "60")
        follow_ups = RecordedDispatcher()
        start = time.time()
        first = outbox.RESEND_AFTER_SECONDS
        assert outbox.relay(fake_store, follow_ups.resend, start + first) == 3
        assert outbox.relay(fake_store, follow_ups.resend, start + first + 2 * first - 1) == 0
        # A millisecond over: `(start + 90) + 180 - (start + 90)` may round a hair under 180 at today's epoch.
        assert outbox.relay(fake_store, follow_ups.resend, start + first + 2 * first + 0.001) == 3
        assert all(entry["sends"] == 2 for entry in intents_in(fake_store).values())
        fake_store.delete(MEMBER_OUTBOX)
        fake_store.hset(
            MEMBER_OUTBOX,
            "x",
            json.dumps({"task": "t", "kwargs": {}, "queue": "q", "at": start, "sends": 30}),
        )
        assert outbox.relay(fake_store, RecordedDispatcher().resend, start + outbox.RESEND_MAX_SECONDS) == 1

    def test_a_failed_send_keeps_the_intent_for_the_next_run(self, store, fake_store) -> None:
        """The broker refuses: the run stops, nothing is marked sent, the next run sends it."""
        spend(store, "order-1", "60")

        def refuse(task: str, kwargs: dict[str, Any], queue: str) -> None:
            raise ConnectionError("broker down")

        later = time.time() + 120
        with pytest.raises(ConnectionError):
            outbox.relay(fake_store, refuse, later)
        assert all(entry["sends"] == 0 for entry in intents_in(fake_store).values())
        assert outbox.relay(fake_store, RecordedDispatcher().resend, later) == 3

    def test_an_intent_taken_while_the_relay_sends_is_not_brought_back(self, store, fake_store) -> None:
        """Marking an intent sent never writes one a task has taken meanwhile."""
        outcome = spend(store, "order-1", "60")
        taken = outbox.fulfil_intent_id(
            next(r["id"] for r in outcome.reward_logs if r["milestoneId"] == "fifty")
        )

        def send_and_take(task: str, kwargs: dict[str, Any], queue: str) -> None:
            fake_store.hdel(MEMBER_OUTBOX, taken)

        outbox.relay(fake_store, send_and_take, time.time() + 120)
        assert taken not in intents_in(fake_store)

    def test_an_empty_outbox_leaves_the_index_after_the_grace(self, store, fake_store) -> None:
        """All taken: the index entry stays through the grace (a writer may be between its index and
        its MULTI), then goes; one indexed again meanwhile stays."""
        spend(store, "order-1", "60")
        fake_store.delete(MEMBER_OUTBOX)
        relay_at = time.time() + 10
        outbox.relay(fake_store, RecordedDispatcher().resend, relay_at)
        assert fake_store.zscore(keys.OUTBOX_INDEX, MEMBER_OUTBOX) is not None
        outbox.relay(fake_store, RecordedDispatcher().resend, relay_at + outbox.INDEX_GRACE_SECONDS)
        assert fake_store.zscore(keys.OUTBOX_INDEX, MEMBER_OUTBOX) is None

    def test_an_index_entry_renewed_meanwhile_is_kept(self, fake_store) -> None:
        """The conditional removal compares the score the relay read with the one stored now."""
        fake_store.zadd(keys.OUTBOX_INDEX, {"wrw:{i:c}:outbox": 1000.5})
        fake_store.zadd(keys.OUTBOX_INDEX, {"wrw:{i:c}:outbox": 2000.25})
        fake_store.eval(outbox._UNINDEX, 1, keys.OUTBOX_INDEX, "wrw:{i:c}:outbox", repr(1000.5))
        assert fake_store.zscore(keys.OUTBOX_INDEX, "wrw:{i:c}:outbox") == 2000.25
        fake_store.eval(outbox._UNINDEX, 1, keys.OUTBOX_INDEX, "wrw:{i:c}:outbox", repr(2000.25))
        assert fake_store.zscore(keys.OUTBOX_INDEX, "wrw:{i:c}:outbox") is None


class TestDuplicates:
    def test_a_duplicate_sends_the_originals_pending_intents_at_once(self, store, fake_store) -> None:
        """The original's sends were lost: its duplicate sends both reports and the fulfilment now."""
        spend(store, "order-1", "60")
        again = spend(store, "order-1", "60")
        assert again.duplicate
        follow_ups = RecordedDispatcher()
        send_follow_ups(follow_ups, fake_store, INSTANCE, again)
        assert sorted(task for task, _, _ in follow_ups.resent) == [
            "rewards.fulfil_reward",
            "rewards.report_trigger",
            "rewards.report_trigger",
        ]
        assert follow_ups.sent == [] and follow_ups.reports == []

    def test_a_duplicate_after_the_tasks_took_them_sends_nothing(self, store, fake_store) -> None:
        """Taken intents are the tasks' now: a duplicate adds nothing."""
        first = spend(store, "order-1", "60")
        for intent_id in list(intents_in(fake_store)):
            outbox.take(fake_store, MEMBER_OUTBOX, intent_id)
        follow_ups = RecordedDispatcher()
        send_follow_ups(follow_ups, fake_store, INSTANCE, spend(store, "order-1", "60"))
        assert follow_ups.resent == []
        assert first.reward_logs

    def test_a_new_log_sends_its_follow_ups_as_before(self, store, fake_store) -> None:
        """Not a duplicate: the report and the fulfilment go through Dispatcher.report and .fulfil."""
        outcome = spend(store, "order-1", "60")
        follow_ups = RecordedDispatcher()
        send_follow_ups(follow_ups, fake_store, INSTANCE, outcome)
        [coupon] = [r["id"] for r in outcome.reward_logs if r["milestoneId"] == "fifty"]
        assert (INSTANCE, coupon) in follow_ups.sent
        assert follow_ups.resent == []


class TestEventPath:
    def test_a_webhooks_failed_follow_up_send_is_relayed(self, fake_store) -> None:
        """The event task's sends fail (broker refuses) and the event settles: the outbox still has the
        reward's fulfilment, and the relay sends it."""
        from tests import wix_samples
        from worker.events.processing import process_event
        from worker.store.journal import EventJournal

        store = ProgressStore(fake_store)
        rule = {
            "on": "order_paid",
            "challenge": "spend-100",
            "activityId": "order_paid",
            "value": "order.total",
        }
        store.save_program(INSTANCE, {**PROGRAM, "rules": [rule]})

        class Refusing(RecordedDispatcher):
            def fulfil(self, instance_id: str, reward_log_ids: Any) -> None:
                raise ConnectionError("broker down")

        payload = wix_samples.payment_status_updated()
        payload["eventTime"] = "2026-11-20T11:59:00Z"
        payload["actionEvent"]["body"]["order"]["priceSummary"]["total"]["amount"] = "60.00"
        status = process_event(
            EventJournal(fake_store, 3600),
            fake_store,
            event_type="wix.ecom.v1.order_payment_status_updated",
            instance_id=INSTANCE,
            event_id=payload["id"],
            data=json.dumps(payload),
            our_app_id="ours",
            claim_ttl_seconds=3600,
            now=NOW,
            follow_ups=Refusing(),
        )
        assert status == "processed"
        contact = payload["actionEvent"]["body"]["order"]["buyerInfo"]["contactId"]
        [coupon] = [r for r in store.member_reward_logs(INSTANCE, contact) if r["milestoneId"] == "fifty"]
        follow_ups = RecordedDispatcher()
        outbox.relay(fake_store, follow_ups.resend, time.time() + 120)
        assert (
            "rewards.fulfil_reward",
            {"instance_id": INSTANCE, "reward_log_id": coupon["id"]},
            "rewards",
        ) in follow_ups.resent


class TestPointsSyncInbound:
    KWARGS: dict[str, Any] = {
        "instance_id": INSTANCE,
        "contact_id": "c1",
        "transaction_id": "ext-1",
        "amount": 25,
        "description": "Store card bonus",
    }

    def accept(self, client: redis.Redis) -> str:
        from worker.sync.points import accept_inbound

        return accept_inbound(
            client,
            webhook_id="msg_1",
            instance_id=INSTANCE,
            transaction_id="ext-1",
            contact_id="c1",
            amount=25,
            ttl_seconds=3600,
            description="Store card bonus",
        )

    def test_an_accepted_change_whose_sender_died_is_relayed_then_taken(
        self, fake_store, monkeypatch
    ) -> None:
        """Accepted (the sender's retry would be `replayed`) and never queued: the relay sends the apply
        task with the route's arguments; the task, once it runs, takes it."""
        import tasks.points_sync

        assert self.accept(fake_store) == "queued"
        follow_ups = RecordedDispatcher()
        assert outbox.relay(fake_store, follow_ups.resend, time.time() + 120) == 1
        assert follow_ups.resent == [("sync.apply_external_points", self.KWARGS, "rewards")]
        monkeypatch.setattr(tasks.points_sync, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.points_sync, "wix_client", lambda: NO_WIX)
        monkeypatch.setattr(tasks.points_sync, "apply_external_points", lambda *args, **kwargs: "applied")
        assert tasks.points_sync.apply_external_points_task.apply(kwargs=self.KWARGS).get() == "applied"
        assert fake_store.hlen(keys.sync_outbox(INSTANCE)) == 0

    def test_a_duplicate_transaction_writes_no_second_intent(self, fake_store) -> None:
        """The same transaction again (another webhook-id) is a duplicate: one intent, sent once."""
        from worker.sync.points import accept_inbound

        assert self.accept(fake_store) == "queued"
        again = accept_inbound(
            fake_store, webhook_id="msg_2", instance_id=INSTANCE, transaction_id="ext-1",
            contact_id="c1", amount=99, ttl_seconds=3600, description="other",
        )  # fmt: skip
        assert again == "duplicate"
        assert list(fake_store.hgetall(keys.sync_outbox(INSTANCE))) == ["sync-in:ext-1"]

    def test_a_refused_send_releases_the_intent_with_the_claims(self, fake_store) -> None:
        """The route answers 503 and releases: the sender's retry brings it; the relay sends nothing."""
        from worker.sync.points import release_inbound

        self.accept(fake_store)
        release_inbound(fake_store, webhook_id="msg_1", instance_id=INSTANCE, transaction_id="ext-1")
        assert outbox.relay(fake_store, RecordedDispatcher().resend, time.time() + 120) == 0
        assert self.accept(fake_store) == "queued"


class TestTheEventTaskIsItsOwnOutbox:
    """Earns, outbound sync and released points are sent by the event task before it settles; the task
    is acknowledged late, so a failed send must fail the run (to be retried), never be swallowed."""

    def test_a_refused_earn_fails_the_run_and_the_retry_sends_it(self, fake_store) -> None:
        """The broker refuses the earn: the event is not settled; run again, it is sent and settled."""
        import kombu.exceptions

        from tests import wix_samples
        from worker.events.processing import process_event
        from worker.runtime.celery_app import TRANSIENT_ERRORS
        from worker.store.journal import EventJournal

        assert kombu.exceptions.OperationalError in TRANSIENT_ERRORS  # retried with backoff, then parked
        ProgressStore(fake_store).save_program(
            INSTANCE, {**PROGRAM, "pointsRules": [{"on": "checkout_completed", "points": 1, "per": 10}]}
        )

        class Refusing(RecordedDispatcher):
            def earn(self, instance_id: str, earns: Any) -> None:
                raise kombu.exceptions.OperationalError("broker down")

        payload = wix_samples.checkout_completed()
        journal = EventJournal(fake_store, 3600)

        def run(follow_ups: RecordedDispatcher) -> str:
            return process_event(
                journal, fake_store, event_type="wix.ecom.v1.checkout_completed", instance_id=INSTANCE,
                event_id=payload["id"], data=json.dumps(payload), our_app_id="ours", claim_ttl_seconds=3600,
                now=NOW, follow_ups=follow_ups,
            )  # fmt: skip

        with pytest.raises(kombu.exceptions.OperationalError):
            run(Refusing())
        assert not journal.is_settled(INSTANCE, payload["id"])
        follow_ups = RecordedDispatcher()
        assert run(follow_ups) == "processed"
        assert [earn.idempotency_key for _, earn in follow_ups.earns] == [
            f"wrw:checkout_completed:{payload['actionEvent']['body']['checkout']['id']}:0"
        ]

    def test_points_that_waited_go_when_a_rerun_finds_the_program_active(self, fake_store) -> None:
        """The program's ACTIVE status was recorded but the run died before releasing what waited: the
        redelivered event (or any later ACTIVE one) releases it."""
        from worker.events.processing import process_event
        from worker.loyalty.points_gate import park_reward, record_program_status
        from worker.store.journal import EventJournal

        record_program_status(fake_store, INSTANCE, "PAUSED")
        park_reward(fake_store, INSTANCE, "rl_0123456789abcdef01234567")
        record_program_status(fake_store, INSTANCE, "ACTIVE")  # ... and the run died here
        from tests import wix_samples

        payload = wix_samples.program_updated(status="ACTIVE")
        follow_ups = RecordedDispatcher()
        process_event(
            EventJournal(fake_store, 3600), fake_store, event_type="wix.loyalty.v1.program_updated",
            instance_id=INSTANCE, event_id=payload["id"], data=json.dumps(payload), our_app_id="ours",
            claim_ttl_seconds=3600, now=NOW, follow_ups=follow_ups,
        )  # fmt: skip
        assert follow_ups.sent == [(INSTANCE, "rl_0123456789abcdef01234567")]


class TestRewardIssuedReport:
    def test_a_redelivered_fulfilment_of_an_issued_reward_reports_it_again(
        self, store, fake_store, monkeypatch
    ) -> None:
        """The worker died between issuing and sending reward_issued: the redelivered task finds the log
        issued, calls no Wix, and sends the report (Wix drops a repeat by its idempotency key)."""
        import tasks.rewards
        from worker.progress.record import issue_reward
        from worker.runtime import celery_app

        for module in (celery_app, tasks.rewards):
            monkeypatch.setattr(module, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.rewards, "wix_client", lambda: NO_WIX)  # any Wix call would fail
        follow_ups = RecordedDispatcher()
        monkeypatch.setattr(tasks.rewards, "CeleryDispatcher", lambda: follow_ups)
        [coupon] = [r for r in spend(store, "order-1", "60").reward_logs if r["milestoneId"] == "fifty"]
        issue_reward(
            fake_store, INSTANCE, coupon["id"], coupon_code="RW-1", issued_at=NOW,
            expiry_at=datetime(2027, 1, 1, tzinfo=UTC), now=NOW,
        )  # fmt: skip
        kwargs = {"instance_id": INSTANCE, "reward_log_id": coupon["id"]}
        assert tasks.rewards.fulfil_reward_task.apply(kwargs=kwargs).get() == "issued"
        assert follow_ups.reports == [(INSTANCE, "reward_issued", coupon["id"])]


class TestMessagesLostOnTheirWay:
    """A worker SIGKILLed between kombu's BRPOP and its `unacked` write loses the message it took (found
    by `make chaos`): the tasks the event and fulfilment tasks send are put in the outbox first."""

    def test_a_points_rules_earn_is_relayed_until_its_task_takes_it(self, fake_store, monkeypatch) -> None:
        """The checkout's earn is sent, its message lost: the relay sends it again; once the earn task
        has run, nothing is left to relay."""
        import tasks.rewards
        from tests import wix_samples
        from worker.events.processing import process_event
        from worker.store.journal import EventJournal

        ProgressStore(fake_store).save_program(
            INSTANCE, {**PROGRAM, "pointsRules": [{"on": "checkout_completed", "points": 1, "per": 10}]}
        )
        instances.record_installed(fake_store, INSTANCE, NOW)  # a site we know: no install task
        payload = wix_samples.checkout_completed()
        follow_ups = RecordedDispatcher()  # sends nowhere: the message is lost
        process_event(
            EventJournal(fake_store, 3600), fake_store, event_type="wix.ecom.v1.checkout_completed",
            instance_id=INSTANCE, event_id=payload["id"], data=json.dumps(payload), our_app_id="ours",
            claim_ttl_seconds=3600, now=NOW, follow_ups=follow_ups,
        )  # fmt: skip
        [(_, earn)] = follow_ups.earns
        relayed = RecordedDispatcher()
        assert outbox.relay(fake_store, relayed.resend, time.time() + outbox.RESEND_AFTER_SECONDS + 1) == 1
        [(task, kwargs, queue)] = relayed.resent
        assert (task, queue) == ("rewards.earn_points", "rewards")
        assert kwargs == {"instance_id": INSTANCE, **asdict(earn)}

        earned: list[str] = []
        monkeypatch.setattr(tasks.rewards, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.rewards, "wix_client", lambda: NO_WIX)
        monkeypatch.setattr(tasks.rewards, "earn_points", lambda *args: earned.append(args[4]))
        reports = RecordedDispatcher()  # the points_earned report's message is lost too
        monkeypatch.setattr(tasks.rewards, "CeleryDispatcher", lambda: reports)
        tasks.rewards.earn_points_task.apply(kwargs=kwargs).get()
        assert earned == [earn.idempotency_key]
        [(task, report, _)] = reports.resent
        assert (task, report["trigger_key"]) == ("rewards.report_event", "points_earned")
        later = time.time() + 10 * outbox.RESEND_MAX_SECONDS
        relayed.resent.clear()
        assert outbox.relay(fake_store, relayed.resend, later) == 1  # only the report: the earn was taken
        assert [entry[0] for entry in relayed.resent] == ["rewards.report_event"]
        monkeypatch.setattr(tasks.rewards, "report_event", lambda *args: [])
        tasks.rewards.report_event_task.apply(kwargs=report).get()
        assert outbox.relay(fake_store, relayed.resend, later) == 0

    def test_reward_issued_is_relayed_until_its_report_task_takes_it(
        self, store, fake_store, monkeypatch
    ) -> None:
        """The fulfilment issues the coupon and sends reward_issued, whose message is lost: the relay
        sends it; the report task takes it."""
        import tasks.rewards
        from worker.runtime import celery_app

        for module in (celery_app, tasks.rewards):
            monkeypatch.setattr(module, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.rewards, "wix_client", lambda: NO_WIX)
        monkeypatch.setattr(tasks.rewards, "fulfil_reward", lambda *args: "issued")
        monkeypatch.setattr(tasks.rewards, "CeleryDispatcher", RecordedDispatcher)  # the report is lost
        [coupon] = [r for r in spend(store, "order-1", "60").reward_logs if r["milestoneId"] == "fifty"]
        for intent_id in intents_in(fake_store):  # the first sends: taken by their tasks
            outbox.take(fake_store, MEMBER_OUTBOX, intent_id)
        assert intents_in(fake_store) == {}
        kwargs = {"instance_id": INSTANCE, "reward_log_id": coupon["id"]}
        assert tasks.rewards.fulfil_reward_task.apply(kwargs=kwargs).get() == "issued"

        relayed = RecordedDispatcher()
        assert outbox.relay(fake_store, relayed.resend, time.time() + outbox.RESEND_AFTER_SECONDS + 1) == 1
        report = {"instance_id": INSTANCE, "trigger_key": "reward_issued", "reward_log_id": coupon["id"]}
        assert relayed.resent == [("rewards.report_trigger", report, "rewards")]
        monkeypatch.setattr(tasks.rewards, "report_trigger", lambda *args: True)
        tasks.rewards.report_trigger_task.apply(kwargs=report).get()
        assert intents_in(fake_store) == {}
