"""Normalizing Wix's example payloads (wix-facts.md §3) into DESIGN.md's events."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests import wix_samples
from worker.wix.events import EventIgnored, InvalidEvent, NormalizedEvent, normalize


def run(event_type: str, payload: dict, **options) -> object:  # type: ignore[type-arg]
    return normalize(
        event_type=event_type,
        instance_id="inst-1",
        event_id=payload.get("id", "e"),
        payload=payload,
        **options,
    )


class TestOrders:
    def test_payment_status_paid_is_order_paid(self) -> None:
        """PAID becomes order_paid with buyer, total as Decimal and currency."""
        event = run("wix.ecom.v1.order_payment_status_updated", wix_samples.payment_status_updated())
        assert event.name == "order_paid"
        assert event.contactId == wix_samples.CONTACT_ID
        assert event.order.id == wix_samples.ORDER_ID
        assert event.order.total.amount == Decimal("10.00")
        assert event.order.total.currency == "USD"
        assert event.occurredAt.isoformat() == "2022-12-21T13:37:43.471496+00:00"

    def test_payment_status_not_paid_is_ignored_with_the_reason(self) -> None:
        """An order whose payment is not PAID earns nothing, and the reason says so."""
        with pytest.raises(EventIgnored, match="NOT_PAID"):
            run(
                "wix.ecom.v1.order_payment_status_updated",
                wix_samples.payment_status_updated(payment_status="NOT_PAID"),
            )

    def test_order_approved_and_canceled(self) -> None:
        """Approved and canceled orders keep their own names."""
        assert run("wix.ecom.v1.order_approved", wix_samples.order_approved()).name == "order_approved"
        assert run("wix.ecom.v1.order_canceled", wix_samples.order_canceled()).name == "order_canceled"

    def test_body_as_json_string_is_read_like_body(self) -> None:
        """`bodyAsJson` (a JSON string) is the same as `body`."""
        payload = wix_samples.payment_status_updated()
        payload["actionEvent"] = {"bodyAsJson": json.dumps(payload["actionEvent"]["body"])}
        event = run("wix.ecom.v1.order_payment_status_updated", payload)
        assert event.name == "order_paid"
        assert event.contactId == wix_samples.CONTACT_ID

    def test_fulfillments_updated_records_the_order_for_lookup(self) -> None:
        """The fulfilment payload has no buyer: the order id is kept for the Wix client to look up."""
        event = run("wix.ecom.v1.fulfillments_updated", wix_samples.fulfillments_updated())
        assert event.name == "order_fulfilled"
        assert event.order.id == "1241d17c-82e1-4a6d-9fae-bd6d2a8073e5"
        assert event.needsOrderLookup
        assert event.contactId is None

    def test_a_non_decimal_total_is_invalid(self) -> None:
        """Money must be a decimal string."""
        payload = wix_samples.payment_status_updated()
        payload["actionEvent"]["body"]["order"]["priceSummary"]["total"]["amount"] = "ten"
        with pytest.raises(InvalidEvent, match="decimal"):
            run("wix.ecom.v1.order_payment_status_updated", payload)


def line(item_id: str | None, total: str) -> dict:  # type: ignore[type-arg]
    reference = {"catalogReference": {"catalogItemId": item_id}} if item_id else {}
    return {**reference, "quantity": 1, "totalPriceAfterTax": {"amount": total}}


class TestLineItems:
    def test_an_orders_lines_and_its_distinct_products_come_from_one_read(self) -> None:
        """Each line keeps its product and total; the products are listed once each, in order, and a
        line without a product (or not an object) is no product."""
        payload = wix_samples.payment_status_updated()
        items = [line("shirt", "10.00"), line("mug", "4.50"), line("shirt", "10.00"), line(None, "1"), "x"]
        payload["actionEvent"]["body"]["order"]["lineItems"] = items
        order = run("wix.ecom.v1.order_payment_status_updated", payload).order
        assert [(each.catalogItemId, each.total) for each in order.lines] == [
            ("shirt", Decimal("10.00")),
            ("mug", Decimal("4.50")),
            ("shirt", Decimal("10.00")),
            (None, Decimal("1")),
        ]
        assert order.productIds == ["shirt", "mug"]

    def test_a_checkouts_products_are_read_the_same_way(self) -> None:
        """A checkout's products, for points rules on checkout_completed."""
        payload = wix_samples.checkout_completed()
        payload["actionEvent"]["body"]["checkout"]["lineItems"] = [line("mug", "2"), line("mug", "2")]
        event = run("wix.ecom.v1.checkout_completed", payload)
        assert event.checkout.productIds == ["mug"]
        assert event.product_ids == ["mug"]

    def test_an_event_journaled_before_keeps_its_products_on_replay(self) -> None:
        """The journal's normalized form is unchanged: a record written before (`lines` and
        `productIds` as fields of their own) reads back with the same products and line totals."""
        journaled = (
            '{"name": "order_paid", "instanceId": "inst-1", "eventId": "e-1",'
            ' "occurredAt": "2026-11-06T10:00:00Z", "contactId": "c-1",'
            ' "order": {"id": "o-1", "total": {"amount": "14.50", "currency": "EUR"},'
            ' "lines": [{"catalogItemId": "shirt", "total": "10.00"},'
            ' {"catalogItemId": "mug", "total": "4.50"}],'
            ' "productIds": ["shirt", "mug"]}}'
        )
        event = NormalizedEvent.model_validate_json(journaled)
        assert event.product_ids == ["shirt", "mug"]
        assert [each.total for each in event.order.lines] == [Decimal("10.00"), Decimal("4.50")]
        fresh = json.loads(event.model_dump_json())["order"]
        assert (fresh["productIds"], [each["catalogItemId"] for each in fresh["lines"]]) == (
            ["shirt", "mug"],
            ["shirt", "mug"],
        )


class TestOthers:
    def test_checkout_completed(self) -> None:
        """Checkout total and buyer come through."""
        event = run("wix.ecom.v1.checkout_completed", wix_samples.checkout_completed())
        assert event.name == "checkout_completed"
        assert event.checkout.total.amount == Decimal("50")
        assert event.contactId == wix_samples.CONTACT_ID

    def test_points_updated_by_someone_else(self) -> None:
        """A points change made by another app is a points_updated event with the account."""
        event = run(
            "wix.loyalty.v1.account_points_updated", wix_samples.account_points_updated(), our_app_id="ours"
        )
        assert event.name == "points_updated"
        assert event.account.balance == 1
        assert event.account.transactionType == "ADJUST"

    def test_our_own_points_transaction_is_ignored(self) -> None:
        """The loop guard: a change our app made is not fed back in."""
        payload = wix_samples.account_points_updated(app_id="ours")
        with pytest.raises(EventIgnored, match="loop"):
            run("wix.loyalty.v1.account_points_updated", payload, our_app_id="ours")

    def test_program_updated_carries_the_status(self) -> None:
        """A program update says whether the program is active or paused."""
        event = run("wix.loyalty.v1.program_updated", wix_samples.program_updated(status="PAUSED"))
        assert event.program.status == "PAUSED"
        assert event.program.pointsName == "Northern Star"

    def test_app_installed_uses_the_receipt_time(self) -> None:
        """Legacy events have no eventTime: the time we received them stands in."""
        event = normalize(
            event_type="AppInstalled",
            instance_id="i",
            event_id="token-x",
            payload=wix_samples.app_installed(),
            received_at="2026-01-02T03:04:05.000Z",
        )
        assert event.name == "app_installed"
        assert event.occurredAt.isoformat() == "2026-01-02T03:04:05+00:00"

    def test_unknown_types_are_ignored(self) -> None:
        """Anything else is ignored with its type named."""
        with pytest.raises(EventIgnored, match="order_updated"):
            run("wix.ecom.v1.order_updated", {"id": "e"})


class TestSpellings:
    def test_current_entity_as_json_string(self) -> None:
        """`currentEntityAsJson` as a JSON string reads like `currentEntity`."""
        import json as _json

        payload = wix_samples.program_updated(status="PAUSED")
        payload["updatedEvent"] = {
            "currentEntityAsJson": _json.dumps(payload["updatedEvent"]["currentEntity"])
        }
        assert run("wix.loyalty.v1.program_updated", payload).program.status == "PAUSED"

    def test_created_entity_as_json(self) -> None:
        """`createdEvent.entityAsJson` (an object in some examples) is read too."""
        payload = wix_samples.fulfillments_updated()
        payload["createdEvent"] = {"entityAsJson": payload.pop("updatedEvent")["currentEntity"]}
        assert (
            run("wix.ecom.v1.fulfillments_updated", payload).order.id
            == "1241d17c-82e1-4a6d-9fae-bd6d2a8073e5"
        )


class TestOrderFulfilled:
    def fulfilment_event(self):  # type: ignore[no-untyped-def]
        return run("wix.ecom.v1.fulfillments_updated", wix_samples.fulfillments_updated())

    def test_a_fully_fulfilled_order_becomes_order_fulfilled_with_its_buyer(self) -> None:
        """The order fetched from Wix is FULFILLED: the event gets the buyer and the total."""
        from worker.wix.events import resolve_fulfilment

        order = wix_samples.payment_status_updated()["actionEvent"]["body"]["order"]
        order["fulfillmentStatus"] = "FULFILLED"
        event = resolve_fulfilment(self.fulfilment_event(), order)
        assert event.name == "order_fulfilled"
        assert event.contactId == wix_samples.CONTACT_ID
        assert event.order.total.amount == Decimal("10.00")
        assert not event.needsOrderLookup

    def test_a_partly_fulfilled_order_is_ignored_with_its_status(self) -> None:
        """Until every item ships, nothing is emitted."""
        from worker.wix.events import resolve_fulfilment

        order = wix_samples.payment_status_updated()["actionEvent"]["body"]["order"]
        order["fulfillmentStatus"] = "PARTIALLY_FULFILLED"
        with pytest.raises(EventIgnored, match="PARTIALLY_FULFILLED"):
            resolve_fulfilment(self.fulfilment_event(), order)
