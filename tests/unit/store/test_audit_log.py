"""The instance's audit log: who did what when, newest first, bounded, and never a secret."""

from __future__ import annotations

import pytest

from worker import keys
from worker.store import audit_log

INSTANCE = "inst-a"


class TestAuditLog:
    def test_entries_come_back_newest_first_with_who_what_and_when(self, fake_store) -> None:
        """Two records: the later one first, each with its actor, action, details and an ISO time."""
        audit_log.record(fake_store, INSTANCE, "merchant@example.com", "draft_saved", {"streaks": 1})
        audit_log.record(fake_store, INSTANCE, "admin", "published", {"version": 1})
        entries = audit_log.recent(fake_store, INSTANCE, 10)
        assert [(e["who"], e["action"], e["details"]) for e in entries] == [
            ("admin", "published", {"version": 1}),
            ("merchant@example.com", "draft_saved", {"streaks": 1}),
        ]
        assert entries[0]["at"].endswith("+00:00")
        assert audit_log.recent(fake_store, "inst-b", 10) == []

    def test_the_log_is_trimmed_to_its_bound(self, fake_store, monkeypatch) -> None:
        """Past MAX_ENTRIES the oldest go; `recent` answers at most the limit."""
        monkeypatch.setattr(audit_log, "MAX_ENTRIES", 3)
        for n in range(5):
            audit_log.record(fake_store, INSTANCE, "admin", "published", {"version": n})
        assert fake_store.llen(keys.audit_log(INSTANCE)) == 3
        assert [e["details"]["version"] for e in audit_log.recent(fake_store, INSTANCE, 2)] == [4, 3]

    def test_secret_values_are_redacted_and_big_details_cut(self, fake_store) -> None:
        """A value named token/secret/password is never stored; details over the bound become a note."""
        details = {"syncSecret": "whsec_abc", "nested": [{"apiKey": "k"}], "url": "https://x.test"}
        entry = audit_log.record(fake_store, INSTANCE, "admin", "settings_changed", details)
        assert entry["details"] == {
            "syncSecret": "[redacted]",
            "nested": [{"apiKey": "[redacted]"}],
            "url": "https://x.test",
        }
        assert "whsec_abc" not in fake_store.lindex(keys.audit_log(INSTANCE), 0)
        big = audit_log.record(fake_store, INSTANCE, "admin", "published", {"x": "y" * 10_000})
        assert big["details"]["truncated"] is True

    @pytest.mark.parametrize(
        ("who", "action"), [("admin", "Bad Action"), ("", "published"), ("w" * 201, "x")]
    )
    def test_a_bad_action_or_actor_writes_nothing(self, fake_store, who: str, action: str) -> None:
        """An action that is not lower_snake_case, or an empty or huge `who`: refused, nothing kept."""
        with pytest.raises(audit_log.InvalidAuditEntry):
            audit_log.record(fake_store, INSTANCE, who, action, {})
        assert fake_store.exists(keys.audit_log(INSTANCE)) == 0
