"""Instance API keys on both stores: a key's record (found by its digest) and the instance's audit log
are in different hash slots under Redis Cluster, so creating and revoking write them in two steps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from worker import keys
from worker.store import audit_log
from worker.store.api_keys import _digest, create_api_key, instance_for, revoke_api_key

SITE = "site-keys"


def actions(client: object) -> list[str]:
    return [entry["action"] for entry in audit_log.recent(client, SITE)]  # type: ignore[arg-type]


def test_a_key_made_and_revoked_is_audited_once_each(fake_store) -> None:
    """Made, revoked twice: it works, then it does not; one entry for each change."""
    key = create_api_key(fake_store, SITE, who="owner@example.com")
    assert instance_for(fake_store, key) == SITE
    first = revoke_api_key(fake_store, SITE, key[:12], "owner@example.com")
    again = revoke_api_key(fake_store, SITE, key[:12], "owner@example.com")
    assert first is not None and again is not None and again.revoked_at == first.revoked_at
    assert instance_for(fake_store, key) is None
    assert actions(fake_store) == ["api_key_revoked", "api_key_created"]


def test_a_revocation_whose_process_died_before_its_audit_entry_writes_it_when_asked_again(
    fake_store,
) -> None:
    """The record says revoked and owes its entry (the process died between the two steps): revoking
    again writes the owed entry, once."""
    key = create_api_key(fake_store, SITE)
    record = keys.api_key(_digest(key))
    owed = audit_log.entry("owner@example.com", "api_key_revoked", {"id": key[:12]})
    fake_store.hset(record, mapping={"revokedAt": "2026-12-07T10:00:00Z", "auditOwed": owed})
    assert instance_for(fake_store, key) is None  # revoked already
    assert actions(fake_store) == []

    revoke_api_key(fake_store, SITE, key[:12], "someone-else@example.com")
    revoke_api_key(fake_store, SITE, key[:12], "someone-else@example.com")

    [entry] = audit_log.recent(fake_store, SITE)
    assert (entry["action"], entry["who"]) == ("api_key_revoked", "owner@example.com")
    assert fake_store.hget(record, "auditOwed") is None


def _run_first_when(
    monkeypatch: pytest.MonkeyPatch,
    client: object,
    method: str,
    call: tuple[str, ...],
    other: Callable[[], object],
) -> None:
    """The revocation under test, at its `method(*call)`, lets `other` run to its end first: the two
    revocations interleaved at that point, as two processes can."""
    real = getattr(client, method)
    pending = [other]

    def interleaved(*args: object) -> object:
        answer = real(*args)
        if args == call and pending:
            pending.pop()()
        return answer

    monkeypatch.setattr(client, method, interleaved)


def test_two_revocations_settling_the_owed_entry_at_once_write_it_once(
    fake_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process died owing the revocation's entry; two revocations asked again both read it as owed
    before either wrote it: the log has it once."""
    key = create_api_key(fake_store, SITE)
    record = keys.api_key(_digest(key))
    owed = audit_log.entry("owner@example.com", "api_key_revoked", {"id": key[:12]})
    fake_store.hset(record, mapping={"revokedAt": "2026-12-07T10:00:00Z", "auditOwed": owed})
    other = lambda: revoke_api_key(fake_store, SITE, key[:12], "b@example.com")  # noqa: E731
    _run_first_when(monkeypatch, fake_store, "hget", (record, "auditOwed"), other)

    revoke_api_key(fake_store, SITE, key[:12], "a@example.com")

    assert [entry["who"] for entry in audit_log.recent(fake_store, SITE)] == ["owner@example.com"]
    assert fake_store.hget(record, "auditOwed") is None


def test_a_revocation_that_finds_the_key_unrevoked_while_another_revokes_it_writes_no_second_entry(
    fake_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first revocations at once: one finds the key unrevoked, the other revokes it and writes its
    entry before the first marks the record: the log has one revocation, the first revocation's time."""
    key = create_api_key(fake_store, SITE)
    record = keys.api_key(_digest(key))
    first: list[object] = []
    other = lambda: first.append(revoke_api_key(fake_store, SITE, key[:12], "b@example.com"))  # noqa: E731
    _run_first_when(monkeypatch, fake_store, "hexists", (record, "revokedAt"), other)

    late = revoke_api_key(fake_store, SITE, key[:12], "a@example.com")

    assert [(entry["action"], entry["who"]) for entry in audit_log.recent(fake_store, SITE)] == [
        ("api_key_revoked", "b@example.com")
    ]
    assert late == first[0]
    assert fake_store.hget(record, "auditOwed") is None
