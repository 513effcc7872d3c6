"""The purge of a removed site's data: only after INSTANCE_RETENTION_DAYS, every key of the instance and
nothing of another, idempotent, stopped by a reinstall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker import keys
from worker.dev.programs import BASE_PROGRAM
from worker.installs.purge import purge_due, purge_instance
from worker.store import instances
from worker.store.api_keys import create_api_key, instance_for
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

GONE = "inst-gone"
KEPT = "inst-kept"
REMOVED_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def seed(client, instance_id: str) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    """A program, a member's progress keys, a journal record, sync mappings, caches, a Wix token, an API
    key: one key of (nearly) every kind an instance has."""
    ProgressStore(client).save_program(instance_id, BASE_PROGRAM)
    written = [
        keys.member_state(instance_id, "contact-1", "streak", "weekly-shopper"),
        keys.member_reward(instance_id, "contact-1", "rl_1"),
        keys.event_record(instance_id, "e-1"),
        keys.uid_source(instance_id, "wix:order:1:order_paid"),
        keys.sync_contacts(instance_id),
        keys.own_points_transaction(instance_id, "t-1"),
        keys.loyalty_account_copy(instance_id, "contact-1"),
        keys.wix_program_status(instance_id),
        keys.reward_index(instance_id),
        keys.members(instance_id),
        keys.wix_token(instance_id),
        keys.monthly_messages_marks(instance_id, "2026-11"),
    ]
    for key in written:
        if not client.exists(key):
            client.set(key, "x")
    client.zadd(keys.OUTBOX_INDEX, {keys.member_outbox(instance_id, "contact-1"): 1.0})
    return [*written, keys.program(instance_id)], create_api_key(client, instance_id)


@pytest.fixture
def two_sites(fake_store):  # type: ignore[no-untyped-def]
    gone_keys, gone_api_key = seed(fake_store, GONE)
    kept_keys, kept_api_key = seed(fake_store, KEPT)
    instances.record_installed(fake_store, KEPT, REMOVED_AT - timedelta(days=60))
    instances.record_installed(fake_store, GONE, REMOVED_AT - timedelta(days=60))
    instances.record_removed(fake_store, GONE, REMOVED_AT)
    return gone_keys, gone_api_key, kept_keys, kept_api_key


class TestPurge:
    def test_nothing_goes_inside_the_retention_window(self, fake_store, two_sites) -> None:
        """29 days after the removal, the site's data is all there."""
        gone_keys, *_ = two_sites
        assert purge_due(fake_store, retention_days=30, now=REMOVED_AT + timedelta(days=29)) == {}
        assert all(fake_store.exists(key) for key in gone_keys)

    def test_after_the_window_every_key_of_the_site_goes_and_no_other(self, fake_store, two_sites) -> None:
        """31 days after: every key of the removed site is gone (API key too, outbox index entry too), the
        other site's untouched, and the registry says when."""
        gone_keys, _, kept_keys, kept_api_key = two_sites
        now = REMOVED_AT + timedelta(days=31)
        purged = purge_due(fake_store, retention_days=30, now=now, batch_size=3)
        assert set(purged) == {GONE} and purged[GONE] >= len(gone_keys) + 1
        assert not any(fake_store.exists(key) for key in gone_keys)
        owners = [fake_store.hget(key, "instanceId") for key in fake_store.scan_iter(match="wrw:apikey:*")]
        assert owners == [KEPT]
        assert all(fake_store.exists(key) for key in kept_keys)
        assert instance_for(fake_store, kept_api_key) == KEPT
        assert fake_store.zrange(keys.OUTBOX_INDEX, 0, -1) == [keys.member_outbox(KEPT, "contact-1")]
        leftovers = [k for k in fake_store.scan_iter(match=f"*{GONE}*")]
        assert leftovers == [keys.instance(GONE)]  # the registry entry stays, marked purged
        entry = instances.get(fake_store, GONE)
        assert entry is not None and entry["status"] == "removed" and entry["purgedAt"]

    def test_purging_again_finds_nothing_to_do(self, fake_store, two_sites) -> None:
        """The next day's run does not see the purged site again; a direct re-run deletes nothing."""
        now = REMOVED_AT + timedelta(days=31)
        purge_due(fake_store, retention_days=30, now=now)
        assert purge_due(fake_store, retention_days=30, now=now + timedelta(days=1)) == {}
        assert purge_instance(fake_store, GONE, now=now) == 0

    def test_a_reinstall_inside_the_window_cancels_the_purge(self, fake_store, two_sites) -> None:
        """Installed again on day 10: on day 31 nothing is purged, the program and the API key work."""
        gone_keys, gone_api_key, *_ = two_sites
        instances.record_installed(fake_store, GONE, REMOVED_AT + timedelta(days=10))
        assert purge_due(fake_store, retention_days=30, now=REMOVED_AT + timedelta(days=31)) == {}
        assert all(fake_store.exists(key) for key in gone_keys)
        assert instance_for(fake_store, gone_api_key) == GONE
        assert ProgressStore(fake_store).program(GONE).streaks

    def test_a_reinstall_during_the_purge_stops_it(self, fake_store, two_sites, monkeypatch) -> None:
        """The site is installed again after the first batch: the purge stops, the rest stays."""
        gone_keys, *_ = two_sites
        unlink = fake_store.unlink

        def unlink_then_reinstall(*names: str) -> int:
            deleted = int(unlink(*names))
            instances.record_installed(fake_store, GONE, REMOVED_AT + timedelta(days=31))
            return deleted

        monkeypatch.setattr(fake_store, "unlink", unlink_then_reinstall)
        assert purge_instance(fake_store, GONE, now=REMOVED_AT + timedelta(days=31), batch_size=1) is None
        assert sum(bool(fake_store.exists(key)) for key in gone_keys) == len(gone_keys) - 1
        assert instances.get(fake_store, GONE)["purgedAt"] is None  # type: ignore[index]
