"""Instance API keys on both stores: a key's record (found by its digest) and the instance's audit log
are in different hash slots under Redis Cluster, so creating and revoking write them in two steps."""

from __future__ import annotations

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
