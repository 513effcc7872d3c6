"""The operations room's decisions (worker/console/job_runs.py, dead_letters.py, event_lookup.py): a
site's job runs from its own index, a start validated and audited; dead letters filtered by the site their
task names (A never sees, replays or purges B's), redacted, replayed once; an event found by id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker import keys
from worker.console import dead_letters, event_lookup, job_runs
from worker.dispatch import RecordedDispatcher
from worker.jobs.registry import KINDS
from worker.jobs.runner import RUNS_KEPT, Jobs
from worker.store import audit_log
from worker.store.dead_letters import DeadLetters
from worker.store.journal import EventJournal

SITE, OTHER = "site-a", "site-b"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ"


def park(client: Any, task_id: str, kwargs: dict[str, Any], task: str = "rewards.fulfil_reward") -> None:
    DeadLetters(client).park(
        task_id=task_id,
        task_name=task,
        args=[],
        kwargs=kwargs,
        queue="rewards",
        error="WixApiError: 400",
        retries=2,
    )


class Failing(RecordedDispatcher):
    def resend(self, task: str, kwargs: dict[str, Any], queue: str) -> None:
        raise ConnectionError("broker down")


class TestJobRuns:
    def test_a_start_is_validated_audited_and_listed_for_its_site_only(self, fake_store) -> None:
        """A bad `since` is a 422 naming the field and starts nothing; a good one starts the catch-up
        (one batch sent, one audit entry); a second start answers the running job; the runs listed are
        the site's own, newest first, found without a SCAN."""
        sent = RecordedDispatcher()
        refused = job_runs.start(
            fake_store, sent, SITE, {"name": "catch-up", "since": "yesterday"}, "owner", NOW
        )
        assert refused.status == 422 and "not a date and time" in refused.problems["since"]
        future = (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        assert (
            "future"
            in job_runs.start(
                fake_store, sent, SITE, {"name": "catch-up", "since": future}, "o", NOW
            ).problems["since"]
        )
        assert job_runs.start(fake_store, sent, SITE, {"name": "drop-tables"}, "o", NOW).problems == {
            "name": "there is no such job"
        }
        assert sent.jobs == [] and job_runs.runs(fake_store, SITE) == []

        started = job_runs.start(
            fake_store, sent, SITE, {"name": "catch-up", "since": "2026-12-01T08:30"}, "owner", NOW
        )
        assert started.status == 200 and started.job is not None
        assert started.job["since"] == "2026-12-01T08:30:00Z"
        assert sent.jobs == [(started.job["id"], "periodic")]
        again = job_runs.start(fake_store, sent, SITE, {"name": "catch-up"}, "owner", NOW)
        assert (
            again.job is not None
            and again.job["id"] == started.job["id"]
            and "already running" in again.notice
        )
        assert len(sent.jobs) == 1
        [entry] = audit_log.recent(fake_store, SITE)
        assert entry["action"] == "job_started" and entry["details"]["name"] == "catch-up"

        Jobs(fake_store, KINDS).start(OTHER, "sweep")
        later = job_runs.start(fake_store, sent, SITE, {"name": "sweep"}, "owner", NOW).job
        assert later is not None
        fake_store.scan_iter = pytest.fail  # type: ignore[method-assign]
        assert [run["id"] for run in job_runs.runs(fake_store, SITE)] == [later["id"], started.job["id"]]
        assert job_runs.run(fake_store, OTHER, later["id"]) is None
        assert job_runs.run(fake_store, SITE, later["id"])["percent"] is None  # type: ignore[index]

    def test_the_index_keeps_the_newest_runs_and_is_purged_with_the_site(self, fake_store) -> None:
        jobs = Jobs(fake_store, KINDS)
        for _ in range(RUNS_KEPT + 5):
            record, _ = jobs.start(SITE, "sweep")
            jobs.fail(record["id"], "stopped")
        assert fake_store.zcard(keys.job_runs(SITE)) == RUNS_KEPT
        assert job_runs.runs(fake_store, SITE)[0]["id"] == record["id"]
        assert any(keys.job_runs(SITE) == pattern for pattern in keys.instance_key_patterns(SITE))

    def test_progress_counts_every_handled_item_and_shows_the_latest_failures(self) -> None:
        record = {"name": "bootstrap", "status": "running", "total": 8, "done": 2, "skipped": 1, "failed": 1}
        shown = job_runs.shown({**record, "failures": [f"contact {i}: 400" for i in range(9)]})
        assert shown["percent"] == 50 and shown["title"] == "Bootstrap"
        assert shown["latestFailures"] == [f"contact {i}: 400" for i in range(4, 9)]

    def test_a_run_without_a_total_is_full_only_once_it_succeeded(self) -> None:
        record = {"name": "sweep", "total": None, "done": 0, "skipped": 0, "failed": 0, "failures": []}
        assert [
            job_runs.shown({**record, "status": s})["percent"] for s in ("running", "succeeded", "failed")
        ] == [
            None,
            100,
            0,
        ]

    def test_every_job_there_is_can_be_started_from_the_page(self) -> None:
        assert {kind.name for kind in job_runs.JOB_KINDS} == set(KINDS)


class TestDeadLetters:
    def test_a_site_sees_only_the_dead_letters_its_tasks_name(self, fake_store) -> None:
        """By `instance_id`, or by the job a job batch names; one naming no site is nobody's."""
        park(fake_store, "a-1", {"instance_id": SITE, "reward_log_id": "r1"})
        park(fake_store, "b-1", {"instance_id": OTHER, "reward_log_id": "r2"})
        job, _ = Jobs(fake_store, KINDS).start(OTHER, "bootstrap")
        park(fake_store, "b-job", {"job_id": job["id"], "resume": True}, task="bulk.run_job_batch")
        park(fake_store, "none", {"key": "x"}, task="events.test_flaky")
        assert [e["id"] for e in dead_letters.page(fake_store, SITE, 1).entries] == ["a-1"]
        assert {e["id"] for e in dead_letters.page(fake_store, OTHER, 1).entries} == {"b-1", "b-job"}
        assert dead_letters.entry(fake_store, SITE, "b-job") is None
        assert dead_letters.entry(fake_store, SITE, "none") is None

    def test_site_a_can_neither_replay_nor_purge_site_bs(self, fake_store) -> None:
        park(fake_store, "b-1", {"instance_id": OTHER, "reward_log_id": "r2"})
        sent = RecordedDispatcher()
        assert dead_letters.replay(fake_store, sent, SITE, "b-1", "owner-a").status == 404
        assert dead_letters.replay_all(fake_store, sent, SITE, "owner-a").notice == "Replayed 0 dead letters."
        assert dead_letters.purge(fake_store, SITE, "b-1", "owner-a").status == 404
        assert dead_letters.purge(fake_store, SITE, None, "owner-a").notice == "Purged 0 dead letters."
        assert sent.resent == [] and DeadLetters(fake_store).get("b-1") is not None

    def test_replaying_twice_sends_once_and_a_refused_send_keeps_it(self, fake_store) -> None:
        park(fake_store, "a-1", {"instance_id": SITE, "reward_log_id": "r1"})
        assert dead_letters.replay(fake_store, Failing(), SITE, "a-1", "owner").status == 503
        assert DeadLetters(fake_store).get("a-1") is not None
        sent = RecordedDispatcher()
        assert dead_letters.replay(fake_store, sent, SITE, "a-1", "owner").status == 200
        assert dead_letters.replay(fake_store, sent, SITE, "a-1", "owner").status == 404
        assert sent.resent == [
            ("rewards.fulfil_reward", {"instance_id": SITE, "reward_log_id": "r1"}, "rewards")
        ]
        assert [e["action"] for e in audit_log.recent(fake_store, SITE)] == ["dead_letter_replayed"]

    def test_a_crash_between_claim_and_send_loses_nothing(self, fake_store) -> None:
        """A replay whose process dies after claiming the entry (before sending or removing it) leaves the
        entry parked; a second replay waits for the claim to lapse, then sends it once."""
        park(fake_store, "a-1", {"instance_id": SITE, "reward_log_id": "r1"})

        class Crashing(RecordedDispatcher):
            def resend(self, *args: Any, **kwargs: Any) -> None:
                raise SystemExit("the web process was killed")

        with pytest.raises(SystemExit):
            dead_letters.replay(fake_store, Crashing(), SITE, "a-1", "owner")
        assert DeadLetters(fake_store).get("a-1") is not None
        sent = RecordedDispatcher()
        assert dead_letters.replay(fake_store, sent, SITE, "a-1", "owner").status != 200  # still claimed
        assert sent.resent == []
        fake_store.delete(keys.dead_letter_replay("a-1"))  # the claim's TTL lapsed
        assert dead_letters.replay(fake_store, sent, SITE, "a-1", "owner").status == 200
        assert len(sent.resent) == 1 and DeadLetters(fake_store).get("a-1") is None

    def test_replay_all_and_purge_all_touch_only_this_sites(self, fake_store) -> None:
        for n in range(3):
            park(fake_store, f"a-{n}", {"instance_id": SITE, "reward_log_id": f"r{n}"})
        park(fake_store, "b-1", {"instance_id": OTHER, "reward_log_id": "r9"})
        sent = RecordedDispatcher()
        assert dead_letters.replay_all(fake_store, sent, SITE, "owner").notice == "Replayed 3 dead letters."
        assert len(sent.resent) == 3 and dead_letters.replay_all(
            fake_store, sent, SITE, "o"
        ).notice.startswith("Replayed 0")
        park(fake_store, "a-9", {"instance_id": SITE, "reward_log_id": "r1"})
        assert dead_letters.purge(fake_store, SITE, None, "owner").notice == "Purged 1 dead letter."
        assert [e["id"] for e in DeadLetters(fake_store).list()] == ["b-1"]

    def test_arguments_are_shown_with_secrets_and_tokens_redacted(self, fake_store) -> None:
        data = json.dumps({"accessToken": "abc", "note": f"Bearer {JWT}", "orderId": "o-1"})
        park(fake_store, "a-1", {"instance_id": SITE, "data": data, "identity": "secret-ish", "jwt": JWT})
        shown = dead_letters.page(fake_store, SITE, 1).entries[0]
        text = json.dumps(shown)
        assert "abc" not in text and JWT not in text and "secret-ish" not in text
        assert json.loads(shown["kwargs"]["data"]) == {
            "accessToken": "[redacted]",
            "note": "[redacted]",
            "orderId": "o-1",
        }
        assert shown["kwargs"]["instance_id"] == SITE and shown["replayable"]

    def test_pages_of_twenty_newest_first(self, fake_store) -> None:
        for n in range(25):
            park(fake_store, f"a-{n:02}", {"instance_id": SITE})
            fake_store.hset(
                keys.DEAD_LETTERS,
                f"a-{n:02}",
                json.dumps(
                    {**DeadLetters(fake_store).get(f"a-{n:02}"), "failedAt": f"2026-12-01T00:00:{n:02}Z"}
                ),  # type: ignore[dict-item]
            )
        first, second = dead_letters.page(fake_store, SITE, 1), dead_letters.page(fake_store, SITE, 9)
        assert (first.total, first.pages, second.number) == (25, 2, 2)
        assert first.entries[0]["id"] == "a-24" and [e["id"] for e in second.entries][-1] == "a-00"


class TestEventLookup:
    def test_found_missing_and_refused(self, fake_store) -> None:
        journal = EventJournal(fake_store, 3600)
        logs = [
            {"rule": 0, "on": "order_paid", "streak": "daily", "applied": True, "achievedMilestones": ["m3"]}
        ]
        journal.settle(
            SITE,
            "ev-1",
            "processed",
            event_type="wix.ecom.v1.order_approved",
            normalized={"name": "order_paid"},
            logs=logs,
        )
        found = event_lookup.lookup(fake_store, SITE, " ev-1 ", 3600)
        assert found.state == "found" and found.record is not None
        assert (
            found.record["logs"][0]["target"] == "streak daily"
            and found.record["logs"][0]["outcome"] == "applied"
        )
        assert '"name": "order_paid"' in found.record["normalizedText"]
        assert event_lookup.lookup(fake_store, OTHER, "ev-1", 3600).status == 404
        bad = event_lookup.lookup(fake_store, SITE, "ev-{1}", 3600)
        assert bad.status == 422 and "must not contain" in bad.problem
        assert event_lookup.lookup(fake_store, SITE, "", 3600).state == "empty"
