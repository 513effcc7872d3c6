"""Erasing a member's personal data: on Wix's `contact_deleted`, on any Wix event whose envelope says
`triggeredByAnonymizeRequest: true` (GDPR), and by hand (`python -m worker members erase`, `DELETE
/admin/v1/instances/{id}/members/{contactId}`).

What goes, for one contact of one instance:

- every key under the member's hash tag `{instanceId:contactId}`, whatever its suffix (logs, progress,
  closed records, reward logs with their coupon codes, the member's outbox);
- the instance-level entries that point at them: the reward index's ids, their coupon codes' entries in
  the code index, the members set, the outbox index's entry, the points-sync mapping (contact ↔ email ↔
  external id, no deletion mark either), the cached loyalty account, the claims of the member's log
  identifiers (`uid_source`), the contact in the instance's job records (a job's `unsure` set, failure
  reasons naming them), the audit log's entries naming them (scrubbed, the action and time kept), and,
  by their Wix member id (as the cached account or the journal's points events know it), their Inbox
  conversation and monthly message marks; their referral code, referral, order emails and ids, and their
  name on the referrals of friends they referred (one not yet rewarded is dropped);
- what is still owed to anyone about them is dropped, not made anonymous: the member's outbox intents
  (fulfil a reward, report `milestone_achieved`, earn points), their points waiting for an ACTIVE program,
  the points sync's apply intents, and dead letters about them. Each of those would send the contact id
  to Wix or the external system for a person who asked to be forgotten; Wix has deleted or anonymized
  the contact, so a coupon, a trigger or points for it have no one to reach; and a fulfilment or report
  already on its way finds no reward log and does nothing;
- the event journal keeps each of their events' ids and outcome (status, event type, times, the rules'
  outcomes with reward log ids) and loses the rest: the normalized event, the queued task message (the
  raw payload), any reason or log text naming them. An event of theirs not yet processed is settled
  `ignored` then, so it does not bring their data back later; the inbound points-sync records keep their
  transaction (a replay guard) without the contact.

What stays: counts. Each erasure adds what it removed to the instance's `erased_counts` (members, logs,
progress records, reward logs and their statuses, coupons issued), exactly once, so figures about the
instance (coupons issued, rewards made) stay right. A contact deleted in Wix leaves the SHA-256 digest of
its id (`erased_contacts`; Wix does not reuse contact ids), so a late or redelivered event about it is
ignored; an anonymized contact still exists in Wix and its new events count as new.

Safe to run again at any point: the counts are added in the same Lua call that writes the erasure's
`pending` record (whose counts a rerun answers), every later step deletes or rewrites what it finds, and
the member's own keys (which are how the steps find the rest) go last. A crash between steps leaves a
rerun, or the event's redelivery, to finish.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import signal
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from worker import keys
from worker.identifiers import InvalidIdentifier, identifier_problem, is_instance_id
from worker.loyalty.referral_records import erase_contact as erase_referrals
from worker.store import audit_log, coupon_codes
from worker.store.dead_letters import DeadLetters
from worker.store.journal import SETTLED, EventJournal, now_iso
from worker.wix.events import EventIgnored, InvalidEvent, normalize

logger = logging.getLogger(__name__)

CONTACT_DELETED = "wix.contacts.v4.contact_deleted"
ERASED = "[erased]"
# Counts that describe the instance (added to `erased_counts`); the others describe one erasure.
TALLIED = ("members", "logs", "progressRecords", "rewardLogs", "coupons")
# Every erasure's answer names these (0 when there was none), and `rewardLogs.<status>` for each status.
REPORTED = (
    *TALLIED,
    "outboxIntents",
    "syncMappings",
    "syncTransactions",
    "cachedAccounts",
    "memberIdEntries",
    "jobEntries",
    "auditEntries",
    "journalRecords",
    "deadLetters",
    "keys",
)
# What a journal record of an erased member keeps: ids, times and outcomes.
JOURNAL_KEPT = (
    "status",
    "instanceId",
    "eventId",
    "eventType",
    "source",
    "taskId",
    "receivedAt",
    "updatedAt",
    "reason",
    "error",
    "logs",
)
UNPROCESSED_REASON = "the member's data was erased before this event was processed"
Step = Callable[[str], None]
"""Called after each step with its name (tests stop an erasure there, as a crash would)."""


def contact_digest(instance_id: str, contact_id: str) -> str:
    return hashlib.sha256(f"{instance_id}\n{contact_id}".encode()).hexdigest()


def check_ids(instance_id: str, contact_id: str) -> None:
    """InvalidIdentifier naming what is wrong (the CLI's and the route's 4xx)."""
    if not is_instance_id(instance_id):
        raise InvalidIdentifier("the instance id must be letters, digits, '.', '_' or '-'")
    problem = identifier_problem(contact_id)
    if problem is not None:
        raise InvalidIdentifier(f"the contact id {problem}")


class _Needles:
    """The member's identifying strings, matched whole (contact `c1` is not inside `c12`)."""

    def __init__(self, values: Iterable[str]) -> None:
        words = sorted({value for value in values if value}, key=len, reverse=True)
        alternatives = "|".join(re.escape(word) for word in words)
        self._pattern = re.compile(rf"(?<![\w.@+-])(?:{alternatives})(?![\w.@+-])", re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        return bool(self._pattern.search(text)) or any(
            bool(self._pattern.search(decoded)) for decoded in _decoded_bodies(text)
        )

    def scrub(self, value: Any) -> Any:
        """`value` with every string naming the member replaced by `[erased]`."""
        if isinstance(value, str):
            return ERASED if self.found_in(value) else value
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {name: self.scrub(item) for name, item in value.items()}
        return value


_BODY = re.compile(r'"body"\s*:\s*"([A-Za-z0-9+/=]+)"')


def _decoded_bodies(text: str) -> list[str]:
    """The base64 bodies of a Celery task message inside `text` (the journal keeps the queued message)."""
    decoded = []
    for match in _BODY.finditer(text):
        try:
            decoded.append(base64.b64decode(match.group(1), validate=True).decode("utf-8", "replace"))
        except ValueError:
            continue
    return decoded


@dataclass
class _Found:
    """What the member has, read before anything is removed."""

    member_keys: list[str] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    reward_ids: list[str] = field(default_factory=list)
    coupon_codes: list[tuple[str, str]] = field(default_factory=list)  # (code, reward log id)
    emails: list[str] = field(default_factory=list)
    member_ids: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _find(client: redis.Redis, instance_id: str, contact_id: str) -> _Found:
    found = _Found()
    prefix = keys.member(instance_id, contact_id) + ":"
    found.member_keys = sorted(
        client.scan_iter(match=keys.member_pattern(instance_id, contact_id), count=1000)
    )
    reward_ids: set[str] = set()
    for key in found.member_keys:
        kind, _, rest = key.removeprefix(prefix).partition(":")
        if kind == "uid":
            found.uids.append(rest)
        elif kind in ("streak", "challenge"):
            found.counts["progressRecords"] += 1
        elif kind == "reward":
            reward_ids.add(rest)
        elif kind == "outbox":
            found.counts["outboxIntents"] += int(client.hlen(key))  # type: ignore[arg-type]
    reward_ids.update(client.zrange(keys.member_rewards(instance_id, contact_id), 0, -1))  # type: ignore[arg-type]
    found.reward_ids = sorted(reward_ids)
    found.counts["logs"] = len(found.uids)
    for reward_id in found.reward_ids:
        raw = client.get(keys.member_reward(instance_id, contact_id, reward_id))
        found.counts["rewardLogs"] += 1
        reward_log = json.loads(raw) if isinstance(raw, str) else {}
        found.counts[f"rewardLogs.{reward_log.get('status') or 'unknown'}"] += 1
        if reward_log.get("couponCode"):
            found.counts["coupons"] += 1
            found.coupon_codes.append((str(reward_log["couponCode"]), reward_id))
    mapping = client.hget(keys.sync_contacts(instance_id), contact_id)
    if isinstance(mapping, str):
        found.counts["syncMappings"] = 1
        record = json.loads(mapping)
        if isinstance(record, dict):
            found.emails = [record["email"]] if isinstance(record.get("email"), str) else []
    if client.exists(keys.loyalty_account_copy(instance_id, contact_id)):
        found.counts["cachedAccounts"] = 1
        found.member_ids = _member_ids(_json(client.get(keys.loyalty_account_copy(instance_id, contact_id))))
    if found.member_keys or client.sismember(keys.members(instance_id), contact_id):
        found.counts["members"] = 1
    return found


# KEYS: pending, counts, deleted-contact digests. ARGV: the counts (JSON), the digest, '1' when the contact
# was deleted in Wix, then field/increment pairs. The counts are added with the pending record, once; a
# rerun answers the counts the first run found.
_START = """
if ARGV[3] == '1' then redis.call('SADD', KEYS[3], ARGV[2]) end
local stored = redis.call('GET', KEYS[1])
if stored then return stored end
redis.call('SET', KEYS[1], ARGV[1])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
return ARGV[1]
"""

# KEYS: sync contacts, emails, external ids. ARGV: contact id. Its email and external id go (each only
# while it still finds this contact), and its record; no deletion mark is left.
_FORGET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local removed = 0
if current then
  local record = cjson.decode(current)
  if type(record) == 'table' then
    if type(record.email) == 'string' and redis.call('HGET', KEYS[2], record.email) == ARGV[1] then
      removed = removed + redis.call('HDEL', KEYS[2], record.email)
    end
    if type(record.externalId) == 'string' and redis.call('HGET', KEYS[3], record.externalId) == ARGV[1] then
      removed = removed + redis.call('HDEL', KEYS[3], record.externalId)
    end
  end
  removed = removed + redis.call('HDEL', KEYS[1], ARGV[1])
end
return removed
"""


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _member_ids(*accounts: Any) -> list[str]:
    """The Wix member ids (`memberId`) of loyalty accounts, as the cache and the journal keep them."""
    return sorted(
        {a["memberId"] for a in accounts if isinstance(a, dict) and isinstance(a.get("memberId"), str)}
    )


def _of_contact(kwargs: Any, contact_id: str) -> bool:
    return isinstance(kwargs, dict) and kwargs.get("contact_id") == contact_id


class _Eraser:
    def __init__(
        self, client: redis.Redis, instance_id: str, contact_id: str, found: _Found, skip_event: str | None
    ) -> None:
        self.redis = client
        self.instance_id = instance_id
        self.contact_id = contact_id
        self.found = found
        self.skip_event = skip_event
        # Ids Wix makes (contact and member ids are UUIDs) and emails: specific enough to search text for.
        # An external system's ids may be short numbers that other text holds too, so they are not.
        self.needles = _Needles([contact_id, *found.emails, *found.member_ids])
        self.done: Counter[str] = Counter()

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("member-ids", self.member_ids),
            ("journal", self.journal),
            ("dead-letters", self.dead_letters),
            ("points-waiting", self.points_waiting),
            ("sync-outbox", self.sync_outbox),
            ("sync-inbound", self.sync_inbound),
            ("sync-mapping", self.sync_mapping),
            ("loyalty-account-copy", self.loyalty_account_copy),
            ("points-caps", self.points_caps),
            ("jobs", self.jobs),
            ("audit-log", self.audit_entries),
            ("uid-sources", self.uid_sources),
            ("reward-index", self.reward_index),
            ("coupon-codes", self.code_index),
            ("members-set", self.members_set),
            ("outbox-index", self.outbox_index),
            ("referrals", self.referrals),
            ("member-keys", self.member_keys),
        ]

    def referrals(self) -> None:
        """Their referral code, referral, order emails and ids (worker/loyalty/referral_records.py)."""
        erase_referrals(self.redis, self.instance_id, self.contact_id)

    def journal(self) -> None:
        skip = keys.event_record(self.instance_id, self.skip_event) if self.skip_event else None
        for key in self.redis.scan_iter(match=keys.event_records_of(self.instance_id), count=1000):
            if key != skip and self._scrub_record(key):
                self.done["journalRecords"] += 1

    def member_ids(self) -> None:
        """Their Wix member id (the cached account's): its Inbox conversation, its monthly-message marks."""
        self._forget_member_ids(self.found.member_ids)

    def _forget_member_ids(self, member_ids: list[str]) -> None:
        if not member_ids:
            return
        removed = int(self.redis.hdel(keys.inbox_conversations(self.instance_id), *member_ids))  # type: ignore[arg-type]
        for key in self.redis.scan_iter(match=keys.monthly_messages_pattern(self.instance_id), count=1000):
            removed += int(self.redis.hdel(key, *member_ids))  # type: ignore[arg-type]
        self.done["memberIdEntries"] += removed

    def _scrub_record(self, key: str) -> bool:
        """Keep a record's ids and outcome if it names the member (in one step: a worker may settle it
        meanwhile); True when it did."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw: dict[str, str] = pipe.hgetall(key)  # type: ignore[assignment]
                    if not raw or not any(self.needles.found_in(value) for value in raw.values()):
                        pipe.reset()
                        return False
                    normalized = _json(raw.get("normalized"))
                    account = normalized.get("account") if isinstance(normalized, dict) else None
                    if isinstance(account, dict) and account.get("contactId") == self.contact_id:
                        self._forget_member_ids(_member_ids(account))  # before the record forgets it
                    kept = self._kept(raw)
                    pipe.multi()
                    dropped = [name for name in raw if name not in kept]
                    if dropped:
                        pipe.hdel(key, *dropped)
                    pipe.hset(key, mapping=kept)
                    pipe.execute()
                    if kept["status"] != raw.get("status"):  # it was still queued: not any more
                        self.redis.zrem(keys.QUEUED_EVENTS, key)  # another slot, so after the record
                    return True
                except redis.WatchError:
                    continue

    def _kept(self, raw: dict[str, str]) -> dict[str, str]:
        """What a journal record of theirs keeps: ids, times and outcomes, nothing naming them."""
        kept = {name: raw[name] for name in JOURNAL_KEPT if name in raw}
        for name in ("reason", "error"):
            if name in kept:
                kept[name] = self.needles.scrub(kept[name])
        if "logs" in kept:
            kept["logs"] = json.dumps(self.needles.scrub(_json(kept["logs"])), separators=(",", ":"))
        if kept.get("status") not in (*SETTLED, "failed"):
            kept.update(status="ignored", reason=UNPROCESSED_REASON, updatedAt=now_iso())
        kept.update(erased="true", erasedAt=now_iso())
        return kept

    def dead_letters(self) -> None:
        reward_ids = set(self.found.reward_ids)
        parked = DeadLetters(self.redis)
        for entry_id, entry, raw in parked.scan():
            kwargs = entry.get("kwargs") if entry is not None else None
            if not isinstance(kwargs, dict) or kwargs.get("instance_id") != self.instance_id:
                continue
            ours = _of_contact(kwargs, self.contact_id) or kwargs.get("reward_log_id") in reward_ids
            if ours or self.needles.found_in(raw):
                self.done["deadLetters"] += parked.remove(entry_id)

    def points_waiting(self) -> None:
        key = keys.points_waiting(self.instance_id)
        reward_ids = set(self.found.reward_ids)
        for name, raw in self.redis.hscan_iter(key, count=500):
            entry = _json(raw) or {}
            ours = (
                _of_contact(entry.get("earn"), self.contact_id)
                or _of_contact(entry.get("kwargs"), self.contact_id)
                or entry.get("rewardLogId") in reward_ids
            )
            if ours:
                self.done["outboxIntents"] += int(self.redis.hdel(key, name))  # type: ignore[arg-type]

    def sync_outbox(self) -> None:
        key = keys.sync_outbox(self.instance_id)
        for name, raw in self.redis.hscan_iter(key, count=500):
            entry = _json(raw) or {}
            if _of_contact(entry.get("kwargs"), self.contact_id):
                self.done["outboxIntents"] += int(self.redis.hdel(key, name))  # type: ignore[arg-type]

    def sync_inbound(self) -> None:
        """Each inbound transaction stays a replay guard; the contact it was for goes."""
        for key in self.redis.scan_iter(match=keys.sync_inbound_pattern(self.instance_id), count=1000):
            record = _json(self.redis.get(key))
            if isinstance(record, dict) and record.get("contactId") == self.contact_id:
                record.pop("contactId")
                self.redis.set(key, json.dumps(record, separators=(",", ":")), keepttl=True)
                self.done["syncTransactions"] += 1

    def sync_mapping(self) -> None:
        mapping = [
            keys.sync_contacts(self.instance_id),
            keys.sync_emails(self.instance_id),
            keys.sync_external_ids(self.instance_id),
        ]
        self.redis.eval(_FORGET, 3, *mapping, self.contact_id)

    def loyalty_account_copy(self) -> None:
        self.redis.delete(keys.loyalty_account_copy(self.instance_id, self.contact_id))

    def points_caps(self) -> None:
        """Their field in each per-rule points cap counter (worker/store/points_caps.py)."""
        for key in self.redis.scan_iter(match=keys.points_member_used_pattern(self.instance_id), count=1000):
            self.done["pointsCaps"] += int(self.redis.hdel(key, self.contact_id))  # type: ignore[arg-type]

    def jobs(self) -> None:
        """The instance's job records: failure reasons naming them, the contact in a job's `unsure` set."""
        for key in self.redis.scan_iter(match=keys.JOB_RECORDS, count=1000):
            instance_id, failures = self.redis.hmget(key, ["instanceId", "failures"])  # type: ignore[misc]
            if instance_id != self.instance_id:
                continue
            unsure = keys.job_unsure(keys.job_id_of(key))
            self.done["jobEntries"] += int(self.redis.srem(unsure, self.contact_id))  # type: ignore[arg-type]
            if isinstance(failures, str) and self.needles.found_in(failures):
                scrubbed = self.needles.scrub(_json(failures))
                self.redis.hset(key, "failures", json.dumps(scrubbed, separators=(",", ":")))
                self.done["jobEntries"] += 1

    def audit_entries(self) -> None:
        """The instance's audit log: each entry naming them keeps its action and time, loses the names."""
        self.done["auditEntries"] += audit_log.rewrite(self.redis, self.instance_id, self.needles.scrub)

    def uid_sources(self) -> None:
        names = [keys.uid_source(self.instance_id, uid) for uid in self.found.uids]
        for start in range(0, len(names), 500):
            self.redis.delete(*names[start : start + 500])

    def reward_index(self) -> None:
        if self.found.reward_ids:
            self.redis.hdel(keys.reward_index(self.instance_id), *self.found.reward_ids)
            self.redis.zrem(keys.reward_times(self.instance_id), *self.found.reward_ids)

    def code_index(self) -> None:
        """Their coupons' entries in the code index (each only while it still names their reward log)."""
        for code, reward_log_id in self.found.coupon_codes:
            coupon_codes.forget(self.redis, self.instance_id, code, self.contact_id, reward_log_id)

    def members_set(self) -> None:
        self.redis.srem(keys.members(self.instance_id), self.contact_id)

    def outbox_index(self) -> None:
        self.redis.zrem(keys.OUTBOX_INDEX, keys.member_outbox(self.instance_id, self.contact_id))

    def member_keys(self) -> None:
        """Last: these keys are how a rerun finds the rest."""
        names = self.found.member_keys
        for start in range(0, len(names), 500):
            self.redis.delete(*names[start : start + 500])
        self.done["keys"] = len(names)


def erase_member(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    *,
    deleted_in_wix: bool = False,
    skip_event: str | None = None,
    after_step: Step | None = None,
) -> dict[str, int]:
    """Erase one member's personal data (see the module's docstring); answers what was erased, as counts.
    `deleted_in_wix`: the contact no longer exists in Wix (later events about it are ignored).
    `skip_event`: the journal record of the event asking for this (its caller settles it)."""
    check_ids(instance_id, contact_id)
    found = _find(client, instance_id, contact_id)
    digest = contact_digest(instance_id, contact_id)
    increments = [
        part
        for name, count in sorted(found.counts.items())
        if count and (name in TALLIED or name.startswith("rewardLogs."))
        for part in (name, str(count))
    ]
    stored = client.eval(
        _START,
        3,
        keys.erasure_pending(instance_id, digest),
        keys.erased_counts(instance_id),
        keys.erased_contacts(instance_id),
        json.dumps(dict(found.counts), sort_keys=True),
        digest,
        "1" if deleted_in_wix else "0",
        *increments,
    )
    if after_step:
        after_step("start")
    eraser = _Eraser(client, instance_id, contact_id, found, skip_event)
    for name, step in eraser.steps():
        step()
        if after_step:
            after_step(name)
    client.delete(keys.erasure_pending(instance_id, digest))
    counts: Counter[str] = Counter(json.loads(stored))  # type: ignore[arg-type]
    counts.update(eraser.done)
    logger.info("member erased", extra={"instance_id": instance_id, "counts": counts})
    return {name: counts[name] for name in sorted({*REPORTED, *counts})}


def was_deleted(client: redis.Redis, instance_id: str, contact_id: str) -> bool:
    """Whether this contact was deleted in Wix and erased here."""
    return bool(client.sismember(keys.erased_contacts(instance_id), contact_digest(instance_id, contact_id)))


def erased_counts(client: redis.Redis, instance_id: str) -> dict[str, int]:
    """What the instance's erasures removed, as counts (to add to any figure about the instance)."""
    raw: dict[str, str] = client.hgetall(keys.erased_counts(instance_id))  # type: ignore[assignment]
    return {name: int(value) for name, value in sorted(raw.items())}


def kill_after_step_for_tests() -> Step | None:
    """Test-only fault: with `WRW_TEST_KILL_ERASURE_AFTER=<step>` the process group (a Celery worker and its
    pool) is SIGKILLed right after that step of an event's erasure (tests/integration/test_erasure_http.py).
    Never set it anywhere else."""
    chosen = os.environ.get("WRW_TEST_KILL_ERASURE_AFTER")
    if not chosen:
        return None

    def kill(name: str) -> None:
        if name == chosen:
            os.killpg(os.getpgrp(), signal.SIGKILL)

    return kill


# --- events ---------------------------------------------------------------------------------------------


def _contact_in(value: Any, depth: int = 0) -> str | None:
    """The first `contactId` string inside a payload (an order's buyer, a checkout's, an account's)."""
    if depth > 6:
        return None
    if isinstance(value, str) and value[:1] in "{[":
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        found = value.get("contactId")
        if isinstance(found, str) and found:
            return found
        for item in value.values():
            nested = _contact_in(item, depth + 1)
            if nested:
                return nested
    if isinstance(value, list):
        for item in value:
            nested = _contact_in(item, depth + 1)
            if nested:
                return nested
    return None


def erasure_subject(
    event_type: str, instance_id: str, event_id: str, payload: dict[str, Any], our_app_id: str | None
) -> tuple[str | None, bool] | None:
    """`(contact id or None, deleted in Wix)` when the event asks for an erasure, else None."""
    anonymize = payload.get("triggeredByAnonymizeRequest") is True
    if event_type != CONTACT_DELETED and not anonymize:
        return None
    contact_id: str | None = None
    try:
        event = normalize(
            event_type=event_type,
            instance_id=instance_id,
            event_id=event_id,
            payload=payload,
            our_app_id=our_app_id,
        )
        contact_id = event.contactId
    except (EventIgnored, InvalidEvent):
        pass
    if contact_id is None and str(payload.get("entityFqdn")) == "wix.contacts.v4.contact":
        entity_id = payload.get("entityId")
        contact_id = entity_id if isinstance(entity_id, str) and entity_id else None
    return contact_id or _contact_in(payload), event_type == CONTACT_DELETED


def event_contact(
    event_type: str, instance_id: str, event_id: str, payload: dict[str, Any], our_app_id: str | None
) -> str | None:
    try:
        return normalize(
            event_type=event_type,
            instance_id=instance_id,
            event_id=event_id,
            payload=payload,
            our_app_id=our_app_id,
        ).contactId
    except (EventIgnored, InvalidEvent):
        return None


def erase_on_request(
    journal: EventJournal,
    client: redis.Redis,
    payload: dict[str, Any],
    event_type: str,
    instance_id: str,
    event_id: str,
    our_app_id: str | None,
    known: tuple[str | None, bool | None] | None = None,
) -> str | None:
    """The events task's first look: an event asking for an erasure erases and is settled (`processed`,
    counts in its reason, no personal data); an event about a contact deleted and erased before is
    settled `ignored`. None: neither, the event goes on as usual. `known`: the event's contact as the
    caller normalized it, and whether it was deleted (`was_deleted`, None: not read), so neither is done
    again."""
    subject = erasure_subject(event_type, instance_id, event_id, payload, our_app_id)
    if subject is None:
        if known is None:
            contact_id = event_contact(event_type, instance_id, event_id, payload, our_app_id)
            deleted_before = None
        else:
            contact_id, deleted_before = known
        if contact_id is None or identifier_problem(contact_id):
            return None
        if deleted_before is None:
            deleted_before = was_deleted(client, instance_id, contact_id)
        if not deleted_before:
            return None
        reason = "the contact was deleted in Wix and its data erased: nothing is recorded about it"
        journal.settle(instance_id, event_id, "ignored", event_type=event_type, reason=reason)
        logger.info("event about an erased contact ignored")
        return "ignored"
    contact_id, deleted = subject
    why = "contact deleted in Wix" if deleted else "anonymize request"
    if contact_id is None or identifier_problem(contact_id):
        reason = f"{why} naming no contact we could key: nothing to erase"
        journal.settle(instance_id, event_id, "ignored", event_type=event_type, reason=reason)
        return "ignored"
    counts = erase_member(
        client,
        instance_id,
        contact_id,
        deleted_in_wix=deleted,
        skip_event=event_id,
        after_step=kill_after_step_for_tests(),
    )
    summary = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
    reason = f"the member's data was erased ({why}): {summary or 'nothing was kept'}"
    journal.settle(instance_id, event_id, "processed", event_type=event_type, reason=reason)
    return "processed"
