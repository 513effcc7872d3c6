"""Wix-shaped objects and webhook payloads, modelled on Wix's own examples (wix-facts.md §3, §4.4).

`order_object` and `contact_object` build what the fake serves from `GET /ecom/v1/orders/{id}` and
`GET /contacts/v4/contacts/{id}`; `build_payload` builds the inner `data` of a webhook envelope (the
standardized "domain event", §1.2) for each event type the worker handles, for `send-webhook`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from worker.wix.fake.members import member_object
from worker.wix.fake.state import iso

# The ids of Wix's own examples (tests/wix_samples.py uses the same).
EXAMPLE_CONTACT_ID = "24de6f0b-60ce-4faa-9138-2e39f1415615"
EXAMPLE_ORDER_ID = "880fa895-dfd5-4d50-a2d4-971b03fd4b86"
WIX_LOYALTY_APP_ID = "553c79f3-5625-4f38-b14b-ef7c0d1e87df"  # "points earned manually" (§3.4)


def _money(amount: str, currency: str) -> dict[str, str]:
    value = Decimal(amount).quantize(Decimal("0.01"))
    formatted = f"${value}" if currency == "USD" else f"{value} {currency}"
    return {"amount": str(value), "formattedAmount": formatted}


def order_object(
    order_id: str = EXAMPLE_ORDER_ID,
    contact_id: str = EXAMPLE_CONTACT_ID,
    *,
    total: str = "10.00",
    currency: str = "USD",
    status: str = "APPROVED",
    payment_status: str = "PAID",
    fulfillment_status: str = "NOT_FULFILLED",
    number: str = "10002",
    checkout_id: str | None = None,
    email: str = "janedoe@gmail.com",
    created: float | None = None,
    coupon_code: str | None = None,
    product_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """An eCommerce order (§3.1) with one line item costing `total`; with `coupon_code`, the order used
    that coupon (`appliedDiscounts[].coupon`, as in Wix's example); with `product_ids`, one line item per
    Wix Stores product (`catalogReference`), the first costing `total`, the others nothing."""
    when = iso(time.time() if created is None else created)
    return {
        "id": order_id,
        "number": number,
        "status": status,
        "paymentStatus": payment_status,
        "fulfillmentStatus": fulfillment_status,
        "currency": currency,
        "buyerInfo": {
            "contactId": contact_id,
            "email": email,
            "visitorId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"visitor:{contact_id}")),
        },
        "priceSummary": {"subtotal": _money(total, currency), "total": _money(total, currency)},
        "appliedDiscounts": applied_discounts(coupon_code),
        "checkoutId": checkout_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"checkout:{order_id}")),
        "createdDate": when,
        "updatedDate": when,
        "lineItems": line_items(total, currency, product_ids),
    }


WIX_STORES_APP_ID = "215238eb-22a5-4c36-9e7b-e7c08025e04e"  # a Stores product's catalogReference.appId


def line_items(total: str, currency: str, product_ids: Sequence[str]) -> list[dict[str, Any]]:
    """An order's `lineItems`: one "Shirt" without a catalog reference, or one per Stores product."""
    if not product_ids:
        shirt = {"productName": {"original": "Shirt"}, "quantity": 1, "price": _money(total, currency)}
        return [{"id": "00000000-0000-0000-0000-000000000001", **shirt}]
    return [
        {
            "id": f"00000000-0000-0000-0000-{index + 1:012d}",
            "productName": {"original": f"Product {index + 1}"},
            "catalogReference": {"catalogItemId": product_id, "appId": WIX_STORES_APP_ID},
            "quantity": 1,
            "price": _money(total if index == 0 else "0", currency),
        }
        for index, product_id in enumerate(product_ids)
    ]


def applied_discounts(coupon_code: str | None) -> list[dict[str, Any]]:
    """An order's or checkout's `appliedDiscounts` (§3.1, §3.3): none, or the one coupon Wix allows."""
    if coupon_code is None:
        return []
    coupon_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"coupon:{coupon_code}"))
    coupon = {"id": coupon_id, "code": coupon_code, "name": coupon_code, "amount": {"amount": "5.0"}}
    return [{"discountType": "GLOBAL", "coupon": coupon}]


def contact_object(
    contact_id: str = EXAMPLE_CONTACT_ID,
    *,
    email: str = "janedoe@gmail.com",
    first: str = "Jane",
    last: str = "Doe",
    created: float | None = None,
    birthdate: str | None = None,
) -> dict[str, Any]:
    """A Contacts v4 contact (§4.4); `birthdate` is `info.birthdate`, "YYYY-MM-DD" (`@wix/crm` contacts)."""
    when = iso(time.time() if created is None else created)
    contact: dict[str, Any] = {
        "id": contact_id,
        "revision": 1,
        "source": {"sourceType": "OTHER"},
        "createdDate": when,
        "updatedDate": when,
        "lastActivity": {"activityDate": when, "activityType": "CONTACT_CREATED"},
        "primaryInfo": {"email": email},
        "info": {
            "name": {"first": first, "last": last},
            "emails": {"items": [{"id": str(uuid.uuid4()), "tag": "MAIN", "email": email, "primary": True}]},
        },
    }
    if birthdate is not None:
        contact["info"]["birthdate"] = birthdate
    return contact


@dataclass(frozen=True)
class EventOptions:
    """What varies between webhook events; the defaults are Wix's example values."""

    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    order_id: str = EXAMPLE_ORDER_ID
    contact_id: str = EXAMPLE_CONTACT_ID
    total: str = "10.00"
    currency: str = "USD"
    payment_status: str = "PAID"
    fulfillment_status: str = "NOT_FULFILLED"
    checkout_id: str | None = None
    account_id: str = "fe0ca230-61a6-4ebf-9199-9c0d238619aa"
    points: int = 1
    transaction_app_id: str = WIX_LOYALTY_APP_ID
    # Wix's 2021 example carries `latestTransaction`; no published `@wix/loyalty` build has it (§8).
    latest_transaction: bool = False
    program_status: str = "ACTIVE"
    app_id: str = ""
    event_time: float | None = None
    coupon_code: str | None = None  # a coupon the order (and its checkout) used
    product_ids: tuple[str, ...] = ()  # the order's Stores products (one line item each)
    member_id: str = "9c1fb4a6-4e0a-4bb5-8a9b-5f4e3f2c7d10"

    def order(self) -> dict[str, Any]:
        return order_object(
            self.order_id,
            self.contact_id,
            total=self.total,
            currency=self.currency,
            payment_status=self.payment_status,
            fulfillment_status=self.fulfillment_status,
            checkout_id=self.checkout_id,
            coupon_code=self.coupon_code,
            product_ids=self.product_ids,
        )

    def when(self) -> str:
        return iso(time.time() if self.event_time is None else self.event_time)


def _domain_event(options: EventOptions, fqdn: str, slug: str, entity_id: str, **body: Any) -> dict[str, Any]:
    return {
        "id": options.event_id,
        "entityFqdn": fqdn,
        "slug": slug,
        "entityId": entity_id,
        "eventTime": options.when(),
        "triggeredByAnonymizeRequest": False,
        **body,
    }


def order_approved(options: EventOptions) -> dict[str, Any]:
    return _domain_event(
        options,
        "wix.ecom.v1.order",
        "approved",
        options.order_id,
        actionEvent={"body": {"order": options.order()}},
    )


def payment_status_updated(options: EventOptions) -> dict[str, Any]:
    """`@wix/ecom` `PaymentStatusUpdated`: the order as it is now and its status before; a refund
    (`payment_status` FULLY_ or PARTIALLY_REFUNDED) was PAID before."""
    previous = "PAID" if options.payment_status.endswith("REFUNDED") else "NOT_PAID"
    body = {"order": options.order(), "previousPaymentStatus": previous}
    return _domain_event(
        options, "wix.ecom.v1.order", "payment_status_updated", options.order_id, actionEvent={"body": body}
    )


def order_refunded(options: EventOptions) -> dict[str, Any]:
    """How Wix tells of a full refund: `wix.ecom.v1.order_payment_status_updated` with the order's
    `paymentStatus` FULLY_REFUNDED (docs/programs.md "Cancellations and refunds")."""
    return payment_status_updated(replace(options, payment_status="FULLY_REFUNDED"))


def order_canceled(options: EventOptions) -> dict[str, Any]:
    order = options.order()
    order["status"] = "CANCELED"
    return _domain_event(
        options, "wix.ecom.v1.order", "canceled", options.order_id, actionEvent={"body": {"order": order}}
    )


def order_updated(options: EventOptions) -> dict[str, Any]:
    return _domain_event(
        options,
        "wix.ecom.v1.order",
        "updated",
        options.order_id,
        updatedEvent={"currentEntity": options.order()},
    )


def fulfillments_updated(options: EventOptions) -> dict[str, Any]:
    """Fulfillments carry no buyer (§3.2): the worker GETs the order, so seed it in the fake too."""
    fulfillment = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"fulfillment:{options.order_id}")),
        "createdDate": options.when(),
        "lineItems": [{"id": "00000000-0000-0000-0000-000000000001", "quantity": 1}],
        "trackingInfo": {"trackingNumber": "12345", "shippingProvider": "ups"},
    }
    entity = {"orderId": options.order_id, "fulfillments": [fulfillment]}
    return _domain_event(
        options,
        "wix.ecom.v1.fulfillments",
        "updated",
        options.order_id,
        updatedEvent={"currentEntity": entity},
    )


def checkout_completed(options: EventOptions) -> dict[str, Any]:
    order = options.order()
    checkout = {
        "id": order["checkoutId"],
        "completed": True,
        "cartId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cart:{order['checkoutId']}")),
        "currency": options.currency,
        "buyerInfo": order["buyerInfo"],
        "priceSummary": {
            "total": {**_money(options.total, options.currency), "convertedAmount": options.total}
        },
        "appliedDiscounts": order["appliedDiscounts"],
        "createdDate": order["createdDate"],
        "updatedDate": order["updatedDate"],
    }
    return _domain_event(
        options,
        "wix.ecom.v1.checkout",
        "completed",
        checkout["id"],
        actionEvent={"body": {"checkout": checkout}},
    )


def account_points_updated(options: EventOptions) -> dict[str, Any]:
    when = options.when()
    account = {
        "id": options.account_id,
        "contactId": options.contact_id,
        "points": {"balance": options.points, "earned": 0, "adjusted": options.points, "redeemed": 0},
        "rewardAvailable": False,
        "revision": "2",
        "createdDate": when,
        "updatedDate": when,
    }
    if options.latest_transaction:
        account["latestTransaction"] = {
            "id": str(uuid.uuid4()),
            "amount": options.points,
            "type": "ADJUST",
            "description": "",
            "appId": options.transaction_app_id,
            "createdDate": when,
        }
    return _domain_event(
        options,
        "wix.loyalty.v1.account",
        "points_updated",
        options.account_id,
        actionEvent={"body": {"account": account}},
    )


def program_updated(options: EventOptions) -> dict[str, Any]:
    program = {
        "name": "Loyalty program",
        "status": options.program_status,
        "pointDefinition": {"customName": "Points", "icon": {"url": "shapes/points.svg"}},
        "createdDate": options.when(),
        "updatedDate": options.when(),
    }
    return _domain_event(
        options, "wix.loyalty.v1.program", "updated", "settings", updatedEvent={"currentEntity": program}
    )


def app_installed(options: EventOptions) -> dict[str, Any]:
    """Legacy and flat (§3.7): `{appId, originInstanceId}`, no event id."""
    return {"appId": options.app_id, "originInstanceId": ""}


def contact_created(options: EventOptions) -> dict[str, Any]:
    contact = contact_object(options.contact_id, created=options.event_time)
    return _domain_event(
        options, "wix.contacts.v4.contact", "created", options.contact_id, createdEvent={"entity": contact}
    )


def contact_updated(options: EventOptions) -> dict[str, Any]:
    contact = {**contact_object(options.contact_id, created=options.event_time), "revision": 2}
    return _domain_event(
        options,
        "wix.contacts.v4.contact",
        "updated",
        options.contact_id,
        updatedEvent={"currentEntity": contact},
    )


def contact_deleted(options: EventOptions) -> dict[str, Any]:
    return _domain_event(options, "wix.contacts.v4.contact", "deleted", options.contact_id, deletedEvent={})


def member_created(options: EventOptions) -> dict[str, Any]:
    """`wix.members.v1.member_created` (`@wix/members` MemberCreatedEnvelope): the new Member as the
    created entity; its `contactId` is the contact who signed up."""
    member = member_object(
        options.member_id,
        options.contact_id,
        login_email="janedoe@gmail.com",
        nickname="Jane Doe",
        created=options.event_time or time.time(),
    )
    return _domain_event(
        options, "wix.members.v1.member", "created", options.member_id, createdEvent={"entity": member}
    )


BUILDERS: dict[str, Callable[[EventOptions], dict[str, Any]]] = {
    "wix.ecom.v1.order_approved": order_approved,
    "wix.ecom.v1.order_payment_status_updated": payment_status_updated,
    "wix.ecom.v1.order_canceled": order_canceled,
    "wix.ecom.v1.order_updated": order_updated,
    "wix.ecom.v1.fulfillments_updated": fulfillments_updated,
    "wix.ecom.v1.checkout_completed": checkout_completed,
    "wix.loyalty.v1.account_points_updated": account_points_updated,
    "wix.loyalty.v1.program_updated": program_updated,
    "AppInstalled": app_installed,
    "AppRemoved": app_installed,
    "wix.contacts.v4.contact_created": contact_created,
    "wix.contacts.v4.contact_updated": contact_updated,
    "wix.contacts.v4.contact_deleted": contact_deleted,
    "wix.members.v1.member_created": member_created,
}
# Event types whose handling GETs the order: `send-webhook --seed-fake` stores the order first.
ORDER_EVENT_TYPES = frozenset(
    name for name in BUILDERS if name.startswith("wix.ecom.v1.order") or "fulfillments" in name
)


def build_payload(event_type: str, options: EventOptions) -> dict[str, Any]:
    builder = BUILDERS.get(event_type)
    if builder is None:
        raise ValueError(f"no payload builder for {event_type}; known: {', '.join(sorted(BUILDERS))}")
    return builder(options)
