"""The console's API keys page: the site's keys by id, a new key shown once, a key revoked.

A new key is answered to the page that created it and never again (only its digest is kept); the list
shows each key's id (its first characters), when it was made and whether it is revoked. Creating and
revoking are written to the site's audit log, by the session's user (worker/store/api_keys.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import redis

from worker.store.api_keys import KEY_ID_PATTERN, ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key

_KEY_ID = re.compile(KEY_ID_PATTERN)


@dataclass(frozen=True)
class Outcome:
    """What an action did: the notice to show, or the problem and its status; a new key, once."""

    notice: str = ""
    problem: str = ""
    status: int = 200
    new_key: str | None = None
    keys: list[ApiKeyInfo] = field(default_factory=list)


def shown(client: redis.Redis, instance_id: str, outcome: Outcome | None = None) -> Outcome:
    """The outcome with the site's keys, newest first, to show."""
    outcome = outcome or Outcome()
    return Outcome(
        outcome.notice, outcome.problem, outcome.status, outcome.new_key, list_api_keys(client, instance_id)
    )


def create(client: redis.Redis, instance_id: str, who: str) -> Outcome:
    key = create_api_key(client, instance_id, who=who)
    notice = "A new API key was created. Copy it now: it is shown only this once."
    return shown(client, instance_id, Outcome(notice=notice, status=201, new_key=key))


def revoke(client: redis.Redis, instance_id: str, key_id: str, who: str) -> Outcome:
    if not _KEY_ID.fullmatch(key_id):
        return shown(client, instance_id, Outcome(problem="That is not an API key's id.", status=422))
    revoked = revoke_api_key(client, instance_id, key_id, who)
    if revoked is None:
        return shown(client, instance_id, Outcome(problem=f"This site has no API key {key_id}.", status=404))
    notice = f"API key {key_id} is revoked: requests with it are refused from now on."
    return shown(client, instance_id, Outcome(notice=notice))
