"""Who is who between an external loyalty system and Wix: external id ↔ contact id ↔ email, per instance.

Three Redis hashes per instance (worker/keys.py `sync_*`): contacts (contact id → its email, revision,
external id, or a deletion mark), emails (lower-cased email → contact id) and external ids (→ contact id).
They are written by the `bootstrap` job for every contact it pages through, kept current from Wix's
contact webhooks (`contact_created|updated|deleted`), and an external id is linked when the external
system names one in a message for a known contact.

Contact webhooks may arrive late or out of order (wix-facts.md §2): a contact whose stored revision is
newer than the one offered is left as it is, and a deleted contact stays deleted (Wix does not reuse
contact ids), so a late `updated` cannot bring it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from worker import keys
from worker.wix.events import NormalizedEvent, contact_email

# KEYS: contacts, emails, external ids. ARGV: contact id, email ('' none), revision ('' unknown).
# Answers 1 when the record changed, 0 when a newer revision or a deletion is already stored.
_RECORD = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local record = {}
if current then
  record = cjson.decode(current)
  if record.deleted then return 0 end
  if ARGV[3] ~= '' and record.revision and tonumber(record.revision) > tonumber(ARGV[3]) then return 0 end
  if record.email and record.email ~= ARGV[2] and redis.call('HGET', KEYS[2], record.email) == ARGV[1] then
    redis.call('HDEL', KEYS[2], record.email)
  end
end
if ARGV[2] ~= '' then
  record.email = ARGV[2]
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
else
  record.email = nil
end
if ARGV[3] ~= '' then record.revision = tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
"""

# KEYS as above. ARGV: contact id. The contact's email and external id stop resolving; the mark stays.
_FORGET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local record = cjson.decode(current)
  if record.email and redis.call('HGET', KEYS[2], record.email) == ARGV[1] then
    redis.call('HDEL', KEYS[2], record.email)
  end
  if record.externalId and redis.call('HGET', KEYS[3], record.externalId) == ARGV[1] then
    redis.call('HDEL', KEYS[3], record.externalId)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({deleted = true}))
return 1
"""

# KEYS as above. ARGV: contact id, external id. Answers 0 for a contact unknown or deleted.
_LINK = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local record = cjson.decode(current)
if record.deleted then return 0 end
if record.externalId == ARGV[2] then return 1 end
if record.externalId and redis.call('HGET', KEYS[3], record.externalId) == ARGV[1] then
  redis.call('HDEL', KEYS[3], record.externalId)
end
record.externalId = ARGV[2]
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
"""


def normalize_email(email: str) -> str:
    """Emails are matched without regard to case or surrounding blanks."""
    return email.strip().lower()


def _keys(instance_id: str) -> list[str]:
    return [
        keys.sync_contacts(instance_id),
        keys.sync_emails(instance_id),
        keys.sync_external_ids(instance_id),
    ]


def _record_args(contact_id: str, email: str | None, revision: int | None) -> list[str]:
    return [contact_id, normalize_email(email) if email else "", "" if revision is None else str(revision)]


def record_contact(
    client: redis.Redis, instance_id: str, contact_id: str, email: str | None, revision: int | None = None
) -> bool:
    """Record (or update) a contact's email; False when a newer revision or a deletion is stored."""
    args = _record_args(contact_id, email, revision)
    return bool(client.eval(_RECORD, 3, *_keys(instance_id), *args))


def forget_contact(client: redis.Redis, instance_id: str, contact_id: str) -> None:
    """The contact was deleted in Wix: its email and external id no longer find it."""
    client.eval(_FORGET, 3, *_keys(instance_id), contact_id)


def link_external_id(client: redis.Redis, instance_id: str, contact_id: str, external_id: str) -> bool:
    """Link the external system's id to a known contact; False when the contact is unknown or deleted."""
    return bool(client.eval(_LINK, 3, *_keys(instance_id), contact_id, external_id))


def record_wix_contacts(client: redis.Redis, instance_id: str, contacts: Iterable[dict[str, Any]]) -> int:
    """Record a page of Wix contacts (the bootstrap job's), in one round trip; answers how many."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for contact in contacts:
        contact_id = contact.get("id")
        if not isinstance(contact_id, str) or not contact_id:
            continue
        revision = contact.get("revision")
        number = revision if isinstance(revision, int) and not isinstance(revision, bool) else None
        pipe.eval(_RECORD, 3, *_keys(instance_id), *_record_args(contact_id, contact_email(contact), number))
        count += 1
    if count:
        pipe.execute()
    return count


def apply_contact_event(client: redis.Redis, event: NormalizedEvent) -> None:
    """Keep the mapping current from a normalized `contact_created|updated|deleted` event."""
    if event.contact is None:
        return
    if event.name == "contact_deleted":
        forget_contact(client, event.instanceId, event.contact.id)
    else:
        record_contact(
            client, event.instanceId, event.contact.id, event.contact.email, event.contact.revision
        )


def contact_for_email(client: redis.Redis, instance_id: str, email: str) -> str | None:
    found = client.hget(keys.sync_emails(instance_id), normalize_email(email))
    return found if isinstance(found, str) else None


def contact_for_external_id(client: redis.Redis, instance_id: str, external_id: str) -> str | None:
    found = client.hget(keys.sync_external_ids(instance_id), external_id)
    return found if isinstance(found, str) else None


def link_of(client: redis.Redis, instance_id: str, contact_id: str) -> dict[str, Any] | None:
    """`{"email", "externalId", "revision"}` of a known contact (keys absent when unknown); None for a
    contact never recorded or deleted."""
    raw = client.hget(keys.sync_contacts(instance_id), contact_id)
    if not isinstance(raw, str):
        return None
    record = json.loads(raw)
    if record == []:  # Lua's cjson may write an empty table as an array
        record = {}
    if not isinstance(record, dict) or record.get("deleted"):
        return None
    return record
