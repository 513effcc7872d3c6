"""The Programme page's notice of each points rule's budget: the current period's use against its total,
and whether the rule has stopped earning until the period ends (worker/store/points_caps.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from worker.engine.caps import cap_period
from worker.engine.program import ProgramInvalid, parse_program
from worker.store import points_caps
from worker.store.progress import NoProgram, ProgressStore


@dataclass(frozen=True)
class BudgetUse:
    rule: int
    on: str
    period: str  # daily, weekly, monthly, yearly
    used: int
    total: int
    ends: str  # the period's end, in the program's timezone (`2026-04-01 00:00`)

    @property
    def reached(self) -> bool:
        return self.used >= self.total


def budget_uses(client: redis.Redis, instance_id: str, now: datetime) -> list[BudgetUse]:
    """Each budgeted rule of the live program, in the period `now` falls in; none without a program."""
    try:
        stored = ProgressStore(client).program_document(instance_id)
        program = parse_program(stored[1]) if stored else None
    except (NoProgram, ProgramInvalid):
        program = None
    uses = []
    for index, rule in enumerate(program.pointsRules if program else []):
        if rule.budget is None or program is None:
            continue
        period, ends = cap_period(now, rule.budget.period, program.zone)
        used = points_caps.budget_used(client, instance_id, index, period)
        local_end = ends.astimezone(program.zone).strftime("%Y-%m-%d %H:%M")
        uses.append(
            BudgetUse(
                index,
                rule.on or f"activity {rule.activity}",
                rule.budget.period,
                used,
                rule.budget.points,
                local_end,
            )
        )
    return uses
