"""Install and removal (worker/installs/): completing an install (queue `rewards`: Wix calls) and the daily
purge of removed sites' data (queue `periodic`)."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.jobs import send_batch
from worker import keys
from worker.installs.lifecycle import INSTALL_INTENT, complete_install
from worker.installs.purge import purge_due
from worker.jobs.registry import KINDS
from worker.jobs.runner import Jobs
from worker.runtime.celery_app import WorkerTask, app, in_place_deadline
from worker.runtime.dispatcher import CeleryDispatcher
from worker.runtime.providers import configured_wix, redis_store
from worker.settings import get_settings
from worker.store import outbox
from worker.wix.client import WixTransientError, retry_in_place

BOOTSTRAP = "bootstrap"


@app.task(name="installs.on_installed", bind=True)
def on_installed_task(self: WorkerTask, *, instance_id: str) -> str:
    """Read the site's Wix loyalty program status, embed the widget's script, and start `bootstrap` when
    auto-bootstrap is on for the site; answers what became of it."""
    wix, settings = configured_wix(), get_settings()
    outbox.take(redis_store(), keys.instance_outbox(instance_id), INSTALL_INTENT)  # the broker has it now
    try:
        outcome = retry_in_place(
            lambda: complete_install(
                redis_store(),
                wix,
                instance_id,
                settings=settings,
                follow_ups=CeleryDispatcher(),
                now=datetime.now(UTC),
            ),
            deadline=in_place_deadline(),
            base=2 * wix.retry_base if wix is not None else 1.0,
        )
    except WixTransientError as exc:
        raise self.retry_after_wix(exc) from exc
    if outcome.bootstrap:  # a running bootstrap of the site is answered, not doubled
        record, new = Jobs(redis_store(), KINDS).start(instance_id, BOOTSTRAP, started_by="install")
        if new:
            send_batch(record["id"], BOOTSTRAP)
    return outcome.status


@app.task(name="periodic.purge_removed_instances")
def purge_removed_instances_task() -> int:
    """Beat, daily: purge the data of every site removed more than INSTANCE_RETENTION_DAYS ago; answers how
    many sites were purged."""
    purged = purge_due(
        redis_store(), retention_days=get_settings().instance_retention_days, now=datetime.now(UTC)
    )
    return len(purged)
