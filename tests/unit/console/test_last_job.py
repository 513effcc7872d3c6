"""The Home page's "accounts bootstrapped" item reads the site's last job of a name from one key written
as the job starts (`keys.job_last`), not from a scan of every job record."""

from __future__ import annotations

from typing import Any

import pytest

from worker import keys
from worker.console.checklist import BOOTSTRAP, checklist, last_job
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs

SITE = "site-a"


def accounts_detail(client: Any) -> str:
    return next(item.detail for item in checklist(client, SITE) if item.key == "accounts")


class TestLastJob:
    def test_the_running_job_then_the_last_one_started(self, fake_store, monkeypatch) -> None:
        """No job: None. A running bootstrap is the one shown; once failed, a second start is the last
        one, not the first; another site's or another name's jobs never count. No SCAN is made."""
        monkeypatch.setattr(fake_store, "scan_iter", pytest.fail)
        jobs = Jobs(fake_store, KINDS)
        assert last_job(fake_store, SITE, BOOTSTRAP) is None
        first, _ = jobs.start(SITE, BOOTSTRAP)
        assert last_job(fake_store, SITE, BOOTSTRAP)["id"] == first["id"]  # type: ignore[index]
        jobs.fail(first["id"], "stuck")
        assert "The bootstrap failed" in accounts_detail(fake_store)
        second, _ = jobs.start(SITE, BOOTSTRAP)
        jobs.fail(second["id"], "stuck again")
        jobs.start("site-b", BOOTSTRAP)
        jobs.start(SITE, "sweep")
        record = last_job(fake_store, SITE, BOOTSTRAP)
        assert record is not None and record["id"] == second["id"] and record["status"] == "failed"
        assert fake_store.get(keys.job_last(SITE, BOOTSTRAP)) == second["id"]

    def test_a_start_answered_by_the_running_job_does_not_move_the_key(self, fake_store) -> None:
        jobs = Jobs(fake_store, KINDS)
        running, _ = jobs.start(SITE, BOOTSTRAP)
        answered, new = jobs.start(SITE, BOOTSTRAP)
        assert not new and answered["id"] == running["id"]
        assert fake_store.get(keys.job_last(SITE, BOOTSTRAP)) == running["id"]

    def test_the_key_lives_as_long_as_the_record(self, fake_store) -> None:
        """Both expire together: the key never outlives the record it names by much."""
        record, _ = Jobs(fake_store, KINDS).start(SITE, BOOTSTRAP)
        key_ttl = fake_store.ttl(keys.job_last(SITE, BOOTSTRAP))
        assert abs(key_ttl - fake_store.ttl(keys.job_record(record["id"]))) <= 1 and key_ttl > 0
