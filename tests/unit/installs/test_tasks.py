"""The install tasks, called directly (no eager mode): `installs.on_installed` and the daily purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker import keys
from worker.settings import Settings
from worker.store import instances
from worker.store.site_settings import SiteSettingsPatch, update_site_settings

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-task"


@pytest.fixture
def task_world(fake_store, wix, monkeypatch):  # type: ignore[no-untyped-def]
    """The tasks' providers pointed at fakeredis and the in-process fake Wix; batches sent are kept."""
    import tasks.installs

    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.installs, "redis_store", lambda: fake_store)
    monkeypatch.setattr(tasks.installs, "configured_wix", lambda: wix)
    monkeypatch.setattr(tasks.installs, "send_batch", lambda job_id, name: sent.append((job_id, name)))
    monkeypatch.setattr(tasks.installs, "CeleryDispatcher", lambda: None)

    def use(**values: object) -> None:
        monkeypatch.setattr(tasks.installs, "get_settings", lambda: Settings(**values))  # type: ignore[arg-type]

    use(public_base_url="https://rewards.example.com")
    return sent, use


class TestOnInstalled:
    def test_the_install_is_completed_and_no_bootstrap_starts_by_default(
        self, task_world, fake_store, fake_wix
    ) -> None:
        """Program status read, script embedded, no job (AUTO_BOOTSTRAP is off)."""
        from tasks.installs import on_installed_task

        sent, _ = task_world
        assert on_installed_task(instance_id=INSTANCE) == "completed"
        assert fake_wix.peek(INSTANCE).embedded_script is not None
        assert instances.get(fake_store, INSTANCE)["wixProgramStatus"] == "ACTIVE"  # type: ignore[index]
        assert sent == []

    def test_auto_bootstrap_starts_the_job_once(self, task_world, fake_store) -> None:
        """With AUTO_BOOTSTRAP on, the bootstrap job starts; a redelivered task finds it running."""
        from tasks.installs import on_installed_task

        sent, use = task_world
        use(public_base_url="https://rewards.example.com", auto_bootstrap=True)
        on_installed_task(instance_id=INSTANCE)
        on_installed_task(instance_id=INSTANCE)
        assert [name for _, name in sent] == ["bootstrap"]
        assert fake_store.get(keys.job_running(INSTANCE, "bootstrap")) == sent[0][0]

    def test_a_sites_own_auto_bootstrap_wins_over_the_environments(self, task_world, fake_store) -> None:
        """The site's `autoBootstrap` (PATCH .../settings) decides, whatever AUTO_BOOTSTRAP says."""
        from tasks.installs import on_installed_task

        sent, use = task_world
        use(public_base_url="https://rewards.example.com", auto_bootstrap=True)
        update_site_settings(fake_store, INSTANCE, SiteSettingsPatch.model_validate({"autoBootstrap": False}))
        on_installed_task(instance_id=INSTANCE)
        assert sent == []
        use(public_base_url="https://rewards.example.com", auto_bootstrap=False)
        update_site_settings(fake_store, INSTANCE, SiteSettingsPatch.model_validate({"autoBootstrap": True}))
        on_installed_task(instance_id=INSTANCE)
        assert [name for _, name in sent] == ["bootstrap"]


class TestPurgeTask:
    def test_it_purges_only_sites_removed_longer_ago_than_the_retention(self, task_world, fake_store) -> None:
        """INSTANCE_RETENTION_DAYS=0: a site removed a moment ago is purged; one installed is not."""
        from tasks.installs import purge_removed_instances_task

        _, use = task_world
        use(instance_retention_days=0)
        fake_store.set(keys.program(INSTANCE), "{}")
        fake_store.set(keys.program("inst-other"), "{}")
        instances.record_removed(fake_store, INSTANCE, datetime.now(UTC) - timedelta(seconds=1))
        assert purge_removed_instances_task() == 1
        assert not fake_store.exists(keys.program(INSTANCE))
        assert fake_store.exists(keys.program("inst-other"))
