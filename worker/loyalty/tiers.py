"""The member's Wix loyalty tier as the worker last saw it, and when it changed (issue 16, "Tiers").

Wix keeps tiers (a premium feature): each loyalty account carries `tier {id, points}` while the site's
tiers program is ACTIVE (`id` absent for the base tier). The worker learns it from the
`account_points_updated` webhooks it already handles and keeps, per member, the last tier and the
account `revision` it was seen at (`keys.member_tier`). One atomic step (a Lua script) compares:

- an older revision than the one kept is stale (webhooks arrive out of order) and changes nothing;
- a newer one with another tier is a change: kept with its revision as the member's last change;
- the revision of the last change again (a redelivery, or a re-run after a crash before the report)
  answers that change again, so the caller's report, decided once per change, is never lost;
- a member seen for the first time is compared with the base tier (an account starts there).

`member_tier` is what other parts read (e.g. points rules' `tierMultipliers`): no Wix call.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from worker import keys
from worker.identifiers import identifier_problem

BASE = ""  # the base tier's spelling in the kept hash (Wix sends it without an id)

# KEYS[1] the member's tier hash; ARGV: the tier ("" base), the revision ("" unknown).
# Answers {"changed", from, to, revision} or {"same"} or {"stale"}.
_OBSERVE = """
local rev = tonumber(ARGV[2])
local kept = redis.call('HMGET', KEYS[1], 'tier', 'revision', 'changeRevision', 'changeFrom', 'changeTo')
local tier, kept_rev, change_rev = kept[1] or '', tonumber(kept[2]), tonumber(kept[3])
if rev and change_rev and rev == change_rev then
  return {'changed', kept[4], kept[5], ARGV[2]}
end
if rev and kept_rev and rev <= kept_rev then
  return {'stale'}
end
redis.call('HSET', KEYS[1], 'tier', ARGV[1], 'revision', ARGV[2])
if tier == ARGV[1] then
  return {'same'}
end
redis.call('HSET', KEYS[1], 'changeRevision', ARGV[2], 'changeFrom', tier, 'changeTo', ARGV[1])
return {'changed', tier, ARGV[1], ARGV[2]}
"""


@dataclass(frozen=True)
class TierChange:
    """A member's tier moved: ids, None for the base tier; `revision` the account's at the change."""

    contact_id: str
    previous: str | None
    current: str | None
    revision: str

    @property
    def entity(self) -> str:
        """What the change is reported once for: the member and the account revision it happened at."""
        return f"tier:{self.contact_id}:{self.revision}"


def observe_tier(
    client: redis.Redis, instance_id: str, contact_id: str, tier_id: str | None, revision: str | None
) -> TierChange | None:
    """Keep the member's tier as an account event tells it; the change when it is one (see the module)."""
    if identifier_problem(contact_id) is not None:
        return None
    tier = tier_id or BASE
    numeric = revision if revision is not None and revision.isdigit() else ""
    answer = client.eval(_OBSERVE, 1, keys.member_tier(instance_id, contact_id), tier, numeric)
    if not isinstance(answer, list) or answer[0] != "changed":
        return None
    _, previous, current, at = answer
    return TierChange(contact_id, previous or None, current or None, at or tier)


def member_tier(client: redis.Redis, instance_id: str, contact_id: str) -> str | None:
    """The member's Wix tier id as last seen in an account event; None for the base tier, for a member
    never seen with a tier, or on a site without ACTIVE tiers. Reads only what the worker keeps."""
    tier = client.hget(keys.member_tier(instance_id, contact_id), "tier")
    return tier if isinstance(tier, str) and tier else None
