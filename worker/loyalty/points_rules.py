"""`pointsRules`: Wix loyalty points for spending, as in seed 002 (one point per $10 on a checkout).

Pure: an event and the program in, the points to earn out. Each earn carries an idempotency key made
from the checkout and the rule, so however often a checkout is delivered, Wix earns its points once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR

from worker.engine.program import Program
from worker.wix.events import NormalizedEvent


@dataclass(frozen=True)
class PointsEarn:
    contact_id: str
    points: int
    idempotency_key: str
    description: str


def points_to_earn(event: NormalizedEvent, program: Program) -> list[PointsEarn]:
    """`floor(total / per) * points` for each matching rule with a buyer and a total; nothing else."""
    total = event.checkout.total if event.checkout else event.order.total if event.order else None
    entity = event.checkout.id if event.checkout else event.order.id if event.order else None
    if total is None or entity is None or event.contactId is None:
        return []
    earns = []
    for index, rule in enumerate(program.pointsRules):
        if rule.on != event.name:
            continue
        points = int((total.amount / rule.per).to_integral_value(rounding=ROUND_FLOOR)) * rule.points
        if points <= 0:
            continue
        earns.append(
            PointsEarn(
                contact_id=event.contactId,
                points=min(points, 9_999_999),
                idempotency_key=f"wrw:{event.name}:{entity}:{index}",
                description=f"{points} points for {total.amount} {total.currency or ''}".strip(),
            )
        )
    return earns
