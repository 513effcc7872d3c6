"""`pointsRules`: Wix loyalty points for spending (seed 002: one point per $10 on a checkout) and for
activity beyond orders: a member signing up, a birthday, a custom activity recorded through the API.

Pure: an event (or an activity, or a birthday) and the program in, the points to earn out. Each earn
carries an idempotency key made from what earned it and the rule, so however often the same thing is
delivered, Wix earns its points once:

- an event: `wrw:{event}:{order, checkout or member id}:{rule}` (ids Wix makes, unique across sites);
- a custom activity: `wrw:activity:{digest of instance, contact and uniqueIdentifier}:{rule}`;
- a birthday: `wrw:birthday:{digest of instance and contact}:{year}:{rule}`.

A rule with `per` earns `floor(total / per) * points` on an event with a total; a rule without earns
`points` flat, once per occurrence. A rule's `when` (order and checkout rules) is checked against the
event and the `OrderFacts` decided outside (the contact's first paid order in Redis, a product's
collections from Wix Stores); a fact not known (None, e.g. in a dry run) does not meet its condition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_FLOOR

from worker.engine.program import OrderConditions, PointsRule, Program
from worker.wix.events import Money, NormalizedEvent

MAX_EARN = 9_999_999


@dataclass(frozen=True)
class PointsEarn:
    contact_id: str
    points: int
    idempotency_key: str
    description: str


@dataclass(frozen=True)
class OrderFacts:
    """What an order's conditions need beyond the event; None where it is not known."""

    first_order: bool | None = None
    collection_ids: frozenset[str] | None = None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _entity(event: NormalizedEvent) -> str:
    if event.checkout is not None:
        return event.checkout.id
    if event.order is not None:
        return event.order.id
    if event.member is not None:
        return event.member.id
    return event.eventId


def _total(event: NormalizedEvent) -> Money | None:
    return event.checkout.total if event.checkout else event.order.total if event.order else None


def meets(when: OrderConditions | None, event: NormalizedEvent, facts: OrderFacts) -> bool:
    """Whether the event meets every condition of `when` (None: no conditions)."""
    if when is None:
        return True
    total = _total(event)
    if when.minimumTotal is not None and (total is None or total.amount < when.minimumTotal):
        return False
    products = set(event.product_ids)
    if when.productIds is not None and not products.intersection(when.productIds):
        return False
    if when.collectionIds is not None and (
        facts.collection_ids is None or not facts.collection_ids.intersection(when.collectionIds)
    ):
        return False
    return not (when.firstOrderOnly and facts.first_order is not True)


def _amount(rule: PointsRule, total: Money | None) -> int:
    if rule.per is None:
        return rule.points
    if total is None:
        return 0
    return int((total.amount / rule.per).to_integral_value(rounding=ROUND_FLOOR)) * rule.points


def _label(event: NormalizedEvent, rule: PointsRule, total: Money | None) -> str:
    if event.name == "member_created":
        return "signing up"
    if rule.per is not None and total is not None:
        return f"{total.amount} {total.currency or ''}".strip()
    return event.name.replace("_", " ")


def points_to_earn(
    event: NormalizedEvent, program: Program, facts: OrderFacts | None = None
) -> list[PointsEarn]:
    """The earns of each rule `on` the event's name whose conditions the event meets; nothing without a
    buyer. A rule with `per` earns only on an event with a total."""
    if event.contactId is None:
        return []
    total, entity, facts = _total(event), _entity(event), facts or OrderFacts()
    earns = []
    for index, rule in enumerate(program.pointsRules):
        if rule.on is None or rule.on != event.name or not meets(rule.when, event, facts):
            continue
        points = _amount(rule, total)
        if points <= 0:
            continue
        earns.append(
            PointsEarn(
                contact_id=event.contactId,
                points=min(points, MAX_EARN),
                idempotency_key=f"wrw:{event.name}:{entity}:{index}",
                description=f"{points} points for {_label(event, rule, total)}",
            )
        )
    return earns


def activity_points(
    program: Program, instance_id: str, contact_id: str, activity_id: str, unique_identifier: str
) -> list[PointsEarn]:
    """The flat earns of each rule on the custom `activity_id`, keyed by the log's uniqueIdentifier (a
    client's identifier is unique per member only: the digest adds the site and the contact)."""
    digest = _digest(instance_id, contact_id, unique_identifier)
    return [
        PointsEarn(
            contact_id=contact_id,
            points=rule.points,
            idempotency_key=f"wrw:activity:{digest}:{index}",
            description=f"{rule.points} points for {activity_id}",
        )
        for index, rule in enumerate(program.pointsRules)
        if rule.activity is not None and rule.activity == activity_id
    ]


def birthday_points(program: Program, instance_id: str, contact_id: str, year: int) -> list[PointsEarn]:
    """The flat earns of each `on: birthday` rule for the contact's birthday in `year`."""
    digest = _digest(instance_id, contact_id)
    return [
        PointsEarn(
            contact_id=contact_id,
            points=rule.points,
            idempotency_key=f"wrw:birthday:{digest}:{year}:{index}",
            description=f"{rule.points} points for a birthday",
        )
        for index, rule in enumerate(program.pointsRules)
        if rule.on == "birthday"
    ]


def has_birthday_rule(program: Program) -> bool:
    return any(rule.on == "birthday" for rule in program.pointsRules)
