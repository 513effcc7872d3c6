"""Which template, theme and floating widget a site's embedded script names, and whether it is shown.

One hash per instance (`keys.storefront_choice`); a site that has chosen nothing gets `default` for all
three, shown. Saving writes the choice, the install task's intent in the instance's outbox (the task that
calls Embed Script with it, worker/installs/lifecycle.py) and the audit entry in one MULTI: the send that
follows may be lost, the intent is not (the outbox's relay sends it again).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import redis

from worker import keys
from worker.engine.storefront import DEFAULT_ID
from worker.store import audit_log, outbox

SAVED = "storefront_saved"


@dataclass(frozen=True)
class StorefrontChoice:
    templateId: str = DEFAULT_ID
    themeId: str = DEFAULT_ID
    floatingWidgetId: str = DEFAULT_ID
    shown: bool = True


def get(client: redis.Redis, instance_id: str) -> StorefrontChoice:
    """The site's choice; `default` (shown) for what it has not chosen."""
    raw: dict[str, str] = client.hgetall(keys.storefront_choice(instance_id))  # type: ignore[assignment]
    base = StorefrontChoice()
    return StorefrontChoice(
        templateId=raw.get("templateId") or base.templateId,
        themeId=raw.get("themeId") or base.themeId,
        floatingWidgetId=raw.get("floatingWidgetId") or base.floatingWidgetId,
        shown=raw.get("shown", "1") != "0",
    )


def save(
    client: redis.Redis,
    instance_id: str,
    choice: StorefrontChoice,
    who: str,
    intents: Iterable[outbox.Intent] = (),
) -> None:
    """Store the choice with the intents that send it to Wix and its audit entry, in one step."""
    now = time.time()
    outbox_key = keys.instance_outbox(instance_id)
    intents = list(intents)
    raw_entry = audit_log.entry(who, SAVED, asdict(choice), now)
    if intents:
        outbox.index(client, outbox_key, now)  # first: an intent the relay cannot find is never written
    with client.pipeline() as pipe:
        pipe.hset(
            keys.storefront_choice(instance_id),
            mapping={
                "templateId": choice.templateId,
                "themeId": choice.themeId,
                "floatingWidgetId": choice.floatingWidgetId,
                "shown": "1" if choice.shown else "0",
            },
        )
        outbox.add(pipe, outbox_key, intents, now)
        audit_log.append(pipe, instance_id, raw_entry)
        pipe.execute()
