"""Referral records in Redis: one per referred friend (`keys.referral`), read, changed one step at a time,
and erased with the member.

Every key of an instance's referrals shares the hash tag `{instanceId}` (worker/keys.py), so each step is
one WATCH/MULTI (`update`). The record keeps every decision in `history`: the per-site record of what was
claimed, rewarded, refused (with the reason) or dropped. The steps themselves are in
worker/loyalty/referral_claims.py (codes and claims) and worker/loyalty/referral_decisions.py (a paid
order's decision, the hold, the release).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.engine.timestamps import utc_stamp

MAX_ATTEMPTS = 50


def stamp(moment: datetime) -> str:
    return utc_stamp(moment.astimezone(UTC))


def moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def referral_record(client: redis.Redis, instance_id: str, friend_id: str) -> dict[str, Any] | None:
    raw = client.get(keys.referral(instance_id, friend_id))
    return json.loads(raw) if isinstance(raw, str) else None


def history_entry(status: str, now: datetime, **more: Any) -> dict[str, Any]:
    return {"status": status, "at": stamp(now), **{k: v for k, v in more.items() if v is not None}}


def update(
    client: redis.Redis,
    watched: list[str],
    step: Callable[[Any], Callable[[Any], None] | None],
) -> bool:
    """One WATCH/MULTI step: `step` reads through the watching pipeline and answers the writes to make
    (a function of the MULTI pipeline), or None for none. Again if a watched key changed first."""
    with client.pipeline() as pipe:
        for _ in range(MAX_ATTEMPTS):
            try:
                pipe.watch(*watched)  # type: ignore[no-untyped-call]
                writes = step(pipe)
                if writes is None:
                    pipe.reset()
                    return False
                pipe.multi()
                writes(pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                continue
    raise RuntimeError("referral record kept changing")


ERASED = "(erased)"


def erase_contact(client: redis.Redis, instance_id: str, contact_id: str) -> int:
    """A member's erasure (worker/members/erasure.py): their code, their own referral, their order
    emails and ids, their cap counters go; a friend's referral naming them as referrer no longer names
    them, and one not yet rewarded is dropped (nobody is left to reward). Answers how many keys went.
    Safe to run again."""
    code = client.get(keys.referral_member_code(instance_id, contact_id))
    names = [
        keys.referral_member_code(instance_id, contact_id),
        keys.referral(instance_id, contact_id),
        keys.referral_first_order(instance_id, contact_id),
        keys.referral_emails(instance_id, contact_id),
        keys.referral_orders(instance_id, contact_id),
    ]
    if isinstance(code, str):
        names.append(keys.referral_code(instance_id, code))
    pattern = keys.glob_escape(keys.referral_cap(instance_id, contact_id, "x")[:-1]) + "*"
    names.extend(str(name) for name in client.scan_iter(match=pattern, count=1000))
    client.zrem(keys.referrals_due(instance_id), contact_id)
    friends = keys.glob_escape(keys.referral(instance_id, "x")[:-1]) + "*"
    for key in client.scan_iter(match=friends, count=1000):
        _forget_referrer(client, instance_id, str(key), contact_id)
    return int(client.delete(*names))  # type: ignore[arg-type]


def _forget_referrer(client: redis.Redis, instance_id: str, friend_key: str, referrer_id: str) -> None:
    def step(pipe: Any) -> Callable[[Any], None] | None:
        raw = pipe.get(friend_key)
        current: dict[str, Any] = json.loads(raw) if raw else {}
        if current.get("referrerId") != referrer_id:
            return None
        friend_id = str(current.get("friendId"))
        current["referrerId"] = ERASED
        if current.get("status") in ("claimed", "held"):
            current.update(status="dropped", reason="referrer_erased")
            current["history"].append({"status": "dropped", "reason": "the referrer's data was erased"})

        def writes(multi: Any) -> None:
            multi.set(friend_key, json.dumps(current))
            multi.zrem(keys.referrals_due(instance_id), friend_id)

        return writes

    update(client, [friend_key], step)


class NoReferral(LookupError):
    """The contact was referred by nobody (404)."""


def referral_of(client: redis.Redis, instance_id: str, friend_id: str) -> dict[str, Any]:
    """The referral of a friend with every decision (operators: `GET .../referrals/{contactId}`)."""
    record = referral_record(client, instance_id, friend_id)
    if record is None:
        raise NoReferral(f"contact {friend_id!r} was referred by nobody")
    return record
