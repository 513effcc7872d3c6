"""The instance registry: installed, removed, installed again; the one question the rest asks (`is_removed`);
every key of an instance is found by its purge patterns."""

from __future__ import annotations

import fnmatch
import inspect
from datetime import UTC, datetime, timedelta

import pytest

from worker import keys
from worker.store import instances
from worker.store.api_keys import create_api_key, instance_for

INSTANCE = "inst-1"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class TestRegistry:
    def test_an_unknown_instance_is_neither_installed_nor_removed(self, fake_store) -> None:
        """Never seen: no status, not removed, no entry."""
        assert instances.status(fake_store, INSTANCE) is None
        assert not instances.is_removed(fake_store, INSTANCE)
        assert instances.get(fake_store, INSTANCE) is None

    def test_the_first_event_of_an_unknown_instance_records_it_installed(self, fake_store) -> None:
        """`touch` answers "" once (unknown until then) and records the site as installed by that event."""
        assert instances.touch(fake_store, INSTANCE, T0) == ""
        assert instances.touch(fake_store, INSTANCE, T0 + timedelta(hours=1)) == "installed"
        entry = instances.get(fake_store, INSTANCE)
        assert entry is not None
        assert entry["status"] == "installed" and entry["installedVia"] == "first_event"
        assert entry["installedAt"] == "2026-11-02T09:00:00Z"
        assert entry["lastEventAt"] == "2026-11-02T10:00:00Z"

    def test_the_last_event_never_goes_backwards(self, fake_store) -> None:
        """An older event delivered late leaves lastEventAt at the newest one."""
        instances.touch(fake_store, INSTANCE, T0 + timedelta(seconds=1.5))
        instances.touch(fake_store, INSTANCE, T0)
        assert instances.get(fake_store, INSTANCE)["lastEventAt"] == "2026-11-02T09:00:01.500000Z"  # type: ignore[index]

    def test_removed_then_installed_again(self, fake_store) -> None:
        """Removal is seen at once; a reinstall clears it and says it was one."""
        assert instances.record_installed(fake_store, INSTANCE, T0) is False
        instances.record_removed(fake_store, INSTANCE, T0 + timedelta(days=3))
        assert instances.is_removed(fake_store, INSTANCE)
        assert instances.removed_before(fake_store, T0 + timedelta(days=4)) == [INSTANCE]
        assert instances.record_installed(fake_store, INSTANCE, T0 + timedelta(days=5)) is True
        assert not instances.is_removed(fake_store, INSTANCE)
        assert instances.removed_before(fake_store, T0 + timedelta(days=40)) == []
        assert instances.get(fake_store, INSTANCE)["installedAt"] == "2026-11-07T09:00:00Z"  # type: ignore[index]

    def test_a_late_install_older_than_the_removal_changes_nothing(self, fake_store) -> None:
        """An AppInstalled delivered after the removal that followed it: the site stays removed and its
        data waits for the purge."""
        instances.record_installed(fake_store, INSTANCE, T0)
        instances.record_removed(fake_store, INSTANCE, T0 + timedelta(days=3))
        with pytest.raises(instances.StaleChange):
            instances.record_installed(fake_store, INSTANCE, T0 + timedelta(days=1))
        assert instances.is_removed(fake_store, INSTANCE)
        assert instances.removed_before(fake_store, T0 + timedelta(days=4)) == [INSTANCE]

    def test_a_late_removal_older_than_the_reinstall_changes_nothing(self, fake_store) -> None:
        """An AppRemoved delivered after the reinstall that followed it: the site stays installed, out of
        the purge's reach; the same removal delivered in order still removes."""
        instances.record_removed(fake_store, "other", T0)
        instances.record_installed(fake_store, INSTANCE, T0 + timedelta(days=2))
        with pytest.raises(instances.StaleChange):
            instances.record_removed(fake_store, INSTANCE, T0 + timedelta(days=1))
        assert not instances.is_removed(fake_store, INSTANCE)
        assert instances.removed_before(fake_store, T0 + timedelta(days=40)) == ["other"]
        instances.record_removed(fake_store, INSTANCE, T0 + timedelta(days=2))  # same instant: in order
        assert instances.is_removed(fake_store, INSTANCE)

    def test_a_late_removal_older_than_the_first_event_changes_nothing(self, fake_store) -> None:
        """A site first seen through an ordinary event (installed before the registry) keeps that status
        against a removal older than the event: Wix sends no events of a removed app."""
        instances.touch(fake_store, INSTANCE, T0 + timedelta(days=2))
        with pytest.raises(instances.StaleChange):
            instances.record_removed(fake_store, INSTANCE, T0)
        assert instances.status(fake_store, INSTANCE) == "installed"

    def test_embedding_and_program_status_are_kept(self, fake_store) -> None:
        """The embedding (or its error) and the Wix program status read at install show in the entry."""
        instances.record_installed(fake_store, INSTANCE, T0)
        instances.record_wix_program(fake_store, INSTANCE, "DRAFT", T0)
        instances.record_embedding(fake_store, INSTANCE, T0, parameters={"host": "https://x.example"})
        entry = instances.get(fake_store, INSTANCE)
        assert entry is not None
        assert entry["wixProgramStatus"] == "DRAFT"
        assert entry["embedding"] == {
            "embedded": True,
            "parameters": {"host": "https://x.example"},
            "at": "2026-11-02T09:00:00Z",
        }
        instances.record_embedding(fake_store, INSTANCE, T0, error="PUBLIC_BASE_URL is not set")
        assert instances.get(fake_store, INSTANCE)["embedding"]["embedded"] is False  # type: ignore[index]

    def test_pages_are_in_install_order_and_bounded(self, fake_store) -> None:
        """Instances come in the order they were installed, a page at a time, with the total."""
        for n in range(5):
            instances.record_installed(fake_store, f"inst-{n}", T0 + timedelta(days=n))
        page, total = instances.page(fake_store, 1, 2)
        assert total == 5
        assert [entry["instanceId"] for entry in page] == ["inst-1", "inst-2"]
        assert instances.page(fake_store, 0, 0) == ([], 5)


class TestApiKeysOfARemovedSite:
    def test_a_key_stops_working_at_removal_and_works_again_after_a_reinstall(self, fake_store) -> None:
        """The key is refused while the site has removed the app, and accepted again once reinstalled."""
        key = create_api_key(fake_store, INSTANCE)
        assert instance_for(fake_store, key) == INSTANCE
        instances.record_removed(fake_store, INSTANCE, T0)
        assert instance_for(fake_store, key) is None
        instances.record_installed(fake_store, INSTANCE, T0 + timedelta(days=1))
        assert instance_for(fake_store, key) == INSTANCE


# Keys scoped to an instance that the purge leaves on purpose: the registry entry itself.
KEPT = {"instance"}


def _instance_scoped_builders() -> list[str]:
    return [
        name
        for name, function in inspect.getmembers(keys, inspect.isfunction)
        if function.__module__ == keys.__name__
        and list(inspect.signature(function).parameters)[:1] == ["instance_id"]
        and name not in KEPT
        and name != "instance_key_patterns"
    ]


class TestPurgePatterns:
    @pytest.mark.parametrize("builder", _instance_scoped_builders())
    def test_every_instance_key_is_found_by_the_purge_patterns(self, builder: str) -> None:
        """Each key builder scoped to an instance makes keys that one of the purge's patterns matches, and
        no pattern of one instance matches another instance's key."""
        function = getattr(keys, builder)
        others = ["contact-1", "item", "x"][: len(inspect.signature(function).parameters) - 1]
        key = function(INSTANCE, *others)
        assert any(fnmatch.fnmatchcase(key, p) for p in keys.instance_key_patterns(INSTANCE)), key
        neighbour = function("inst-10", *others)
        assert not any(fnmatch.fnmatchcase(neighbour, p) for p in keys.instance_key_patterns(INSTANCE))

    def test_an_id_that_is_not_an_instance_id_gets_no_patterns(self) -> None:
        """A glob character never reaches a SCAN pattern."""
        with pytest.raises(ValueError):
            keys.instance_key_patterns("inst*")


class TestWidgetTokensOfARemovedSite:
    def test_a_valid_widget_token_is_refused_once_the_site_removed_the_app(self, fake_store) -> None:
        """The same token verifies while installed and is refused after the removal (with `store`)."""
        from worker.storefront.widget_tokens import InvalidWidgetToken, mint_widget_token, verify_widget_token

        secret = "s" * 32
        token, _ = mint_widget_token(secret, INSTANCE, "contact-1", "member-1", datetime.now(UTC))
        assert verify_widget_token(secret, token, store=fake_store).instance_id == INSTANCE
        instances.record_removed(fake_store, INSTANCE, T0)
        with pytest.raises(InvalidWidgetToken, match="removed"):
            verify_widget_token(secret, token, store=fake_store)


class TestInstancesCommand:
    def test_list_and_show_print_the_registry_and_an_unknown_id_fails(
        self, fake_store, monkeypatch, capsys
    ) -> None:
        """`instances list` prints the page, `instances show ID` one site, an unknown one exits 1."""
        import json

        from worker import cli
        from worker.commands import instances as command

        monkeypatch.setattr(command, "_store", lambda: fake_store)
        instances.record_installed(fake_store, INSTANCE, T0)
        assert cli.main(["instances", "list"]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert listing["total"] == 1 and listing["instances"][0]["status"] == "installed"
        assert cli.main(["instances", "show", INSTANCE]) == 0
        assert json.loads(capsys.readouterr().out)["program"] is None
        assert cli.main(["instances", "show", "inst-unknown"]) == 1
        assert "no instance" in capsys.readouterr().err
