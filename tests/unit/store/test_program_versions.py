"""The programme's lifecycle: a draft beside the live program, publishing as versions, diff, rollback."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest

from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.engine.program import ProgramInvalid
from worker.store import audit_log, program_versions
from worker.store.progress import ProgressStore

INSTANCE = "inst-a"


def renamed(name: str) -> dict[str, Any]:
    document = copy.deepcopy(BASE_PROGRAM)
    document["streaks"][0]["name"] = name
    return document


def text(document: dict[str, Any]) -> str:
    return json.dumps(document)


@pytest.fixture
def live(fake_store) -> ProgressStore:
    """An instance whose program is BASE_PROGRAM (version 1, published by the admin API)."""
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, copy.deepcopy(BASE_PROGRAM))
    return store


class TestDraft:
    def test_a_draft_does_not_change_what_the_engine_sees(self, fake_store, live) -> None:
        """Saving a draft keeps it; the live program (what the engine and widget read) is untouched."""
        program_versions.save_draft(fake_store, INSTANCE, text(renamed("Every week")), "merchant")
        assert live.program(INSTANCE).streaks[0].name == "Weekly shopper"
        assert live.program_document(INSTANCE) == (1, BASE_PROGRAM)
        saved = program_versions.draft(fake_store, INSTANCE)
        assert (saved["who"], saved["document"]["streaks"][0]["name"]) == ("merchant", "Every week")

    def test_a_bad_draft_is_refused_with_its_paths_and_writes_nothing(self, fake_store, live) -> None:
        """A negative milestone target: ProgramInvalid names the path; no draft, no audit entry."""
        bad = copy.deepcopy(BASE_PROGRAM)
        bad["streaks"][0]["milestones"][0]["milestoneTargetValue"] = -1
        before = audit_log.recent(fake_store, INSTANCE, 10)
        with pytest.raises(ProgramInvalid) as refused:
            program_versions.save_draft(fake_store, INSTANCE, text(bad), "merchant")
        assert refused.value.problems[0]["path"].startswith("streaks[0].milestones[0]")
        assert fake_store.exists(keys.program_draft(INSTANCE)) == 0
        assert audit_log.recent(fake_store, INSTANCE, 10) == before

    def test_no_draft_is_a_lookup_error(self, fake_store) -> None:
        """Reading or publishing a draft that was never saved: NoDraft, and nothing published."""
        with pytest.raises(program_versions.NoDraft):
            program_versions.draft(fake_store, INSTANCE)
        with pytest.raises(program_versions.NoDraft):
            program_versions.publish(fake_store, INSTANCE, "merchant")
        assert fake_store.exists(keys.program(INSTANCE)) == 0


class TestPublish:
    def test_publishing_bumps_the_version_makes_the_draft_live_and_records_it(self, fake_store, live) -> None:
        """Version 2 with who, at and note; the engine sees the new name; the draft is gone; audited."""
        program_versions.save_draft(fake_store, INSTANCE, text(renamed("Every week")), "merchant")
        published = program_versions.publish(fake_store, INSTANCE, "merchant", "friendlier name")
        assert (published["version"], published["who"], published["note"]) == (
            2,
            "merchant",
            "friendlier name",
        )
        assert live.program(INSTANCE).streaks[0].name == "Every week"
        assert fake_store.exists(keys.program_draft(INSTANCE)) == 0
        assert [v["version"] for v in program_versions.list_versions(fake_store, INSTANCE)] == [2, 1]
        assert "document" not in program_versions.list_versions(fake_store, INSTANCE)[0]
        assert program_versions.get_version(fake_store, INSTANCE, 1)["document"] == BASE_PROGRAM
        actions = [(e["who"], e["action"]) for e in audit_log.recent(fake_store, INSTANCE, 10)]
        assert actions == [("merchant", "published"), ("merchant", "draft_saved"), ("admin", "published")]

    def test_the_admin_apis_direct_replace_is_a_version_by_admin(self, fake_store) -> None:
        """`save_program` (PUT .../program, `program apply`) records version 1 by `admin`."""
        assert ProgressStore(fake_store).save_program(INSTANCE, copy.deepcopy(BASE_PROGRAM)) == 1
        (only,) = program_versions.list_versions(fake_store, INSTANCE)
        assert (only["version"], only["who"], only["note"]) == (1, "admin", "")

    def test_versions_are_bounded_and_listed_newest_first(self, fake_store, monkeypatch) -> None:
        """Past MAX_VERSIONS the oldest version is dropped; the list honours its limit."""
        monkeypatch.setattr(program_versions, "MAX_VERSIONS", 3)
        store = ProgressStore(fake_store)
        for n in range(5):
            store.save_program(INSTANCE, renamed(f"name {n}"))
        assert sorted(int(n) for n in fake_store.hkeys(keys.program_versions(INSTANCE))) == [3, 4, 5]
        assert [v["version"] for v in program_versions.list_versions(fake_store, INSTANCE, 2)] == [5, 4]
        with pytest.raises(program_versions.NoVersion):
            program_versions.get_version(fake_store, INSTANCE, 1)


class TestDiffAndRollback:
    def test_the_diff_between_versions_draft_and_live_names_paths(self, fake_store, live) -> None:
        """From live to the draft and from version 1 to 2: the streak's name at `streaks[0].name`."""
        program_versions.save_draft(fake_store, INSTANCE, text(renamed("Every week")), "merchant")
        change = {"op": "changed", "path": "streaks[0].name", "old": "Weekly shopper", "new": "Every week"}
        assert program_versions.diff(fake_store, INSTANCE, "live", "draft")["changes"] == [change]
        program_versions.publish(fake_store, INSTANCE, "merchant")
        assert program_versions.diff(fake_store, INSTANCE, "1", "2")["changes"] == [change]
        assert program_versions.diff(fake_store, INSTANCE, "2", "live")["changes"] == []
        with pytest.raises(program_versions.NoVersion):
            program_versions.diff(fake_store, INSTANCE, "1", "9")

    def test_rollback_publishes_the_old_document_as_a_new_version(self, fake_store, live) -> None:
        """Rolling back to 1 after 2: version 3 noted "rollback to 1", the old name live again."""
        live.save_program(INSTANCE, renamed("Every week"))
        rolled = program_versions.rollback(fake_store, INSTANCE, 1, "merchant", "too soon")
        assert (rolled["version"], rolled["note"]) == (3, "rollback to 1: too soon")
        assert live.program(INSTANCE).streaks[0].name == "Weekly shopper"
        assert program_versions.get_version(fake_store, INSTANCE, 3)["document"] == BASE_PROGRAM
        entry = audit_log.recent(fake_store, INSTANCE, 1)[0]
        assert (entry["action"], entry["details"]["to"], entry["details"]["version"]) == ("rolled_back", 1, 3)

    def test_rollback_to_an_unknown_version_writes_nothing(self, fake_store, live) -> None:
        """No version 7: NoVersion; the live program stays version 1."""
        with pytest.raises(program_versions.NoVersion):
            program_versions.rollback(fake_store, INSTANCE, 7, "merchant")
        assert live.program_document(INSTANCE) == (1, BASE_PROGRAM)


class TestConcurrentPublishes:
    def test_n_publishes_at_once_make_n_versions(self, real_redis) -> None:
        """Eight threads publish five times each on real Redis: versions 1..40, each once, none lost."""
        barrier = threading.Barrier(8)

        def publisher(n: int) -> None:
            barrier.wait()
            for k in range(5):
                program_versions.publish_document(
                    real_redis, INSTANCE, renamed(f"t{n}-{k}"), who=f"thread-{n}", note=f"{k}"
                )

        threads = [threading.Thread(target=publisher, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        numbers = sorted(int(n) for n in real_redis.hkeys(keys.program_versions(INSTANCE)))
        assert numbers == list(range(1, 41))
        names = {
            program_versions.get_version(real_redis, INSTANCE, n)["document"]["streaks"][0]["name"]
            for n in numbers
        }
        assert len(names) == 40
        assert ProgressStore(real_redis).program_document(INSTANCE)[0] == 40  # type: ignore[index]
        assert len(audit_log.recent(real_redis, INSTANCE, 100)) == 40
