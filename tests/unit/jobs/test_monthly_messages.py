"""`monthly-messages` with fakeredis and a stub Wix: one Inbox message per member and month, in the
program's timezone, whatever dies between the mark and the send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from worker import keys
from worker.engine.program import parse_program
from worker.jobs.monthly_messages import MonthMarks, month_of, month_tag, program_zone
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.runtime.providers import job_context
from worker.settings import Settings
from worker.store.progress import ProgressStore
from worker.wix.client import WixApiError, WixRateLimited, WixTransientError

pytestmark = [
    pytest.mark.calendar,
    pytest.mark.both_stores,
]  # dates here must hold on any day: see tests/clock.py

INSTANCE = "inst-1"
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


class WorkerDied(BaseException):
    """The worker process dies here: nothing after it runs, the batch's progress is never kept."""


class InboxWix:
    """Loyalty accounts, the program and the Inbox, kept in memory; `trouble` makes one send go wrong."""

    retry_base = 0.0  # tries again in place at once

    app_id = "our-app-id"

    def __init__(self, accounts: list[dict[str, Any]], *, status: str = "ACTIVE") -> None:
        self.accounts = accounts
        self.status = status
        self.conversations: dict[str, dict[str, Any]] = {}  # by member id
        self.messages: list[dict[str, Any]] = []  # {"conversationId", "message"}
        self.sends = 0
        self.listed = 0
        self.trouble: dict[int, str] = {}  # send number → "die-before", "die-after", "lost-answer", ...
        self.budget: int | None = None  # calls left before the rate limit is spent

    def _spend(self) -> None:
        if self.budget is not None:
            if self.budget == 0:
                raise WixRateLimited("spent", retry_after=7.0)
            self.budget -= 1

    def get_loyalty_program(self, instance_id: str) -> dict[str, Any]:
        self._spend()
        return {"status": self.status, "pointDefinition": {"customName": "Stars"}}

    def query_loyalty_accounts(
        self, instance_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        self._spend()
        offset = int(cursor or 0)
        more = offset + limit < len(self.accounts)
        return self.accounts[offset : offset + limit], str(offset + limit) if more else None

    def get_or_create_conversation(self, instance_id: str, participant: dict[str, str]) -> dict[str, Any]:
        self._spend()
        member_id = participant["memberId"]
        conversation = self.conversations.setdefault(
            member_id, {"id": f"conv-{member_id}", "participant": dict(participant)}
        )
        return dict(conversation)

    def send_message(self, instance_id: str, conversation_id: str, message: dict[str, Any]) -> dict[str, Any]:
        self._spend()
        self.sends += 1
        trouble = self.trouble.pop(self.sends, None)
        if trouble == "die-before":
            raise WorkerDied
        if trouble == "refused":
            raise WixApiError("POST /inbox/v2/messages: Wix answered 400", status=400)
        if trouble == "throttled":
            raise WixTransientError("POST /inbox/v2/messages: Wix answered 429", status=429, maybe_done=False)
        sent = {
            **message,
            "id": str(len(self.messages) + 1),
            "sender": {"appId": self.app_id},
            "createdDate": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self.messages.append({"conversationId": conversation_id, "message": sent})
        if trouble == "die-after":
            raise WorkerDied
        if trouble == "lost-answer":
            raise WixTransientError("POST /inbox/v2/messages: Wix did not answer in time")
        return sent

    def list_messages(
        self, instance_id: str, conversation_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        self._spend()
        self.listed += 1
        mine = [m["message"] for m in reversed(self.messages) if m["conversationId"] == conversation_id]
        offset = int(cursor or 0)
        more = offset + limit < len(mine)
        return mine[offset : offset + limit], str(offset + limit) if more else None

    def sent_to(self) -> list[str]:
        """The member of every message sent, in order."""
        return [m["conversationId"].removeprefix("conv-") for m in self.messages]


def accounts(members: int, guests: int = 0) -> list[dict[str, Any]]:
    """`members` accounts with a memberId (balances 10, 20, ...), then `guests` without one."""
    made = [
        {"id": f"acc-m{n}", "contactId": f"c-m{n}", "memberId": f"m{n}", "points": {"balance": 10 * (n + 1)}}
        for n in range(members)
    ]
    made += [{"id": f"acc-g{n}", "contactId": f"c-g{n}", "points": {"balance": 5}} for n in range(guests)]
    return made


@pytest.fixture
def wix(monkeypatch) -> InboxWix:  # type: ignore[no-untyped-def]
    import worker.jobs.monthly_messages
    import worker.runtime.providers

    stub = InboxWix(accounts(3, guests=2))
    monkeypatch.setattr(worker.runtime.providers, "wix_client", lambda: stub)
    monkeypatch.setattr(worker.jobs.monthly_messages.time, "sleep", lambda seconds: None)
    return stub


def start(fake_store, *, started_at: datetime = NOW, started_by: str = "hand") -> str:  # type: ignore[no-untyped-def]
    """Start the job as if at `started_at`; its id."""
    record, _ = Jobs(fake_store, KINDS).start(INSTANCE, "monthly-messages", started_by=started_by)
    fake_store.hset(keys.job_record(record["id"]), "startedAt", started_at.isoformat().replace("+00:00", "Z"))
    return str(record["id"])


def run(fake_store, *, started_at: datetime = NOW, started_by: str = "hand") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Start the job and run its batches to the end; the finished record."""
    return finish(fake_store, start(fake_store, started_at=started_at, started_by=started_by))


def finish(fake_store, job_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    jobs = Jobs(fake_store, KINDS)
    for _ in range(50):
        batch = jobs.run_batch(job_id, NOW, job_context(fake_store))
        if batch is None or batch.cursor is None:
            break
    finished = jobs.get(job_id)
    assert finished is not None and finished["status"] != "running", finished
    return finished


class TestTheMonth:
    def test_late_on_the_31st_utc_is_already_the_1st_in_berlin(self) -> None:
        """23:30 UTC on 31 March is April in Berlin, still March in UTC."""
        moment = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
        assert month_of(moment, ZoneInfo("Europe/Berlin")) == "2025-04"
        assert month_of(moment, ZoneInfo("UTC")) == "2025-03"

    def test_the_zone_is_the_programs_or_utc(self, fake_store) -> None:
        """The program document's timezone; no program (or an unknown zone) means UTC."""
        assert program_zone(fake_store, INSTANCE) == ZoneInfo("UTC")
        ProgressStore(fake_store).save_program(INSTANCE, {"timezone": "Europe/Berlin"})
        assert program_zone(fake_store, INSTANCE) == ZoneInfo("Europe/Berlin")
        ProgressStore(fake_store).save_program(INSTANCE, {"timezone": "Mars/Olympus"})
        assert program_zone(fake_store, INSTANCE) == ZoneInfo("UTC")

    def test_a_job_started_at_2330_utc_on_the_31st_counts_as_aprils_in_berlin(self, fake_store, wix) -> None:
        """Messages sent then are April's: a run on 2 April sends nothing more, one in May does."""
        ProgressStore(fake_store).save_program(INSTANCE, {"timezone": "Europe/Berlin"})
        run(fake_store, started_at=datetime(2025, 3, 31, 23, 30, tzinfo=UTC))
        assert MonthMarks(fake_store, INSTANCE, "2025-04").get("m0") is not None
        assert wix.messages[0]["message"]["badges"][0]["text"] == month_tag("2025-04")
        run(fake_store, started_at=datetime(2025, 4, 2, 9, 0, tzinfo=UTC))
        assert len(wix.messages) == 3
        run(fake_store, started_at=datetime(2025, 4, 30, 22, 30, tzinfo=UTC))  # 1 May, 00:30 in Berlin
        assert len(wix.messages) == 6


class TestMonthlyMessages:
    def test_every_member_gets_one_message_with_balance_points_name_and_call_to_action(
        self, fake_store, wix
    ) -> None:
        """Three members, two accounts without a member: three messages; the two counted as skipped."""
        finished = run(fake_store)
        assert (finished["status"], finished["total"], finished["done"], finished["skipped"]) == (
            "succeeded", 5, 3, 2,
        )  # fmt: skip
        assert wix.sent_to() == ["m0", "m1", "m2"]
        assert {c["participant"]["memberId"] for c in wix.conversations.values()} == {"m0", "m1", "m2"}
        message = wix.messages[1]["message"]
        texts = [item["text"] for item in message["content"]["basic"]["items"]]
        assert "20 Stars" in texts[0]
        assert texts[1] == parse_program({}).copy_for()["callToAction"]
        assert message["direction"] == "BUSINESS_TO_PARTICIPANT"
        assert message["badges"] == [{"text": "Monthly balance 2025-03", "badgeVisibility": "BUSINESS"}]

    def test_a_second_run_in_the_same_month_sends_nothing(self, fake_store, wix) -> None:
        """Run twice in March: still three messages; the second run skips every account."""
        run(fake_store)
        again = run(fake_store)
        assert len(wix.messages) == 3
        assert (again["done"], again["skipped"], again["failed"]) == (0, 5, 0)

    def test_the_conversation_is_asked_of_wix_once_per_member(self, fake_store, wix, monkeypatch) -> None:
        """Next month the kept conversation ids are used: only the sends go to Wix."""
        run(fake_store)
        asked: list[str] = []
        original = wix.get_or_create_conversation
        monkeypatch.setattr(
            wix, "get_or_create_conversation", lambda i, p: asked.append(p["memberId"]) or original(i, p)
        )
        run(fake_store, started_at=NOW + timedelta(days=31))
        assert asked == []
        assert len(wix.messages) == 6

    def test_pages_of_accounts_are_followed_to_the_end(self, fake_store, wix) -> None:
        """250 accounts over three pages: 240 members messaged, total 250."""
        wix.accounts = accounts(240, guests=10)
        finished = run(fake_store)
        assert (finished["total"], finished["done"], finished["skipped"]) == (250, 240, 10)
        assert len(set(wix.sent_to())) == 240

    def test_a_program_not_active_sends_nothing_and_says_so(self, fake_store, wix) -> None:
        """A PAUSED Wix program: no message, the reason in the job's failures."""
        wix.status = "PAUSED"
        finished = run(fake_store)
        assert wix.messages == []
        assert finished["failures"] == ["the loyalty program is PAUSED: no balance messages sent"]


class TestCrashes:
    def test_a_worker_dying_after_the_send_does_not_double_it(self, fake_store, wix) -> None:
        """The second send reaches Wix and the worker dies before marking it sent: the batch is done
        again, the message is found in the conversation, and nobody gets two."""
        wix.trouble = {2: "die-after"}
        jobs, job_id = Jobs(fake_store, KINDS), start(fake_store)
        with pytest.raises(WorkerDied):
            jobs.run_batch(job_id, NOW, job_context(fake_store))
        finished = finish(fake_store, job_id)
        assert sorted(wix.sent_to()) == ["m0", "m1", "m2"]
        assert wix.listed == 1  # only the member left `sending` was looked up
        assert (finished["done"], finished["skipped"]) == (2, 3)  # m1 was found sent: done now

    def test_a_worker_dying_before_the_send_does_not_lose_it(self, fake_store, wix) -> None:
        """The worker dies after marking `sending` but before the send: the message goes out on the
        batch's second run, once."""
        wix.trouble = {2: "die-before"}
        jobs, job_id = Jobs(fake_store, KINDS), start(fake_store)
        with pytest.raises(WorkerDied):
            jobs.run_batch(job_id, NOW, job_context(fake_store))
        assert MonthMarks(fake_store, INSTANCE, "2025-03").get("m1").state == "sending"  # type: ignore[union-attr]
        finish(fake_store, job_id)
        assert sorted(wix.sent_to()) == ["m0", "m1", "m2"]

    def test_a_lost_answer_is_looked_up_before_trying_again(self, fake_store, wix) -> None:
        """Wix took the message but its answer was lost (a timeout): the member is done again in place,
        the message is found in the conversation and not sent again."""
        wix.trouble = {1: "lost-answer"}
        finished = run(fake_store)
        assert wix.sent_to() == ["m0", "m1", "m2"]
        assert (finished["done"], finished["failed"], wix.listed) == (3, 0, 1)

    def test_a_member_that_keeps_failing_stalls_the_job_not_the_member(self, fake_store, wix) -> None:
        """Sends failing for now past the member's tries: the batch stops at that member with a wait
        and the reason, the member is not recorded failed, and the next batch sends it once."""
        from worker.wix.client import ITEM_TRIES

        wix.trouble = {n: "throttled" for n in range(2, 2 + ITEM_TRIES)}  # every try of m1
        jobs, job_id = Jobs(fake_store, KINDS), start(fake_store)
        batch = jobs.run_batch(job_id, NOW, job_context(fake_store))
        assert batch is not None and batch.cursor is not None and batch.wait_seconds > 0
        assert batch.stalled is not None and "member m1" in batch.stalled and "429" in batch.stalled
        waiting = jobs.get(job_id)["waiting"]  # type: ignore[index]
        assert waiting["stalls"] == 1 and "member m1" in waiting["reason"] and waiting["nextTryAt"]
        finished = finish(fake_store, job_id)
        assert sorted(wix.sent_to()) == ["m0", "m1", "m2"]
        assert (finished["done"], finished["failed"], finished["waiting"]) == (3, 0, None)

    def test_a_refused_send_is_a_failure_and_the_next_run_sends_it(self, fake_store, wix) -> None:
        """Wix refuses one send (400): nothing went out, so no mark stays; a later run sends it."""
        wix.trouble = {2: "refused"}
        first = run(fake_store)
        assert first["failed"] == 1 and "m1" in first["failures"][0]
        assert MonthMarks(fake_store, INSTANCE, "2025-03").get("m1") is None
        again = run(fake_store)
        assert (again["done"], again["failed"]) == (1, 0)
        assert sorted(wix.sent_to()) == ["m0", "m1", "m2"]


class TestUnderTheRateLimit:
    def test_a_spent_budget_ends_the_batch_and_the_next_goes_on(self, fake_store, wix, monkeypatch) -> None:
        """Budget for program, page and two members: the batch keeps its two and asks to wait."""
        import worker.jobs.monthly_messages

        monkeypatch.setattr(worker.jobs.monthly_messages, "INLINE_WAIT_SECONDS", 0.0)  # too long to wait here
        wix.budget = 2 + 2 * 2  # program, page; conversation + send for two members
        jobs, job_id = Jobs(fake_store, KINDS), start(fake_store)
        batch = jobs.run_batch(job_id, NOW, job_context(fake_store))
        assert batch is not None and batch.cursor is not None
        assert (batch.done, batch.wait_seconds) == (2, 7.0)
        wix.budget = None
        finished = finish(fake_store, job_id)
        assert (finished["done"], finished["skipped"]) == (3, 2)
        assert wix.sent_to() == ["m0", "m1", "m2"]
        assert MonthMarks(fake_store, INSTANCE, "2025-03").get("m2").state == "sent"  # type: ignore[union-attr]


class TestBeat:
    def test_beat_runs_after_a_complete_month_end_at_once(self, fake_store, wix) -> None:
        """Once March's run went through everyone, beat's next start that day reads nothing from Wix;
        a run by hand still goes through the accounts (and sends nothing twice)."""
        run(fake_store, started_by="beat")
        wix.budget = 0  # any Wix call would now fail the test's expectations
        again = run(fake_store, started_by="beat")
        assert (again["status"], again["total"], again["done"], again["failed"]) == ("succeeded", 0, 0, 0)
        wix.budget = None
        by_hand = run(fake_store)
        assert (by_hand["total"], by_hand["skipped"]) == (5, 5)
        assert len(wix.messages) == 3

    def test_a_month_with_failures_is_not_complete_for_beat(self, fake_store, wix) -> None:
        """A refused send leaves the month open: beat's next start goes through and sends it."""
        wix.trouble = {1: "refused"}
        run(fake_store, started_by="beat")
        again = run(fake_store, started_by="beat")
        assert again["done"] == 1
        assert sorted(wix.sent_to()) == ["m0", "m1", "m2"]

    def test_start_everywhere_with_local_day_starts_only_where_it_is_the_1st(
        self, fake_store, monkeypatch
    ) -> None:
        """At 23:30 UTC on 31 March it is the 1st in Berlin, not in New York: one job, by beat."""
        import tasks.jobs
        from worker.runtime import celery_app

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Frozen:  # type: ignore[override]
                return cls(2025, 3, 31, 23, 30, tzinfo=UTC)

        for module in (celery_app, tasks.jobs):
            monkeypatch.setattr(module, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.jobs, "datetime", Frozen)
        sent: list[str] = []
        monkeypatch.setattr(tasks.jobs, "send_batch", lambda job_id, name, wait=0.0: sent.append(job_id))
        store = ProgressStore(fake_store)
        store.save_program("berlin", {"timezone": "Europe/Berlin"})
        store.save_program("new-york", {"timezone": "America/New_York"})

        # A deployment without Wix credentials: beat starts no job that calls Wix (the sweep still runs).
        monkeypatch.setattr(
            tasks.jobs, "get_settings", lambda: Settings(_env_file=None, redis_url="redis://x")
        )  # type: ignore[call-arg]
        assert tasks.jobs.start_job_everywhere_task(name="monthly-messages", local_day=1) == 0
        assert tasks.jobs.start_job_everywhere_task(name="sweep") == 2
        sent.clear()

        with_wix = Settings(_env_file=None, redis_url="redis://x", wix_app_id="app", wix_app_secret="secret")  # type: ignore[call-arg]
        monkeypatch.setattr(tasks.jobs, "get_settings", lambda: with_wix)
        assert tasks.jobs.start_job_everywhere_task(name="monthly-messages", local_day=1) == 1
        [job] = [Jobs(fake_store, KINDS).get(job_id) for job_id in sent]
        assert job is not None
        assert (job["instanceId"], job["startedBy"]) == ("berlin", "beat")


# The WixClient gives every request explicit timeouts, which Starlette's TestClient warns it ignores.
@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
class TestAgainstTheFakeWix:
    """The client's new calls on the wire, against the fake Wix in process."""

    @pytest.fixture
    def client(self, private_key, fake_store):  # type: ignore[no-untyped-def]
        from fastapi.testclient import TestClient

        from worker.wix.client import WixClient
        from worker.wix.fake import FakeSettings, FakeWix, create_app

        fake = FakeWix(FakeSettings("app-1", "secret-1"), private_key)
        with TestClient(create_app(fake), base_url="http://wix.test") as http:
            http.post(f"/_fake/instances/{INSTANCE}/members", json={"id": "m1", "contactId": "c1"})
            yield WixClient(http, fake_store, app_id="app-1", app_secret="secret-1")

    def test_member_accounts_are_paged_with_their_member_id(self, client) -> None:  # type: ignore[no-untyped-def]
        """A member's account carries the memberId; cursor paging walks every account once."""
        for contact_id in ("c1", "c2", "c3"):
            client.create_loyalty_account(INSTANCE, contact_id)
        first, cursor = client.query_loyalty_accounts(INSTANCE, limit=2)
        rest, end = client.query_loyalty_accounts(INSTANCE, cursor=cursor, limit=2)
        assert [a["contactId"] for a in first + rest] == ["c1", "c2", "c3"]
        assert [a.get("memberId") for a in first + rest] == ["m1", None, None]
        assert cursor is not None and end is None

    def test_a_sent_message_is_found_by_its_tag(self, client) -> None:  # type: ignore[no-untyped-def]
        """Sent with this month's badge, the message is listed newest first and found by the tag."""
        from worker.jobs.monthly_messages import Letter, find_sent

        conversation = client.get_or_create_conversation(INSTANCE, {"memberId": "m1"})
        again = client.get_or_create_conversation(INSTANCE, {"memberId": "m1"})
        assert again["id"] == conversation["id"]
        letter = Letter(month_tag("2025-03"), "Stars", "Shop now", "You have {balance} {points}.")
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert find_sent(client, INSTANCE, conversation["id"], letter.tag, since) is None
        sent = client.send_message(INSTANCE, conversation["id"], letter.message(40))
        client.send_message(INSTANCE, conversation["id"], {"content": {"basic": {"items": [{"text": "hi"}]}}})
        messages, _ = client.list_messages(INSTANCE, conversation["id"])
        assert [m["id"] for m in messages][-1] == sent["id"]  # newest first
        assert messages[-1]["content"]["previewText"] == "You have 40 Stars."
        assert find_sent(client, INSTANCE, conversation["id"], letter.tag, since) == sent["id"]
        assert find_sent(client, INSTANCE, conversation["id"], month_tag("2025-04"), since) is None
