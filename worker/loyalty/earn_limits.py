"""Multipliers, caps and budgets on points rules' earns, applied where an earn is decided.

Where: in the event's own processing, after `points_to_earn` and *before* the earn's outbox intent is
written (or the earn is parked while the Wix program is not ACTIVE). Not in the earn task, because:
- the event's journal entry is written by this same step, so it can say why an earn was cut or dropped
  ("capped: maxPerPeriod 500 monthly reached", "budget reached");
- the program version and the event's time (`occurredAt`) that decide the multipliers and the periods
  are the ones at hand here; the earn task only knows an amount and a key;
- the granted amount is what the intent, the relay, a dead-letter replay and a parked copy then carry,
  so every later send of the earn sends the same amount, and what the earn task records as sent to Wix
  (the reversal's record) is the granted amount, never a recomputation;
- 0 granted means nothing is written or sent at all.
A redelivered or re-run event asks again and gets the recorded grant (worker/store/points_caps.py), so
it is as safe as the earn task would be. Any other path that makes points rules' earns calls
`limit_earns` the same way before writing its intent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import redis

from worker import keys
from worker.engine.caps import cap_period
from worker.engine.program import PointsRule, Program
from worker.loyalty import tiers as kept_tiers
from worker.loyalty.points_limits import DESCRIPTION_MAX, Occurrence, multiply, rule_index
from worker.loyalty.points_rules import PointsEarn
from worker.progress.tiers import tier_name
from worker.store import points_caps
from worker.store.points_caps import Limit


def member_tier(client: redis.Redis, instance_id: str, contact_id: str) -> str | None:
    """The member's Wix loyalty tier id (None: the base tier, or not known): as the account events last
    said (worker/loyalty/tiers.py), else from the cached copy of their loyalty account. No Wix call."""
    if client.exists(keys.member_tier(instance_id, contact_id)):
        return kept_tiers.member_tier(client, instance_id, contact_id)
    raw = client.get(keys.loyalty_account_copy(instance_id, contact_id))
    account: Any = json.loads(raw) if isinstance(raw, str) else None
    tier = account.get("tier") if isinstance(account, dict) else None
    tier_id = tier.get("id") if isinstance(tier, dict) else None
    return tier_id if isinstance(tier_id, str) and tier_id else None


def tier_key(client: redis.Redis, instance_id: str, rule: PointsRule, tier_id: str | None) -> str | None:
    """What the member's tier goes by in `rule.tierMultipliers`: its id, or its name in the site's tiers
    program as last read (worker/progress/tiers.py's copy; no Wix call)."""
    if tier_id is None or tier_id in rule.tierMultipliers:
        return tier_id
    raw = client.get(keys.loyalty_tiers_copy(instance_id))
    name = tier_name(json.loads(raw) if isinstance(raw, str) else None, tier_id)
    return name if name in rule.tierMultipliers else tier_id


def _limits(rule: PointsRule, program: Program, event: Occurrence) -> tuple[Limit | None, Limit | None]:
    member = budget = None
    if rule.maxPerPeriod is not None and rule.period is not None:
        member = Limit(rule.maxPerPeriod, *cap_period(event.occurredAt, rule.period, program.zone))
    if rule.budget is not None:
        budget = Limit(rule.budget.points, *cap_period(event.occurredAt, rule.budget.period, program.zone))
    return member, budget


def _note(index: int, rule: PointsRule, wanted: int, granted: int, cut_by: str) -> str:
    if cut_by == "member":
        why = f"capped: maxPerPeriod {rule.maxPerPeriod} {rule.period} reached"
    else:
        assert rule.budget is not None
        why = f"budget reached: {rule.budget.points} {rule.budget.period}"
    return f"pointsRules[{index}]: {why} ({granted} of {wanted} points earned)"


def _capped(earn: PointsEarn, points: int) -> str:
    return f"{points} points ({earn.description}; capped)"[:DESCRIPTION_MAX]


def limit_earns(
    client: redis.Redis, program: Program, event: Occurrence, earns: list[PointsEarn]
) -> tuple[list[PointsEarn], list[str]]:
    """The earns as granted (multiplied, then cut by caps and budgets; those cut to 0 dropped), and a
    note for each earn that was cut, for the event's journal entry."""
    granted: list[PointsEarn] = []
    notes: list[str] = []
    tiers: dict[str, str | None] = {}
    for earn in earns:
        index = rule_index(earn)
        if index is None or index >= len(program.pointsRules):
            granted.append(earn)
            continue
        rule = program.pointsRules[index]
        if rule.tierMultipliers and earn.contact_id not in tiers:
            tiers[earn.contact_id] = member_tier(client, event.instanceId, earn.contact_id)
        tier = tier_key(client, event.instanceId, rule, tiers.get(earn.contact_id))
        wanted = multiply(earn, program, event, tier).earn
        member, budget = _limits(rule, program, event)
        if member is None and budget is None:
            granted.append(wanted)
            continue
        grant = points_caps.reserve(
            client,
            event.instanceId,
            index,
            earn.contact_id,
            earn.idempotency_key,
            wanted.points,
            event.occurredAt,
            member_cap=member,
            budget=budget,
        )
        if grant.cut_by is not None:
            notes.append(_note(index, rule, wanted.points, grant.points, grant.cut_by))
        if grant.points > 0:
            granted.append(
                wanted
                if grant.points == wanted.points
                else replace(wanted, points=grant.points, description=_capped(wanted, grant.points))
            )
    return granted, notes
