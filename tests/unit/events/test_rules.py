"""Which logs an event becomes under the program's rules (pure: no Redis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests import wix_samples
from worker.dev.programs import BASE_PROGRAM
from worker.engine.program import Program, parse_program
from worker.events.rules import PlannedLog, SkippedRule, plan_logs
from worker.wix.events import NormalizedEvent, normalize

# DESIGN.md's example rules, plus a checkout rule and a loyalty rule.
RULES: list[dict[str, Any]] = [
    {"on": "order_paid", "streak": "weekly-shopper", "activityId": "order_paid", "value": "count"},
    {"on": "order_paid", "challenge": "spend-500", "activityId": "order_paid", "value": "order.total"},
    {
        "on": "checkout_completed",
        "challenge": "spend-500",
        "activityId": "order_paid",
        "value": "checkout.total",
    },
    {
        "on": "points_updated",
        "challenge": "spend-500",
        "activityId": "order_paid",
        "value": "account.balance",
    },
]


def program(*rules: dict[str, Any]) -> Program:
    return parse_program({**BASE_PROGRAM, "rules": list(rules) or RULES})


def event(event_type: str, payload: dict[str, Any]) -> NormalizedEvent:
    return normalize(event_type=event_type, instance_id="inst-1", event_id=payload["id"], payload=payload)


def order_paid(event_id: str = "evt-1") -> NormalizedEvent:
    return event("wix.ecom.v1.order_payment_status_updated", wix_samples.payment_status_updated(event_id))


class TestPlannedLogs:
    def test_each_matching_rule_becomes_a_log_named_after_the_order(self) -> None:
        """order_paid feeds the streak (1) and the challenge (the order total), identified by the order."""
        paid = order_paid()
        streak, challenge = plan_logs(paid, program())
        assert isinstance(streak, PlannedLog) and isinstance(challenge, PlannedLog)
        assert (streak.request.kind, streak.request.item_id) == ("streak", "weekly-shopper")
        assert streak.request.activity_value == Decimal(1)
        assert (challenge.request.kind, challenge.request.item_id) == ("challenge", "spend-500")
        assert challenge.request.activity_value == Decimal("10.00")
        order = wix_samples.ORDER_ID
        assert streak.request.unique_identifier == f"wix:order:{order}:order_paid:streak:weekly-shopper"
        assert challenge.request.unique_identifier == f"wix:order:{order}:order_paid:challenge:spend-500"
        for planned in (streak, challenge):
            assert planned.request.contact_id == wix_samples.CONTACT_ID
            assert planned.request.activity_id == "order_paid"
            assert planned.request.activity_at == paid.occurredAt

    def test_two_webhooks_about_one_order_plan_the_same_logs(self) -> None:
        """Different webhook ids, same order: the same identifiers, so the store counts them once."""
        first = plan_logs(order_paid("evt-1"), program())
        second = plan_logs(order_paid("evt-2"), program())
        assert first == second

    def test_a_checkout_feeds_its_total_named_after_the_checkout(self) -> None:
        """checkout.total is the checkout's amount; the identifier names the checkout."""
        completed = event("wix.ecom.v1.checkout_completed", wix_samples.checkout_completed())
        (planned,) = plan_logs(completed, program())
        assert isinstance(planned, PlannedLog)
        assert planned.request.activity_value == Decimal("50")
        assert planned.request.unique_identifier.startswith(
            "wix:checkout:ddbeb7fc-fab7-4ab8-9ce2-f87a8f5f4327:"
        )

    def test_an_event_without_order_or_checkout_is_named_after_the_event(self) -> None:
        """A loyalty update has no order: its webhook id identifies the log; account.balance is its value."""
        updated = event("wix.loyalty.v1.account_points_updated", wix_samples.account_points_updated())
        (planned,) = plan_logs(updated, program())
        assert isinstance(planned, PlannedLog)
        assert planned.request.activity_value == Decimal(1)
        assert planned.request.unique_identifier.startswith(f"wix:event:{updated.eventId}:")

    def test_rules_on_other_events_do_not_match(self) -> None:
        """An approved (not yet paid) order matches no order_paid rule."""
        approved = event("wix.ecom.v1.order_approved", wix_samples.order_approved())
        assert plan_logs(approved, program()) == []


class TestSkippedRules:
    def test_an_event_without_a_contact_skips_each_rule_with_the_reason(self) -> None:
        """No buyer contact: nothing to log, and each matching rule says why."""
        payload = wix_samples.payment_status_updated()
        del payload["actionEvent"]["body"]["order"]["buyerInfo"]
        planned = plan_logs(event("wix.ecom.v1.order_payment_status_updated", payload), program())
        assert [type(entry) for entry in planned] == [SkippedRule, SkippedRule]
        assert all("no contact" in entry.reason for entry in planned if isinstance(entry, SkippedRule))

    @pytest.mark.parametrize(
        ("path", "reason"),
        [
            ("order.total", "order.total is missing on this order_paid event"),
            ("checkout.total", "checkout.total is missing on this order_paid event"),
            ("order.number", "order.number is not a number on this order_paid event"),
            ("order.nothing", "order.nothing is not a field of the order_paid event"),
        ],
    )
    def test_a_value_the_event_does_not_have_is_a_reason(self, path: str, reason: str) -> None:
        """A path the event lacks, or that is not a number, skips the rule with the reason."""
        payload = wix_samples.payment_status_updated()
        del payload["actionEvent"]["body"]["order"]["priceSummary"]
        rule = {"on": "order_paid", "challenge": "spend-500", "activityId": "order_paid", "value": path}
        (planned,) = plan_logs(event("wix.ecom.v1.order_payment_status_updated", payload), program(rule))
        assert planned == SkippedRule(0, program(rule).rules[0], reason)
