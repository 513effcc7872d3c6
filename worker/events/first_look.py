"""The event task's first look at the store: everything it reads before deciding anything, in one round
trip.

Before: the journal's record (settled already?), the erased-contacts set (is the event about a contact
deleted in Wix?), the instance's registry status (known, removed?) and the program were four reads, each
waiting for the one before. None of them depends on another's answer, so one pipeline reads them all
(not a MULTI: under Redis Cluster they live in several slots, and each is a plain read). The decisions
are then taken from the answers in the same order as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from worker import keys
from worker.identifiers import identifier_problem, is_instance_id
from worker.members.erasure import contact_digest
from worker.store.journal import SETTLED


@dataclass(frozen=True)
class FirstLook:
    settled: bool  # the journal says the event was processed or ignored already
    contact_deleted: bool | None  # `contact_id` was deleted in Wix and erased here (None: not read)
    instance_status: str | None  # the registry's `installed`, `removed`, or None: never seen
    programs: dict[str, str | None]  # the instance's stored program text (None: no program); empty:
    # not read (an instance id that cannot stand in the program's key)


def first_look(client: redis.Redis, instance_id: str, event_id: str, contact_id: str | None) -> FirstLook:
    """Read what the event task decides by, in one round trip; `contact_id` is the event's member, if any."""
    checked = is_instance_id(instance_id)
    if contact_id is not None and identifier_problem(contact_id) is not None:
        contact_id = None  # an id that cannot be keyed is never looked up (worker/members/erasure.py)
    with client.pipeline(transaction=False) as pipe:
        pipe.hget(keys.event_record(instance_id, event_id), "status")
        pipe.hget(keys.instance(instance_id), "status")
        if checked:
            pipe.get(keys.program(instance_id))
            if contact_id is not None:
                pipe.sismember(keys.erased_contacts(instance_id), contact_digest(instance_id, contact_id))
        answers = pipe.execute()
    status, instance_status = answers[0], answers[1]
    return FirstLook(
        settled=status in SETTLED,
        contact_deleted=bool(answers[3]) if checked and contact_id is not None else None,
        instance_status=instance_status if isinstance(instance_status, str) else None,
        programs={instance_id: answers[2]} if checked else {},
    )
