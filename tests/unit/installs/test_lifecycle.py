"""Install and removal as the worker sees them: the registry kept by every event, `installs.on_installed`
sent once per install, the install completed against the fake Wix (program status, embedded script), a
removed site's events ignored by the worker and by the receiver's queue."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests import wix_samples
from worker import keys
from worker.dispatch import RecordedDispatcher
from worker.events.processing import process_event
from worker.installs.embedded_script import script_placeholders
from worker.installs.lifecycle import NO_PUBLIC_BASE_URL, admit_event, complete_install
from worker.settings import Settings
from worker.store import instances, outbox, storefront_choice
from worker.store.journal import EventJournal
from worker.web.event_queue import EventQueue
from worker.wix.client import WixApiError
from worker.wix.envelope import WebhookEnvelope
from worker.wix.events import EventIgnored, NormalizedEvent
from worker.wix.fake.app_management import PARAMETERS_MISMATCH

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

APP_ID = "7d3f0c52-0000-4000-8000-0000000000a1"
APP_SECRET = "fake-secret"
INSTANCE = "inst-install"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PUBLIC_BASE_URL = "https://rewards.example.com"


def event(name: str, at: datetime = T0, instance_id: str = INSTANCE) -> NormalizedEvent:
    return NormalizedEvent(
        name=name, instanceId=instance_id, eventId=f"e-{name}-{at.timestamp()}", occurredAt=at
    )  # type: ignore[arg-type]


def settings(**values: object) -> Settings:
    return Settings(public_base_url=PUBLIC_BASE_URL, **values)  # type: ignore[arg-type]


class TestAdmitEvent:
    def test_app_installed_records_the_site_and_sends_on_installed(self, fake_store) -> None:
        """AppInstalled: the site is installed (via AppInstalled) and `installs.on_installed` is sent."""
        sent = RecordedDispatcher()
        admit_event(fake_store, event("app_installed"), sent)
        assert instances.get(fake_store, INSTANCE)["installedVia"] == "AppInstalled"  # type: ignore[index]
        assert sent.resent == [("installs.on_installed", {"instance_id": INSTANCE}, "rewards")]

    def test_the_first_event_of_an_unknown_site_stands_for_its_install(self, fake_store) -> None:
        """A site installed before the registry: its first event records it and sends on_installed, once."""
        sent = RecordedDispatcher()
        admit_event(fake_store, event("order_paid"), sent)
        admit_event(fake_store, event("order_paid", T0 + timedelta(minutes=1)), sent)
        assert instances.get(fake_store, INSTANCE)["installedVia"] == "first_event"  # type: ignore[index]
        assert [task for task, _, _ in sent.resent] == ["installs.on_installed"]

    def test_an_install_whose_send_failed_is_relayed_until_its_task_takes_it(
        self, fake_store, monkeypatch
    ) -> None:
        """The broker refuses the install task of a site's first event: the event goes on, its redelivery
        sends nothing (the site is known now), and the outbox's relay sends the install, until the task
        has taken it."""
        import tasks.installs

        down = RecordedDispatcher()
        down.resend = lambda *args: (_ for _ in ()).throw(ConnectionError("broker down"))  # type: ignore[method-assign]
        admit_event(fake_store, event("order_paid"), down)
        admit_event(fake_store, event("order_paid"), RecordedDispatcher())  # the redelivery
        relayed = RecordedDispatcher()
        later = time.time() + outbox.RESEND_AFTER_SECONDS + 1
        assert outbox.relay(fake_store, relayed.resend, later) == 1
        assert relayed.resent == [("installs.on_installed", {"instance_id": INSTANCE}, "rewards")]
        monkeypatch.setattr(tasks.installs, "redis_store", lambda: fake_store)
        monkeypatch.setattr(tasks.installs, "configured_wix", lambda: None)  # Wix not configured: no call
        tasks.installs.on_installed_task(instance_id=INSTANCE)
        assert outbox.relay(fake_store, relayed.resend, later + outbox.RESEND_MAX_SECONDS) == 0

    def test_a_removed_sites_events_are_ignored_until_it_installs_again(self, fake_store) -> None:
        """After AppRemoved every event but AppInstalled is ignored; AppInstalled brings the site back."""
        sent = RecordedDispatcher()
        admit_event(fake_store, event("app_installed"), sent)
        admit_event(fake_store, event("app_removed", T0 + timedelta(days=1)), sent)
        with pytest.raises(EventIgnored, match="removed"):
            admit_event(fake_store, event("order_paid", T0 + timedelta(days=2)), sent)
        admit_event(fake_store, event("app_installed", T0 + timedelta(days=3)), sent)
        admit_event(fake_store, event("order_paid", T0 + timedelta(days=4)), sent)
        assert instances.status(fake_store, INSTANCE) == "installed"
        assert len(sent.resent) == 2

    def test_a_late_install_or_removal_is_ignored_and_the_newer_status_kept(self, fake_store) -> None:
        """Wix delivers AppRemoved, then a retried AppInstalled that occurred before it: the site stays
        removed and its events stay ignored; a removal older than the reinstall does not remove it."""
        sent = RecordedDispatcher()
        admit_event(fake_store, event("app_installed"), sent)
        admit_event(fake_store, event("app_removed", T0 + timedelta(days=2)), sent)
        with pytest.raises(EventIgnored, match="late install or removal"):
            admit_event(fake_store, event("app_installed", T0 + timedelta(days=1)), sent)
        assert instances.is_removed(fake_store, INSTANCE)
        with pytest.raises(EventIgnored, match="removed"):
            admit_event(fake_store, event("order_paid", T0 + timedelta(days=3)), sent)
        admit_event(fake_store, event("app_installed", T0 + timedelta(days=4)), sent)
        with pytest.raises(EventIgnored, match="late install or removal"):
            admit_event(fake_store, event("app_removed", T0 + timedelta(days=3)), sent)
        admit_event(fake_store, event("order_paid", T0 + timedelta(days=5)), sent)
        assert instances.status(fake_store, INSTANCE) == "installed"

    def test_the_worker_settles_a_removed_sites_event_as_ignored(self, fake_store) -> None:
        """An event queued before the removal reaches the worker after it: settled `ignored`, no rules run."""
        instances.record_removed(fake_store, INSTANCE, T0)
        journal = EventJournal(fake_store, 3600)
        payload = wix_samples.payment_status_updated("e-late")
        outcome = process_event(
            journal,
            fake_store,
            event_type="wix.ecom.v1.order_payment_status_updated",
            instance_id=INSTANCE,
            event_id="e-late",
            data=json.dumps(payload),
            our_app_id="ours",
            claim_ttl_seconds=3600,
            follow_ups=RecordedDispatcher(),
        )
        assert outcome == "ignored"
        record = journal.get(INSTANCE, "e-late")
        assert record is not None and "removed" in record["reason"]


class TestCompleteInstall:
    def test_the_program_status_is_read_and_the_script_embedded_with_its_placeholders(
        self, fake_store, wix, fake_wix
    ) -> None:
        """The fake's program status is kept (registry and points gate) and the script is embedded with
        exactly the script's placeholders."""
        fake_wix.instance(INSTANCE).program["status"] = "DRAFT"
        instances.record_installed(fake_store, INSTANCE, T0)
        outcome = complete_install(
            fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
        )
        assert outcome.status == "completed" and outcome.program_status == "DRAFT" and outcome.embedded
        assert outcome.bootstrap is False  # AUTO_BOOTSTRAP is off by default
        embedded = fake_wix.peek(INSTANCE).embedded_script
        assert embedded is not None and set(embedded["parameters"]) == script_placeholders()
        assert (
            embedded["parameters"]["accountId"] == INSTANCE
            and embedded["parameters"]["host"] == PUBLIC_BASE_URL
        )
        entry = instances.get(fake_store, INSTANCE)
        assert entry is not None and entry["wixProgramStatus"] == "DRAFT"
        assert entry["embedding"]["embedded"] is True
        assert fake_store.get(keys.wix_program_status(INSTANCE)) == "DRAFT"  # points wait for ACTIVE
        assert wix.get_embedded_script(INSTANCE) == embedded

    def test_running_it_again_changes_nothing(self, fake_store, wix, fake_wix) -> None:
        """A retried task embeds the same parameters again: the site's script is as before."""
        instances.record_installed(fake_store, INSTANCE, T0)
        for _ in range(2):
            complete_install(
                fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
            )
        assert set(fake_wix.peek(INSTANCE).embedded_script["parameters"]) == script_placeholders()  # type: ignore[index]

    def test_auto_bootstrap_is_the_settings_answer(self, fake_store, wix) -> None:
        """With AUTO_BOOTSTRAP on, the install asks for the bootstrap job."""
        outcome = complete_install(
            fake_store,
            wix,
            INSTANCE,
            settings=settings(auto_bootstrap=True),
            follow_ups=RecordedDispatcher(),
            now=T0,
        )
        assert outcome.bootstrap is True

    def test_without_public_base_url_nothing_is_embedded_and_the_entry_says_why(
        self, fake_store, wix, calls
    ) -> None:
        """No PUBLIC_BASE_URL: no Embed Script call; the registry names the missing setting."""
        outcome = complete_install(
            fake_store,
            wix,
            INSTANCE,
            settings=Settings(public_base_url=None),
            follow_ups=RecordedDispatcher(),
            now=T0,
        )
        assert not outcome.embedded
        assert "POST /apps/v1/scripts" not in calls
        assert instances.get(fake_store, INSTANCE)["embedding"]["error"] == NO_PUBLIC_BASE_URL  # type: ignore[index]

    def test_a_removed_site_gets_no_wix_call(self, fake_store, wix, calls) -> None:
        """A task that runs after the removal does nothing."""
        instances.record_removed(fake_store, INSTANCE, T0)
        outcome = complete_install(
            fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
        )
        assert outcome.status == "removed" and calls == []

    def test_a_refused_embedding_is_recorded_not_retried(self, fake_store, wix, fake_wix) -> None:
        """When the script Wix knows has other placeholders, Wix's 400 is kept on the instance."""
        fake_wix.script_placeholders = {"host", "somethingElse"}
        outcome = complete_install(
            fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
        )
        assert not outcome.embedded
        assert PARAMETERS_MISMATCH in instances.get(fake_store, INSTANCE)["embedding"]["error"]  # type: ignore[index]


class TestTheSitesStorefrontChoice:
    def test_the_install_embeds_the_sites_chosen_ids_and_disabled_when_switched_off(
        self, fake_store, wix, fake_wix
    ) -> None:
        """The Storefront page's choice reaches Wix on the next completion (a save, a reinstall): its ids,
        and `disabled: true` while the widget is switched off; `false` once it is on again."""
        instances.record_installed(fake_store, INSTANCE, T0)
        choice = storefront_choice.StorefrontChoice("summer", "dark", "corner", shown=False)
        storefront_choice.save(fake_store, INSTANCE, choice, "owner-1")
        complete_install(
            fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
        )
        embedded = fake_wix.peek(INSTANCE).embedded_script
        assert embedded is not None and embedded["disabled"] is True
        assert instances.get(fake_store, INSTANCE)["embedding"]["disabled"] is True  # type: ignore[index]
        chosen = {k: embedded["parameters"][k] for k in ("templateId", "themeId", "floatingWidgetId")}
        assert chosen == {"templateId": "summer", "themeId": "dark", "floatingWidgetId": "corner"}
        storefront_choice.save(fake_store, INSTANCE, replace(choice, shown=True), "owner-1")
        complete_install(
            fake_store, wix, INSTANCE, settings=settings(), follow_ups=RecordedDispatcher(), now=T0
        )
        assert fake_wix.peek(INSTANCE).embedded_script["disabled"] is False  # type: ignore[index]
        assert "disabled" not in instances.get(fake_store, INSTANCE)["embedding"]  # type: ignore[index]


class TestFakeEmbedScript:
    def test_parameters_that_differ_from_the_placeholders_are_a_400_with_wixs_message(self, wix) -> None:
        """One key more, or one less, than the script's placeholders: 400 and Wix's message."""
        parameters = {name: "x" for name in script_placeholders()}
        for wrong in ({**parameters, "extra": "x"}, {k: v for k, v in parameters.items() if k != "host"}):
            with pytest.raises(WixApiError) as refused:
                wix.embed_script(INSTANCE, wrong)
            assert refused.value.status == 400 and PARAMETERS_MISMATCH in str(refused.value)

    def test_a_value_that_is_not_a_string_is_a_400(self, wix) -> None:
        """Parameters are strings."""
        parameters: dict[str, object] = {name: "x" for name in script_placeholders()}
        parameters["host"] = 1
        with pytest.raises(WixApiError) as refused:
            wix.embed_script(INSTANCE, parameters)  # type: ignore[arg-type]
        assert refused.value.status == 400

    def test_nothing_embedded_reads_as_none(self, wix) -> None:
        """GET before any embedding: 404, which the client answers as None."""
        assert wix.get_embedded_script(INSTANCE) is None


class TestReceiverQueue:
    def envelope(self, event_type: str, event_id: str) -> WebhookEnvelope:
        payload = (
            wix_samples.app_installed()
            if event_type.startswith("App")
            else wix_samples.order_approved(event_id)
        )
        return WebhookEnvelope(event_type, INSTANCE, event_id, json.dumps(payload), None)

    def test_a_removed_sites_webhook_is_answered_removed_and_nothing_is_written(
        self, fake_async, fake_store
    ) -> None:
        """In the same Lua call: a removed site's order webhook is not queued nor journaled; its
        AppInstalled is."""
        instances.record_removed(fake_store, INSTANCE, T0)
        queue = EventQueue(fake_async, 3600)
        assert asyncio.run(queue.enqueue(self.envelope("wix.ecom.v1.order_approved", "e-1"))) == "removed"
        assert fake_store.llen("events") == 0
        assert not fake_store.exists(keys.event_record(INSTANCE, "e-1"))
        assert asyncio.run(queue.enqueue(self.envelope("AppInstalled", "e-2"))) == "queued"
        assert fake_store.llen("events") == 1

    def test_an_installed_sites_webhook_is_queued(self, fake_async, fake_store) -> None:
        """Installed, or never seen: queued as before."""
        queue = EventQueue(fake_async, 3600)
        assert asyncio.run(queue.enqueue(self.envelope("wix.ecom.v1.order_approved", "e-3"))) == "queued"
        instances.record_installed(fake_store, INSTANCE, T0)
        assert asyncio.run(queue.enqueue(self.envelope("wix.ecom.v1.order_approved", "e-4"))) == "queued"
