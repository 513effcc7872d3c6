"""The app's install and removal on a Wix site, as the worker sees them.

- Every event of an instance passes `admit_event` first: it stamps the registry's `lastEventAt`;
  `app_installed` records the instance as installed (a reinstall inside the retention window finds its
  data as it was) and sends `installs.on_installed`; `app_removed` records it as removed; any other event
  of a removed instance is ignored; the first event of an instance never seen (a site that installed the
  app before the registry existed) records it as installed and sends `installs.on_installed` too.
- `installs.on_installed` runs `complete_install`: it reads the site's Wix loyalty program status (the
  points gate's, worker/loyalty/points_gate.py) and embeds the widget's script with the site's parameters
  (its storefront choice, `disabled` when the merchant switched the widget off; the console's Storefront
  page sends this task after a save, through the same outbox intent).
  Safe to run again: both are reads or replacements. Whether the `bootstrap` job starts too is
  `auto_bootstrap_for`'s answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import redis

from worker import keys
from worker.dispatch import ON_INSTALLED, Dispatcher, queue_of
from worker.engine.program import ProgramInvalid
from worker.installs.embedded_script import embed_parameters
from worker.loyalty.points_gate import record_program_status, release_waiting
from worker.settings import Settings
from worker.store import instances, outbox, storefront_choice
from worker.store.progress import NoProgram, ProgressStore
from worker.store.site_settings import site_settings_for
from worker.wix.client import WixApiError, WixClient
from worker.wix.events import EventIgnored, NormalizedEvent

logger = logging.getLogger(__name__)

REMOVED_REASON = "the app was removed from this site: its events are not processed"
LATE_REASON = "a late install or removal, older than the site's last one: the site's status is kept"
INSTALL_INTENT = "install"  # the install task's intent in the instance's outbox (one at a time)
NOT_CONFIGURED = "Wix is not configured (WIX_APP_ID, WIX_APP_SECRET)"
NO_PUBLIC_BASE_URL = "PUBLIC_BASE_URL is not set: the widget's host is unknown, so the script is not embedded"


class Unread(Enum):
    """`admit_event`'s `known_status` when the caller has not read the registry's status."""

    UNREAD = "unread"


def admit_event(
    client: redis.Redis,
    event: NormalizedEvent,
    follow_ups: Dispatcher | None,
    known_status: str | Unread | None = Unread.UNREAD,
) -> None:
    """Keep the registry current with this event; EventIgnored when its instance's app was removed.
    `known_status`: the registry's status of the instance as the caller just read it (`instances.status`,
    in a round trip it shared with other reads), so it is not read again.

    An install (`AppInstalled`, or the first event of a site the registry has not seen) writes its
    `installs.on_installed` intent in the instance's outbox before the registry knows the site: a worker
    dying before the send, or a broker refusing it, leaves the intent to the relay, not to an event
    whose redelivery finds the site already known."""
    instance_id, at = event.instanceId, event.occurredAt
    if isinstance(known_status, Unread):
        known_status = instances.status(client, instance_id)
    installing = event.name == "app_installed" or known_status is None
    if installing:
        outbox.put(client, keys.instance_outbox(instance_id), [install_intent(instance_id)], time.time())
    before = instances.touch(client, instance_id, at)
    if event.name in ("app_installed", "app_removed"):
        _record_install_or_removal(client, event)
    elif before == instances.REMOVED:
        raise EventIgnored(REMOVED_REASON)
    if installing:
        send_on_installed(follow_ups, instance_id)


def _record_install_or_removal(client: redis.Redis, event: NormalizedEvent) -> None:
    """EventIgnored for a late one (a redelivery older than the site's last install or removal): a removal
    delivered after the reinstall that followed it must not remove the site, nor a late install revive it."""
    instance_id, at = event.instanceId, event.occurredAt
    try:
        if event.name == "app_removed":
            instances.record_removed(client, instance_id, at)
            logger.info("app removed from the site", extra={"instance_id": instance_id})
        elif instances.record_installed(client, instance_id, at):
            logger.info("app installed again: the site's data is kept", extra={"instance_id": instance_id})
    except instances.StaleChange as late:
        raise EventIgnored(LATE_REASON) from late


def install_intent(instance_id: str) -> outbox.Intent:
    return outbox.Intent(INSTALL_INTENT, ON_INSTALLED, {"instance_id": instance_id}, queue_of(ON_INSTALLED))


def send_on_installed(follow_ups: Dispatcher | None, instance_id: str) -> None:
    """Send the install task at once; a failure is left to the outbox's relay (the intent is there)."""
    if follow_ups is None:
        return
    try:
        follow_ups.resend(ON_INSTALLED, {"instance_id": instance_id}, queue_of(ON_INSTALLED))
    except Exception:
        logger.exception(
            "could not send the install task: the outbox relay will", extra={"instance_id": instance_id}
        )


def auto_bootstrap_for(client: redis.Redis, settings: Settings, instance_id: str) -> bool:
    """Whether installing the app on this site starts the `bootstrap` job (activating the merchant's
    loyalty program is the merchant's decision): the site's own `autoBootstrap`, else AUTO_BOOTSTRAP
    (off by default)."""
    return site_settings_for(client, instance_id, settings).auto_bootstrap


@dataclass(frozen=True)
class InstallOutcome:
    status: str  # `completed`, `removed` (nothing done), `not_configured`
    program_status: str | None = None
    embedded: bool = False
    bootstrap: bool = False


def complete_install(
    client: redis.Redis,
    wix: WixClient | None,
    instance_id: str,
    *,
    settings: Settings,
    follow_ups: Dispatcher,
    now: datetime,
) -> InstallOutcome:
    """Read the site's Wix loyalty program status and embed the widget's script. Transient Wix errors
    propagate (the task retries); a refusal is recorded on the instance, not retried."""
    if instances.is_removed(client, instance_id):
        return InstallOutcome("removed")
    if wix is None:
        instances.record_embedding(client, instance_id, now, error=NOT_CONFIGURED)
        return InstallOutcome("not_configured")
    program_status = _read_program_status(client, wix, instance_id, follow_ups, now)
    embedded = _embed(client, wix, instance_id, settings.public_base_url, now)
    bootstrap = auto_bootstrap_for(client, settings, instance_id)
    return InstallOutcome("completed", program_status, embedded, bootstrap)


def _read_program_status(
    client: redis.Redis, wix: WixClient, instance_id: str, follow_ups: Dispatcher, now: datetime
) -> str:
    try:
        status = str(wix.get_loyalty_program(instance_id).get("status") or "UNKNOWN")
    except WixApiError as exc:  # e.g. Wix's Loyalty app is not on the site
        status = f"UNAVAILABLE ({exc.status})"
        logger.info(
            "no Wix loyalty program to read", extra={"instance_id": instance_id, "status": exc.status}
        )
        instances.record_wix_program(client, instance_id, status, now)
        return status
    instances.record_wix_program(client, instance_id, status, now)
    if record_program_status(client, instance_id, status):  # points that waited for ACTIVE go now
        release_waiting(client, instance_id, follow_ups)
    return status


def _embed(
    client: redis.Redis, wix: WixClient, instance_id: str, public_base_url: str | None, now: datetime
) -> bool:
    if not public_base_url:
        instances.record_embedding(client, instance_id, now, error=NO_PUBLIC_BASE_URL)
        return False
    try:
        program = ProgressStore(client).program(instance_id)
    except (NoProgram, ProgramInvalid):
        program = None
    choice = storefront_choice.get(client, instance_id)
    parameters = embed_parameters(program, choice=choice, instance_id=instance_id, host=public_base_url)
    try:
        wix.embed_script(instance_id, parameters, disabled=not choice.shown)
    except WixApiError as exc:
        instances.record_embedding(client, instance_id, now, error=f"Wix refused the embedding: {exc}")
        logger.warning(
            "Wix refused the embedded script", extra={"instance_id": instance_id, "status": exc.status}
        )
        return False
    instances.record_embedding(client, instance_id, now, parameters=parameters, disabled=not choice.shown)
    return True
