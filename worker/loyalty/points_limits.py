"""The multipliers of a points rule's earn: the best bonus window open at the event's time, and the
member's tier. Pure: the earn, the program, the event and the member's tier in; the points out.

A bonus window is placed by the event's `occurredAt`, never by when the worker gets to it, so an order
paid on Black Friday and processed on Saturday still earns the Friday's bonus, and a replay earns the
same. Overlapping windows do not stack: the one that gives the most points applies. A window with
`productIds` multiplies only the share of the order those products make (their line totals over the
order's total, at most all of it); a checkout carries no line items, so such a window gives it nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from worker.engine.program import BonusWindow, PointsRule, Program
from worker.loyalty.points_rules import PointsEarn
from worker.wix.events import OrderInfo

MAX_POINTS = 9_999_999  # Wix's earn limit (as points_to_earn)
DESCRIPTION_MAX = 100  # Wix's EarnPointsRequest.description @maxLength


class Occurrence(Protocol):
    """What the multipliers and caps read of what made an earn: a webhook event (`NormalizedEvent`), or
    an `Activity` (a custom activity, a birthday: no order, so a product-scoped window adds nothing)."""

    @property
    def instanceId(self) -> str: ...

    @property
    def occurredAt(self) -> datetime: ...

    @property
    def order(self) -> OrderInfo | None: ...


@dataclass(frozen=True)
class Activity:
    """An earn's occasion that is no webhook event: the site and when it happened."""

    instanceId: str
    occurredAt: datetime
    order: OrderInfo | None = None


def rule_index(earn: PointsEarn) -> int | None:
    """The pointsRules position an earn came from: the last part of its idempotency key
    (`wrw:{event}:{entity}:{index}`, worker/loyalty/points_rules.py); None for a key of another shape."""
    tail = earn.idempotency_key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def product_share(event: Occurrence, product_ids: list[str]) -> Decimal:
    """The part (0 to 1) of the order's total that the products' line items make."""
    order = event.order
    if order is None or order.total is None or order.total.amount <= 0:
        return Decimal(0)
    wanted = set(product_ids)
    amount = sum(
        (line.total for line in order.lines if line.catalogItemId in wanted and line.total is not None),
        Decimal(0),
    )
    return min(max(amount / order.total.amount, Decimal(0)), Decimal(1))


def window_factor(window: BonusWindow, event: Occurrence) -> Decimal:
    """What the window multiplies the whole earn by (1 + (N-1) x share with products)."""
    if window.productIds is None:
        return window.multiplier
    return 1 + (window.multiplier - 1) * product_share(event, window.productIds)


def open_windows(program: Program, index: int, moment: datetime) -> list[BonusWindow]:
    return [
        window
        for window in program.bonusWindows
        if window.startsAt <= moment < window.endsAt and (window.rules is None or index in window.rules)
    ]


@dataclass(frozen=True)
class Multiplied:
    earn: PointsEarn
    factor: Decimal  # window x tier
    window_id: str | None


def multiply(earn: PointsEarn, program: Program, event: Occurrence, tier: str | None) -> Multiplied:
    """The earn with its bonus window's and its tier's multipliers applied (rounded down)."""
    index = rule_index(earn)
    if index is None or index >= len(program.pointsRules):
        return Multiplied(earn, Decimal(1), None)
    rule = program.pointsRules[index]
    factors = [(window_factor(w, event), w.id) for w in open_windows(program, index, event.occurredAt)]
    window, window_id = max(factors, key=lambda pair: pair[0]) if factors else (Decimal(1), None)
    factor = window * tier_factor(rule, tier)
    if factor == 1:
        return Multiplied(earn, factor, None)
    points = min(int((earn.points * factor).to_integral_value(rounding=ROUND_FLOOR)), MAX_POINTS)
    why = ", ".join(
        part
        for part in (
            f"bonus {window_id} x{window.normalize()}" if window_id else "",
            f"tier {tier} x{tier_factor(rule, tier).normalize()}" if tier_factor(rule, tier) != 1 else "",
        )
        if part
    )
    description = f"{points} points ({earn.description}; {why})"[:DESCRIPTION_MAX]
    return Multiplied(replace(earn, points=points, description=description), factor, window_id)


def tier_factor(rule: PointsRule, tier: str | None) -> Decimal:
    if tier is None:
        return Decimal(1)
    return rule.tierMultipliers.get(tier, Decimal(1))
