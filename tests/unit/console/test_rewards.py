"""The Rewards listing (worker/store/reward_listing.py, worker/console/rewards.py) and sending a failed
reward again (worker/rewards/resend.py): filters checked and named when wrong, pages that neither skip nor
repeat a log (ties in time included), the CSV safe against formula injection, the time index written
with the log and erased with the member, and a failed reward sent again once however often asked."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker import keys
from worker.console import rewards
from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.engine.logs import accept_log
from worker.engine.timestamps import utc_stamp
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.members.erasure import erase_member
from worker.rewards import resend
from worker.runtime.providers import job_context
from worker.store import audit_log, outbox, reward_listing
from worker.store.progress import ProgressStore, created_score
from worker.store.reward_listing import Cursor, RewardFilters

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

SITE = "inst-1"
START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def put_log(client: Any, n: int, site: str = SITE, **fields: Any) -> dict[str, Any]:
    """A reward log as the store keeps one (the log, its id and time index entries), `n` hours after
    START unless `createdAt` is given."""
    contact = fields.pop("contactId", f"c{n % 3}")
    log = {
        "id": f"rl_{n:024x}",
        "instanceId": site,
        "contactId": contact,
        "linkedSchemaSlug": "streak",
        "linkedSchemaRecordId": "daily",
        "milestoneId": "m1",
        "milestoneName": "One",
        "reward": {"type": "coupon", "coupon": {"name": "Ten", "percentOffRate": 10}},
        "status": "pending",
        "couponCode": None,
        "createdAt": utc_stamp(START + timedelta(hours=n)),
        **fields,
    }
    client.hset(keys.reward_index(site), log["id"], contact)
    client.zadd(keys.reward_times(site), {log["id"]: created_score(log)})
    client.set(keys.member_reward(site, contact, log["id"]), json.dumps(log))
    return log


def ids(logs: list[dict[str, Any]]) -> list[str]:
    return [log["id"] for log in logs]


def flat(pages: list[list[str]]) -> list[str]:
    return [reward_log_id for page in pages for reward_log_id in page]


def every_page(client: Any, filters: RewardFilters, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = reward_listing.page(client, SITE, filters, limit=limit, cursor=cursor)
        pages.append(ids(page.reward_logs))
        if page.next is None:
            return pages
        cursor = page.next


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "lost"}, "status"),
            ({"kind": "cash"}, "kind"),
            ({"item": "a{b}"}, "item"),
            ({"milestone": "x" * 101}, "milestone"),
            ({"from": "2026-13-01"}, "from"),
            ({"from": "yesterday"}, "from"),
            ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
            ({"cursor": "1.5:not-an-id"}, "cursor"),
            ({"limit": "0"}, "limit"),
            ({"limit": "201"}, "limit"),
        ],
    )
    def test_a_bad_filter_is_named(self, params: dict[str, str], field: str) -> None:
        with pytest.raises(rewards.BadFilter) as refused:
            rewards.parse_query(params)
        assert refused.value.field == field

    def test_empty_values_mean_any(self) -> None:
        query = rewards.parse_query({"status": "", "kind": " ", "from": ""})
        assert query.filters == RewardFilters()
        assert query.limit == rewards.DEFAULT_LIMIT

    def test_each_filter_keeps_only_its_logs(self, fake_store) -> None:
        put_log(fake_store, 1, status="failed")
        put_log(fake_store, 2, reward={"type": "points", "points": 50})
        put_log(fake_store, 3, linkedSchemaRecordId="spend", linkedSchemaSlug="challenge")
        put_log(fake_store, 4, milestoneId="m2")
        put_log(fake_store, 5, reward=None)  # a manual reward

        def listed(**params: str) -> list[str]:
            query = rewards.parse_query(params)
            return [log["id"][-1] for log in rewards.listing(fake_store, SITE, query).reward_logs]

        assert listed(status="failed") == ["1"]
        assert listed(kind="points") == ["2"]
        assert listed(kind="manual") == ["5"]
        assert listed(item="spend") == ["3"]
        assert listed(milestone="m2") == ["4"]
        assert listed(kind="coupon", status="pending") == ["4", "3"]
        assert listed() == ["5", "4", "3", "2", "1"]

    def test_the_date_range_takes_whole_days_both_ends_included(self, fake_store) -> None:
        """START is 12:00 on 1 March: hours 0-11 are that day, 12-35 the 2nd, 36 on the 3rd."""
        for n in (0, 11, 12, 35, 36):
            put_log(fake_store, n)
        query = rewards.parse_query({"from": "2026-03-02", "to": "2026-03-02"})
        assert ids(rewards.listing(fake_store, SITE, query).reward_logs) == [f"rl_{35:024x}", f"rl_{12:024x}"]
        query = rewards.parse_query({"to": "2026-03-01"})
        assert len(rewards.listing(fake_store, SITE, query).reward_logs) == 2


class TestPaging:
    def test_pages_cover_every_log_once_newest_first(self, fake_store) -> None:
        for n in range(7):
            put_log(fake_store, n)
        pages = every_page(fake_store, RewardFilters(), limit=3)
        assert [len(page) for page in pages] == [3, 3, 1]
        assert flat(pages) == [f"rl_{n:024x}" for n in range(6, -1, -1)]

    def test_a_full_last_page_has_no_next(self, fake_store) -> None:
        for n in range(6):
            put_log(fake_store, n)
        assert [len(page) for page in every_page(fake_store, RewardFilters(), limit=3)] == [3, 3]

    def test_logs_created_in_the_same_instant_are_neither_skipped_nor_repeated(self, fake_store) -> None:
        same = utc_stamp(START)
        for n in range(5):
            put_log(fake_store, n, createdAt=same)
        pages = every_page(fake_store, RewardFilters(), limit=2)
        assert sorted(flat(pages)) == [f"rl_{n:024x}" for n in range(5)]
        assert len(flat(pages)) == 5

    def test_paging_through_a_filter_across_batches(self, fake_store) -> None:
        """More logs than one index batch, one in ten failed: every failed one, once."""
        for n in range(reward_listing.BATCH + 150):
            put_log(fake_store, n, status="failed" if n % 10 == 0 else "issued")
        pages = every_page(fake_store, RewardFilters(status="failed"), limit=7)
        assert len(flat(pages)) == len(set(flat(pages))) == 35

    def test_a_sparse_filter_stops_at_the_cap_with_a_cursor_to_go_on(self, fake_store) -> None:
        for n in range(30):
            put_log(fake_store, n, status="failed" if n == 0 else "issued")
        page = reward_listing.page(fake_store, SITE, RewardFilters(status="failed"), limit=5, max_looked=10)
        assert page.reward_logs == [] and page.looked == 10 and page.next is not None
        rest = reward_listing.page(
            fake_store, SITE, RewardFilters(status="failed"), limit=5, cursor=page.next, max_looked=100
        )
        assert ids(rest.reward_logs) == [f"rl_{0:024x}"] and rest.next is None

    def test_the_cursor_text_parses_back(self, fake_store) -> None:
        cursor = Cursor(created_score({"createdAt": utc_stamp(START)}), f"rl_{5:024x}")
        assert rewards.parse_query({"cursor": cursor.text()}).cursor == cursor

    def test_an_index_entry_without_its_log_is_skipped(self, fake_store) -> None:
        """A crash between the index write and the log's MULTI leaves an entry with no log."""
        put_log(fake_store, 1)
        gone = put_log(fake_store, 2)
        fake_store.delete(keys.member_reward(SITE, gone["contactId"], gone["id"]))
        assert ids(reward_listing.page(fake_store, SITE, RewardFilters(), limit=10).reward_logs) == [
            f"rl_{1:024x}"
        ]


class TestCsv:
    def test_a_header_then_the_filtered_rows_with_formulas_defused(self, fake_store) -> None:
        put_log(fake_store, 1, status="failed", milestoneName='=HYPERLINK("http://evil","x")', error="-1+2")
        put_log(fake_store, 2, status="failed", milestoneName='Plain, "quoted"', contactId="@c")
        put_log(fake_store, 3, status="issued", milestoneName="+SUM(A1)")
        text = "".join(rewards.csv_lines(fake_store, SITE, rewards.parse_query({"status": "failed"})))
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:4] == ["Created (UTC)", "Reward log", "Contact", "Status"]
        assert len(rows) == 3
        by_name = {row[rows[0].index("Milestone")]: row for row in rows[1:]}
        assert set(by_name) == {'Plain, "quoted"', '\'=HYPERLINK("http://evil","x")'}
        assert by_name['Plain, "quoted"'][2] == "'@c"
        assert by_name['\'=HYPERLINK("http://evil","x")'][rows[0].index("Error")] == "'-1+2"

    def test_the_export_is_capped(self, fake_store, monkeypatch) -> None:
        monkeypatch.setattr(rewards, "CSV_MAX_ROWS", 4)
        for n in range(9):
            put_log(fake_store, n)
        lines = list(rewards.csv_lines(fake_store, SITE, rewards.parse_query({})))
        assert len(lines) == 1 + 4


@pytest.fixture
def store(fake_store) -> ProgressStore:
    store = ProgressStore(fake_store)
    store.save_program(SITE, {**BASE_PROGRAM, "lateLogGraceHours": 720})
    return store


def reward_from_logs(store: ProgressStore) -> dict[str, Any]:
    """Two weeks of the weekly streak: the reward log it created (a coupon), through the real store."""
    now = datetime.now(UTC)
    program = store.program(SITE)
    streak = program.streak("weekly-shopper")
    created: list[dict[str, Any]] = []
    for week in (2, 1):
        log = accept_log(
            streak, contact_id="c1", activity_id="order_paid", activity_value=1,
            activity_at=now - timedelta(weeks=week - 1), unique_identifier=f"w{week}", now=now,
        )  # fmt: skip
        created += store.record(SITE, program, streak, log, now).reward_logs
    return created[-1]


class TestTimeIndex:
    def test_a_recorded_reward_log_is_listed_at_its_creation(self, store, fake_store) -> None:
        made = reward_from_logs(store)
        assert fake_store.zscore(keys.reward_times(SITE), made["id"]) == created_score(made)
        assert ids(reward_listing.page(fake_store, SITE, RewardFilters(), limit=5).reward_logs) == [
            made["id"]
        ]

    def test_the_index_is_written_before_the_log_never_after(self, store, fake_store, monkeypatch) -> None:
        """The member's MULTI fails (a crash there): the log is not written, its index entries are (the
        retry rewrites the same); so no log ever exists that the listing cannot find."""
        real_execute = type(fake_store.pipeline()).execute

        def queued(pipe: Any) -> list[Any]:
            """Each queued command's arguments (a cluster pipeline queues them in its strategy)."""
            strategy = getattr(pipe, "_execution_strategy", None)
            if strategy is not None:
                return [c.args for c in strategy.command_queue]
            return [c[0] for c in pipe.command_stack]

        def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
            if any(
                keys.member_state(SITE, "c1", "challenge", "spend-500") in map(str, command)
                for command in queued(self)
            ):
                raise ConnectionError("the connection dropped")
            return real_execute(self, *args, **kwargs)

        first = reward_from_logs(store)
        monkeypatch.setattr(type(fake_store.pipeline()), "execute", failing)
        program = store.program(SITE)
        challenge = program.challenge("spend-500")
        now = datetime.now(UTC)
        log = accept_log(
            challenge, contact_id="c1", activity_id="order_paid", activity_value=300,
            activity_at=now, unique_identifier="big-order", now=now,
        )  # fmt: skip
        with pytest.raises(ConnectionError):
            store.record(SITE, program, challenge, log, now)  # crosses "half": a reward log
        assert fake_store.zcard(keys.reward_times(SITE)) == 2  # the new one's entry is there already
        listed = ids(reward_listing.page(fake_store, SITE, RewardFilters(), limit=5).reward_logs)
        assert listed == [first["id"]]  # and skipped: its log never came
        monkeypatch.undo()
        retried = store.record(SITE, program, challenge, log, now).reward_logs
        assert ids(reward_listing.page(fake_store, SITE, RewardFilters(), limit=5).reward_logs) == [
            retried[0]["id"],
            first["id"],
        ]

    def test_the_member_s_erasure_takes_them_out_of_the_index(self, store, fake_store) -> None:
        reward_from_logs(store)
        erase_member(fake_store, SITE, "c1")
        assert fake_store.zcard(keys.reward_times(SITE)) == 0
        assert reward_listing.page(fake_store, SITE, RewardFilters(), limit=5).reward_logs == []

    def test_the_backfill_job_indexes_logs_made_before_the_index(self, store, fake_store) -> None:
        made = reward_from_logs(store)
        fake_store.delete(keys.reward_times(SITE))
        jobs = Jobs(fake_store, KINDS)
        record, _ = jobs.start(SITE, "index-reward-times")
        now = datetime.now(UTC)
        while (batch := jobs.run_batch(record["id"], now, job_context(fake_store))) and batch.cursor:
            pass
        finished = jobs.get(record["id"])
        assert finished is not None and finished["status"] == "succeeded" and finished["done"] == 1
        again, _ = jobs.start(SITE, "index-reward-times")
        jobs.run_batch(again["id"], now, job_context(fake_store))
        assert jobs.get(again["id"])["skipped"] == 1  # type: ignore[index]
        assert ids(reward_listing.page(fake_store, SITE, RewardFilters(), limit=5).reward_logs) == [
            made["id"]
        ]


class TestSendAgain:
    def failed(self, store: ProgressStore, fake_store: Any) -> dict[str, Any]:
        made = reward_from_logs(store)
        key = keys.member_reward(SITE, "c1", made["id"])
        fake_store.set(
            key, json.dumps({**json.loads(fake_store.get(key)), "status": "failed", "error": "boom"})
        )
        fake_store.delete(keys.member_outbox(SITE, "c1"))  # the first fulfilment task took its intent
        return made

    def test_posted_twice_it_is_sent_once_and_audited_once(self, store, fake_store) -> None:
        made = self.failed(store, fake_store)
        follow_ups = RecordedDispatcher()
        first = resend.send_again(fake_store, follow_ups, SITE, "c1", made["id"], "owner-1")
        second = resend.send_again(fake_store, follow_ups, SITE, "c1", made["id"], "owner-1")
        assert (first.result, second.result) == ("sent", "not_failed")
        assert follow_ups.sent == [(SITE, made["id"])]
        now_log = store.reward_log(SITE, made["id"])
        assert now_log["status"] == "pending" and now_log["lastError"] == "boom" and "error" not in now_log
        sent_again = [e for e in audit_log.recent(fake_store, SITE) if e["action"] == resend.AUDIT_ACTION]
        assert len(sent_again) == 1 and sent_again[0]["details"]["rewardLogId"] == made["id"]

    def test_the_intent_is_committed_with_the_flip(self, store, fake_store) -> None:
        """The send fails (the broker is down): the fulfilment intent waits in the outbox for the relay."""
        made = self.failed(store, fake_store)

        class Down(RecordedDispatcher):
            def fulfil(self, instance_id: str, reward_log_ids: Any) -> None:
                raise ConnectionError("the broker is down")

        assert resend.send_again(fake_store, Down(), SITE, "c1", made["id"], "owner-1").result == "sent"
        waiting = outbox.pending(
            fake_store, keys.member_outbox(SITE, "c1"), [outbox.fulfil_intent_id(made["id"])]
        )
        assert list(waiting) == [outbox.fulfil_intent_id(made["id"])]

    def test_only_a_failed_reward_of_that_member(self, store, fake_store) -> None:
        made = reward_from_logs(store)  # pending
        follow_ups = RecordedDispatcher()
        assert resend.send_again(fake_store, follow_ups, SITE, "c1", made["id"], "x").result == "not_failed"
        assert resend.send_again(fake_store, follow_ups, SITE, "c2", made["id"], "x").result == "not_found"
        assert resend.send_again(fake_store, follow_ups, SITE, "c1", "rl_nope", "x").result == "not_found"
        assert (
            resend.send_again(fake_store, follow_ups, "inst-2", "c1", made["id"], "x").result == "not_found"
        )
        assert follow_ups.sent == []
