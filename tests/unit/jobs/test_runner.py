"""Jobs: started once per name, run batch by batch from a cursor, watched through one record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.logs import accept_log
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs, UnknownJob
from worker.progress.record import issue_reward
from worker.runtime.providers import job_context
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.web.app import create_app

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # dates here must hold on any day: see tests/clock.py

NOW = datetime.now(UTC)


def reward_logs(fake_store, count: int, *, expired: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` members each reach the halfway milestone; the first `expired` rewards are issued with an
    expiry in the past, the rest with one in the future."""
    store = ProgressStore(fake_store)
    store.save_program("inst-1", BASE_PROGRAM)
    program = store.program("inst-1")
    challenge = program.challenge("spend-500")
    ids = []
    for n in range(count):
        log = accept_log(
            challenge, contact_id=f"c{n}", activity_id="order_paid", activity_value=300,
            activity_at=NOW - timedelta(days=1), unique_identifier=f"o{n}", now=NOW,
        )  # fmt: skip
        [reward_log] = store.record("inst-1", program, challenge, log, NOW).reward_logs
        expiry = NOW - timedelta(hours=1) if n < expired else NOW + timedelta(days=10)
        issue_reward(
            fake_store, "inst-1", reward_log["id"], coupon_code=f"C{n}",
            issued_at=NOW - timedelta(days=30), expiry_at=expiry, now=NOW,
        )  # fmt: skip
        ids.append(reward_log["id"])
    return ids


class TestJobs:
    def test_a_running_job_is_answered_instead_of_a_second_one(self, fake_store) -> None:
        """Starting the same job twice gives the running one."""
        jobs = Jobs(fake_store, KINDS)
        first, new = jobs.start("inst-1", "expire-rewards")
        again, new_again = jobs.start("inst-1", "expire-rewards")
        assert new and not new_again
        assert again["id"] == first["id"]
        assert first["status"] == "running"

    def test_an_unknown_job_is_refused(self, fake_store) -> None:
        """Only the jobs there are."""
        with pytest.raises(UnknownJob, match="expire-rewards"):
            Jobs(fake_store, KINDS).start("inst-1", "nope")

    def test_expire_rewards_runs_in_batches_to_the_end(self, fake_store) -> None:
        """250 reward logs, 40 past their expiry, among 600 index entries (the others' logs gone): batches
        until done, the 40 expired, counts add up."""
        ids = reward_logs(fake_store, 250, expired=40)
        # More entries than a real Redis scans in one HSCAN (it answers a hash of up to 512 whole).
        fake_store.hset(keys.reward_index("inst-1"), mapping={f"rl_gone_{n}": "c-gone" for n in range(350)})
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "expire-rewards")
        batches = 1
        while (
            batch := jobs.run_batch(record["id"], NOW, job_context(fake_store))
        ) is not None and batch.cursor is not None:
            batches += 1
        finished: dict[str, Any] = jobs.get(record["id"])  # type: ignore[assignment]
        assert batches >= 2
        assert finished["status"] == "succeeded"
        assert finished["total"] == 600
        assert finished["done"] == 40
        assert finished["done"] + finished["skipped"] == 600
        assert finished["finishedAt"]
        store = ProgressStore(fake_store)
        statuses = [store.reward_log("inst-1", reward_id)["status"] for reward_id in ids]
        assert statuses.count("expired") == 40
        assert jobs.start("inst-1", "expire-rewards")[1]  # the name is free again

    def test_a_batch_done_twice_expires_nothing_twice(self, fake_store) -> None:
        """A redelivered batch (the worker died before moving the cursor) changes nothing more."""
        reward_logs(fake_store, 10, expired=10)
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "expire-rewards")
        again = KINDS["expire-rewards"](job_context(fake_store), jobs.get(record["id"]), NOW)  # type: ignore[arg-type]
        assert again.done == 10
        assert KINDS["expire-rewards"](job_context(fake_store), jobs.get(record["id"]), NOW).done == 0  # type: ignore[arg-type]


class TestJobRoutes:
    def test_start_and_watch_over_the_admin_api(self, fake_async, fake_store) -> None:
        """202 with the job; the same name again answers it; GET shows it; another instance's is 404."""
        follow_ups = RecordedDispatcher()
        settings = Settings(redis_url="redis://unused", admin_token="admin-secret", _env_file=None)  # type: ignore[call-arg]
        client = TestClient(
            create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=follow_ups)
        )
        admin = {"authorization": "Bearer admin-secret"}
        started = client.post(
            "/admin/v1/instances/inst-1/jobs", json={"name": "expire-rewards"}, headers=admin
        )
        assert started.status_code == 202
        job = started.json()
        assert follow_ups.jobs == [(job["id"], "periodic")]
        again = client.post("/admin/v1/instances/inst-1/jobs", json={"name": "expire-rewards"}, headers=admin)
        assert again.json()["id"] == job["id"]
        assert len(follow_ups.jobs) == 1
        assert (
            client.get(f"/admin/v1/instances/inst-1/jobs/{job['id']}", headers=admin).json()["status"]
            == "running"
        )
        assert client.get(f"/admin/v1/instances/inst-2/jobs/{job['id']}", headers=admin).status_code == 404
        unknown = client.post("/admin/v1/instances/inst-1/jobs", json={"name": "nope"}, headers=admin)
        assert unknown.status_code == 404


class PausedProgramWix:
    def get_loyalty_program(self, instance_id: str) -> dict[str, Any]:
        return {"status": "PAUSED"}

    def query_contacts(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no contacts are read while the program is paused")


class TestBootstrap:
    def test_a_paused_program_is_left_paused_and_the_job_says_so(self, fake_store, monkeypatch) -> None:
        """Bootstrap does not activate a PAUSED program; it ends at once with the reason."""
        import worker.runtime.providers

        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: PausedProgramWix())
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        batch = jobs.run_batch(record["id"], NOW, job_context(fake_store))
        assert batch is not None and batch.cursor is None
        finished = jobs.get(record["id"])
        assert finished["status"] == "succeeded"
        assert finished["failures"] == ["the loyalty program is PAUSED: left as it is, no accounts created"]

    def test_the_status_read_makes_points_wait_and_an_activation_releases_them(
        self, fake_store, monkeypatch
    ) -> None:
        """The program read at bootstrap keeps the status as a program_updated event would: PAUSED makes
        points wait; a DRAFT program activated by the bootstrap sends what waited."""
        import worker.runtime.dispatcher
        import worker.runtime.providers
        from worker.loyalty.points_gate import park_earns, points_wait_reason
        from worker.loyalty.points_rules import PointsEarn

        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: PausedProgramWix())
        jobs = Jobs(fake_store, KINDS)
        jobs.run_batch(jobs.start("inst-1", "bootstrap")[0]["id"], NOW, job_context(fake_store))
        assert points_wait_reason(fake_store, "inst-1") is not None
        park_earns(fake_store, "inst-1", [PointsEarn("c1", 5, "wrw:checkout_completed:k1:0", "5 points")])

        draft = DraftProgramWix()
        sent = RecordedDispatcher()
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: draft)
        monkeypatch.setattr(worker.runtime.dispatcher, "CeleryDispatcher", lambda: sent)
        jobs.run_batch(jobs.start("inst-1", "bootstrap")[0]["id"], NOW, job_context(fake_store))

        assert draft.activated
        assert points_wait_reason(fake_store, "inst-1") is None
        assert [earn.idempotency_key for _, earn in sent.earns] == ["wrw:checkout_completed:k1:0"]


class DraftProgramWix:
    """A DRAFT program (activated when asked) and no contacts."""

    def __init__(self) -> None:
        self.activated = False

    def get_loyalty_program(self, instance_id: str) -> dict[str, Any]:
        return {"status": "DRAFT"}

    def activate_loyalty_program(self, instance_id: str) -> dict[str, Any]:
        self.activated = True
        return {"status": "ACTIVE"}

    def query_contacts(self, *args: Any, **kwargs: Any) -> Any:
        return [], 0


class BudgetedWix:
    """Contacts c0..c9 without accounts, and a Wix budget that runs out after `budget` calls."""

    retry_base = 0.0  # tries again in place at once

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.accounts: set[str] = set()

    def _spend(self) -> None:
        from worker.wix.client import WixRateLimited

        if self.budget == 0:
            raise WixRateLimited("spent", retry_after=7.0)
        self.budget -= 1

    def get_loyalty_program(self, instance_id: str) -> dict[str, Any]:
        return {"status": "ACTIVE"}

    def query_contacts(
        self, instance_id: str, *, offset: int, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        return [{"id": f"c{n}"} for n in range(offset, 10)][:limit], 10

    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> dict[str, Any] | None:
        self._spend()
        return {"id": contact_id} if contact_id in self.accounts else None

    def create_loyalty_account(self, instance_id: str, contact_id: str) -> dict[str, Any]:
        self._spend()
        self.accounts.add(contact_id)
        return {"id": contact_id}


class TestBootstrapUnderTheLimit:
    def test_a_spent_budget_keeps_the_batchs_progress_and_waits(self, fake_store, monkeypatch) -> None:
        """Budget for three contacts: the batch stops there, keeps its cursor, and asks to wait."""
        import worker.jobs.registry
        import worker.runtime.providers

        wix = BudgetedWix(budget=6)
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
        monkeypatch.setattr(worker.jobs.registry, "INLINE_WAIT_SECONDS", 0.0)  # too long to wait in place
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        batch = jobs.run_batch(record["id"], NOW, job_context(fake_store))
        assert batch is not None
        assert (batch.done, batch.cursor, batch.wait_seconds) == (3, "3", 7.0)
        wix.budget = 100
        while (
            batch := jobs.run_batch(record["id"], NOW, job_context(fake_store))
        ) is not None and batch.cursor is not None:
            pass
        finished = jobs.get(record["id"])
        assert (finished["status"], finished["done"], finished["skipped"]) == ("succeeded", 10, 0)
        assert wix.accounts == {f"c{n}" for n in range(10)}

    def test_a_slot_freeing_soon_is_waited_for_in_place(self, fake_store, monkeypatch) -> None:
        """When the limiter says a slot frees within the minute, the batch waits and goes on."""
        import worker.jobs.registry
        import worker.runtime.providers

        wix = BudgetedWix(budget=6)
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            wix.budget = 100  # the window moved on

        monkeypatch.setattr(worker.jobs.registry.time, "sleep", wait)
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        batch = jobs.run_batch(record["id"], NOW, job_context(fake_store))
        assert batch is not None and batch.cursor is None
        assert waits == [7.0]
        assert jobs.get(record["id"])["done"] == 10


class FlakyWix(BudgetedWix):
    """Contacts c0..c9; `fail_creates` creations fail for now first: `lost` ones after Wix made the
    account (a lost answer), the rest before; `fail_pages` page queries fail for now first."""

    def __init__(self, *, fail_creates: int = 0, lost: bool = False, fail_pages: int = 0) -> None:
        super().__init__(budget=10_000)
        self.fail_creates, self.lost, self.fail_pages = fail_creates, lost, fail_pages
        self.created: list[str] = []

    def query_contacts(
        self, instance_id: str, *, offset: int, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        from worker.wix.client import WixTransientError

        if self.fail_pages:
            self.fail_pages -= 1
            raise WixTransientError("POST /contacts/v4/contacts/query: Wix answered 503", status=503)
        return super().query_contacts(instance_id, offset=offset, limit=limit)

    def create_loyalty_account(self, instance_id: str, contact_id: str) -> dict[str, Any]:
        from worker.wix.client import WixTransientError

        if self.fail_creates:
            self.fail_creates -= 1
            if self.lost:
                super().create_loyalty_account(instance_id, contact_id)
                self.created.append(contact_id)
            raise WixTransientError("POST /loyalty-accounts/v1/accounts: Wix answered 500", status=500)
        self.created.append(contact_id)
        return super().create_loyalty_account(instance_id, contact_id)


def run_through(jobs: Jobs, job_id: str, limit: int = 100) -> list[Any]:
    batches = []
    for _ in range(limit):
        batch = jobs.run_batch(job_id, NOW, job_context(jobs._redis))
        if batch is None:
            break
        batches.append(batch)
        if batch.cursor is None:
            break
    return batches


class TestJobsThroughPassingFailures:
    @pytest.fixture(autouse=True)
    def no_waiting(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        import worker.jobs.registry

        monkeypatch.setattr(worker.jobs.registry.time, "sleep", lambda seconds: None)

    def test_a_lost_answer_opens_the_account_once_and_counts_it(self, fake_store, monkeypatch) -> None:
        """Creations whose answers are lost: the contact is done again in place, the account found,
        counted as opened, and made once."""
        import worker.runtime.providers

        wix = FlakyWix(fail_creates=2, lost=True)
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        run_through(jobs, record["id"])
        finished = jobs.get(record["id"])
        assert (finished["status"], finished["done"], finished["skipped"]) == ("succeeded", 10, 0)
        assert sorted(wix.created) == sorted(f"c{n}" for n in range(10))

    def test_a_contact_that_keeps_failing_stalls_the_batch_at_it(self, fake_store, monkeypatch) -> None:
        """Past its tries a contact stops the batch AT it, progress kept, the record waiting with the
        reason; the next batch goes on from it and the job ends with every account once."""
        import worker.runtime.providers
        from worker.wix.client import ITEM_TRIES

        wix = FlakyWix(fail_creates=ITEM_TRIES)  # every try of c0
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        first = jobs.run_batch(record["id"], NOW, job_context(fake_store))
        assert first is not None and (first.done, first.cursor) == (0, "0") and first.wait_seconds > 0
        waiting = jobs.get(record["id"])["waiting"]
        assert "contact c0" in waiting["reason"] and "500" in waiting["reason"] and waiting["stalls"] == 1
        run_through(jobs, record["id"])
        finished = jobs.get(record["id"])
        assert (finished["status"], finished["done"], finished["failed"], finished["waiting"]) == (
            "succeeded", 10, 0, None,
        )  # fmt: skip
        assert sorted(wix.created) == sorted(f"c{n}" for n in range(10))

    def test_progress_starts_the_budget_afresh(self, fake_store, monkeypatch) -> None:
        """Failures that let each batch progress a little never fail the job, however many in all."""
        import worker.jobs.runner

        calls = {"n": 0}

        def one_then_stall(client: Any, record: dict[str, Any], now: datetime) -> Any:
            calls["n"] += 1
            done = int(record["cursor"] or 0)
            if done == 20:
                return worker.jobs.runner.Batch(1, 0, [], None)
            if calls["n"] % 2:  # every other batch does one item, then stalls on the next
                return worker.jobs.runner.Batch(1, 0, [], str(done + 1), stalled="item: Wix answered 500")
            return worker.jobs.runner.Batch(0, 0, [], str(done), stalled="item: Wix answered 500")

        jobs = Jobs(fake_store, {"flaky": one_then_stall})
        record, _ = jobs.start("inst-1", "flaky")
        run_through(jobs, record["id"])
        finished = jobs.get(record["id"])
        assert (finished["status"], finished["done"]) == ("succeeded", 21)
        assert calls["n"] > worker.jobs.runner.MAX_STALLS * 2

    def test_no_progress_for_max_stalls_fails_the_job_saying_why(self, fake_store, monkeypatch) -> None:
        """A page query failing batch after batch: the job fails after MAX_STALLS tries, its last failure
        naming the call and Wix's answer; the waits grew between tries."""
        import worker.jobs.runner
        import worker.runtime.providers

        wix = FlakyWix(fail_pages=1000)
        monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: wix)
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start("inst-1", "bootstrap")
        batches = run_through(jobs, record["id"])
        finished = jobs.get(record["id"])
        assert finished["status"] == "failed" and finished["waiting"] is None
        assert len(batches) == worker.jobs.runner.MAX_STALLS + 1
        assert "POST /contacts/v4/contacts/query: Wix answered 503" in finished["failures"][-1]
        assert "gave up after" in finished["failures"][-1]
        waits = [batch.wait_seconds for batch in batches[:-1]]
        assert waits[0] <= 2 and waits[-1] > waits[0] and max(waits) <= worker.jobs.runner.STALL_BACKOFF_MAX
        assert jobs.start("inst-1", "bootstrap")[1] is True  # the name is free again


class TestAStuckJob:
    def test_a_spent_budget_is_waited_for_and_never_counts_as_a_stall(self, fake_store) -> None:
        """A page query refused by our own rate limit, batch after batch: the job waits, never fails."""
        import worker.jobs.runner
        from worker.wix.client import WixRateLimited

        def spent(client: Any, record: dict[str, Any], now: datetime) -> Any:
            raise WixRateLimited("spent", retry_after=30.0)

        jobs = Jobs(fake_store, {"spent": spent})
        record, _ = jobs.start("inst-1", "spent")
        for _ in range(worker.jobs.runner.MAX_STALLS * 2):
            batch = jobs.run_batch(record["id"], NOW, job_context(fake_store))
            assert batch is not None and batch.wait_seconds == 30.0
        waiting = jobs.get(record["id"])
        assert (waiting["status"], waiting["stalls"]) == ("running", 0)
        assert "rate limit" in waiting["waiting"]["reason"]

    def test_a_stuck_job_is_parked_and_a_replay_resumes_it_where_it_stopped(
        self, fake_store, monkeypatch
    ) -> None:
        """A job stuck on item 5 fails with the reason and its cursor, its task is parked with
        `resume`; replayed once Wix is back, it goes on from item 5 and succeeds."""
        import tasks.jobs
        import worker.jobs.runner
        from worker.runtime import celery_app
        from worker.store.dead_letters import DeadLetters

        wix_down = {"yes": True}

        def items(client: Any, record: dict[str, Any], now: datetime) -> Any:
            at = int(record["cursor"] or 0)
            if at == 5 and wix_down["yes"]:
                return worker.jobs.runner.Batch(0, 0, [], "5", stalled="item 5: POST /x: Wix answered 503")
            return worker.jobs.runner.Batch(1, 0, [], str(at + 1) if at < 9 else None)

        jobs = Jobs(fake_store, {"items": items})
        for module in (celery_app, tasks.jobs):
            monkeypatch.setattr(module, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.jobs, "_jobs", lambda: jobs)
        monkeypatch.setattr(tasks.jobs, "send_batch", lambda job_id, name, wait=0.0: None)
        record, _ = jobs.start("inst-1", "items")
        with pytest.raises(tasks.jobs.JobStuck) as stuck:
            for _ in range(50):
                tasks.jobs.run_job_batch_task.run(job_id=record["id"])
        assert "item 5" in str(stuck.value) and "503" in str(stuck.value)
        failed = jobs.get(record["id"])
        assert (failed["status"], failed["cursor"], failed["done"]) == ("failed", "5", 5)
        tasks.jobs.run_job_batch_task.on_failure(stuck.value, "task-1", (), {"job_id": record["id"]}, None)
        [parked] = DeadLetters(fake_store).list()
        assert parked["kwargs"] == {"job_id": record["id"], "resume": True}
        assert jobs.get(record["id"])["failures"] == failed["failures"]  # said once

        wix_down["yes"] = False
        tasks.jobs.run_job_batch_task.run(**parked["kwargs"])
        for _ in range(10):
            tasks.jobs.run_job_batch_task.run(job_id=record["id"])
        finished = jobs.get(record["id"])
        assert (finished["status"], finished["done"]) == ("succeeded", 10)
