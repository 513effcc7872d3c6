"""Which logs a normalized event becomes under the program's `rules` (DESIGN.md "The program document").

Pure: an event and a program in, one `PlannedLog` or `SkippedRule` per matching rule out, in the rules'
order. No Redis, no Celery; the worker records the planned logs through `worker.progress.record`.

A log's unique identifier comes from the business entity, not the webhook, so two webhooks about one
payment (or a replay) name the same log: `wix:order:{orderId}:{activityId}:{streak|challenge}:{id}`,
`wix:checkout:{checkoutId}:...`, and for events without an order or checkout the event's own id. The
target is part of it because a uniqueIdentifier is unique across the whole instance: without it, the
streak's log of an order would make the challenge's log of the same order a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from worker.engine.program import Program, Rule
from worker.progress.record import ActivityRequest, Kind
from worker.wix.events import Money, NormalizedEvent


@dataclass(frozen=True)
class PlannedLog:
    """A rule matched: this is the log to record."""

    index: int
    rule: Rule
    request: ActivityRequest


@dataclass(frozen=True)
class SkippedRule:
    """A rule matched but cannot produce a log from this event; `reason` says why."""

    index: int
    rule: Rule
    reason: str


class _NoValue(Exception):
    pass


def rule_target(rule: Rule) -> tuple[Kind, str]:
    """What the rule feeds: ("streak", id) or ("challenge", id). A validated rule names exactly one."""
    if rule.streak is not None:
        return "streak", rule.streak
    return "challenge", rule.challenge or ""


def unique_identifier(event: NormalizedEvent, rule: Rule) -> str:
    """The log's identifier, from the event's business entity (see the module docstring)."""
    kind, item_id = rule_target(rule)
    if event.order is not None:
        entity = f"wix:order:{event.order.id}"
    elif event.checkout is not None:
        entity = f"wix:checkout:{event.checkout.id}"
    else:
        entity = f"wix:event:{event.eventId}"
    return f"{entity}:{rule.activityId}:{kind}:{item_id}"


def read_value(event: NormalizedEvent, path: str) -> Decimal:
    """The number at a dotted path of the event (`order.total` is the order total's amount);
    _NoValue with the reason when the event has none there."""
    value: object = event
    for step in path.split("."):
        if not isinstance(value, BaseModel) or step not in type(value).model_fields:
            raise _NoValue(f"{path} is not a field of the {event.name} event")
        value = getattr(value, step)
        if value is None:
            raise _NoValue(f"{path} is missing on this {event.name} event")
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _NoValue(f"{path} is not a number on this {event.name} event")
    return Decimal(value)


def plan_logs(event: NormalizedEvent, program: Program) -> list[PlannedLog | SkippedRule]:
    """One entry per rule whose `on` is the event's name, in the rules' order."""
    planned: list[PlannedLog | SkippedRule] = []
    for index, rule in enumerate(program.rules):
        if rule.on != event.name:
            continue
        if not event.contactId:
            planned.append(SkippedRule(index, rule, f"the {event.name} event names no contact"))
            continue
        if rule.value == "count":
            value = Decimal(1)
        else:
            try:
                value = read_value(event, rule.value)
            except _NoValue as exc:
                planned.append(SkippedRule(index, rule, str(exc)))
                continue
        kind, item_id = rule_target(rule)
        request = ActivityRequest(
            kind=kind,
            item_id=item_id,
            contact_id=event.contactId,
            activity_id=rule.activityId,
            activity_value=value,
            activity_at=event.occurredAt,
            unique_identifier=unique_identifier(event, rule),
        )
        planned.append(PlannedLog(index, rule, request))
    return planned
