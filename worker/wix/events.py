"""Turning a Wix webhook payload into one of our normalized events (DESIGN.md "Normalized events").

Pure functions over parsed JSON: no Redis, no Celery, no HTTP. Wix spells bodies two ways (`body` /
`bodyAsJson`, `entity` / `entityAsJson`, sometimes as JSON strings): both are read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

EventName = Literal[
    "order_approved",
    "order_paid",
    "order_fulfilled",
    "order_canceled",
    "order_refunded",
    "checkout_completed",
    "points_updated",
    "program_updated",
    "app_installed",
    "app_removed",
    "contact_created",
    "contact_updated",
    "contact_deleted",
    "member_created",
]


class EventIgnored(Exception):
    """An authentic event we deliberately do nothing with; the message says why."""


class InvalidEvent(ValueError):
    """The payload does not have the fields this event type must have; retrying will not help."""


class Money(BaseModel):
    amount: Decimal
    currency: str | None = None


class OrderLine(BaseModel):
    """A line item's catalog item and total (`lineItems[]`): a bonus window's products' share."""

    catalogItemId: str | None = None
    total: Decimal | None = None


class OrderInfo(BaseModel):
    id: str
    number: str | None = None
    status: str | None = None
    paymentStatus: str | None = None
    fulfillmentStatus: str | None = None
    total: Money | None = None
    checkoutId: str | None = None
    # The codes of the coupons the order used (`appliedDiscounts[].coupon.code`): how a reward's coupon is
    # known to be redeemed (worker/rewards/redemption.py).
    couponCodes: list[str] = []
    lines: list[OrderLine] = []
    # The distinct `catalogItemId`s of `lines` (Wix Stores product ids), for points rules' `when`: derived
    # from the one parse of the line items, and journaled as a field of its own, as before.
    productIds: list[str] = []


class CheckoutInfo(BaseModel):
    id: str
    total: Money | None = None
    productIds: list[str] = []


class MemberInfo(BaseModel):
    """A site member (`@wix/members` Member): its id, its contact's and its status."""

    id: str
    contactId: str | None = None
    status: str | None = None


class AccountTier(BaseModel):
    """The account's `tier` (`@wix/loyalty`): no `id` for the base tier; `points` over the rolling window."""

    id: str | None = None
    points: int | None = None


class AccountInfo(BaseModel):
    id: str
    contactId: str | None = None
    memberId: str | None = None
    balance: int | None = None
    revision: str | None = None
    transactionId: str | None = None
    transactionType: str | None = None
    transactionAmount: int | None = None
    transactionAppId: str | None = None
    transactionIdempotencyKey: str | None = None
    transactionDescription: str | None = None
    transactionCreatedDate: str | None = None
    tier: AccountTier | None = None  # None: the site has no ACTIVE tiers (Wix sends no `tier`)


class ContactInfo(BaseModel):
    """A Contacts v4 contact as the points sync maps it (wix-facts.md §4.4)."""

    id: str
    email: str | None = None
    revision: int | None = None


class ProgramInfo(BaseModel):
    name: str | None = None
    status: str | None = None
    pointsName: str | None = None


class NormalizedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: EventName
    instanceId: str
    eventId: str
    occurredAt: datetime
    contactId: str | None = None
    order: OrderInfo | None = None
    checkout: CheckoutInfo | None = None
    account: AccountInfo | None = None
    program: ProgramInfo | None = None
    contact: ContactInfo | None = None
    member: MemberInfo | None = None
    # order_fulfilled from `fulfillments_updated` carries no buyer: the Wix client looks the order up.
    needsOrderLookup: bool = False

    @property
    def product_ids(self) -> list[str]:
        """The products of the event's order or checkout (none for other events)."""
        entity = self.order or self.checkout
        return entity.productIds if entity is not None else []


def _loads_if_text(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidEvent(f"{where} is not valid JSON") from None
    return value


def _pick(container: Any, *names: str, where: str) -> dict[str, Any]:
    """The first of `names` present in `container`, parsed if it is a JSON string; {} if none is."""
    if not isinstance(container, dict):
        return {}
    for name in names:
        if container.get(name) is not None:
            value = _loads_if_text(container[name], f"{where}.{name}")
            if not isinstance(value, dict):
                raise InvalidEvent(f"{where}.{name} must be an object")
            return value
    return {}


def action_body(payload: dict[str, Any]) -> dict[str, Any]:
    return _pick(_pick(payload, "actionEvent", where="data"), "body", "bodyAsJson", where="actionEvent")


def current_entity(payload: dict[str, Any]) -> dict[str, Any]:
    updated = _pick(payload, "updatedEvent", where="data")
    if updated:
        return _pick(updated, "currentEntity", "currentEntityAsJson", where="updatedEvent")
    created = _pick(payload, "createdEvent", where="data")
    return _pick(created, "entity", "entityAsJson", where="createdEvent")


def _get(mapping: Any, *path: str) -> Any:
    value: Any = mapping
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _text(mapping: dict[str, Any], *path: str) -> str | None:
    value = _get(mapping, *path)
    return value if isinstance(value, str) and value else None


def _money(amount: Any, currency: str | None, where: str) -> Money | None:
    if amount is None:
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidEvent(f"{where} is not a decimal amount: {amount!r}") from None
    if not value.is_finite():
        raise InvalidEvent(f"{where} is not a finite amount")
    return Money(amount=value, currency=currency)


def _order(order: dict[str, Any], fallback_id: str | None) -> OrderInfo:
    order_id = _text(order, "id") or fallback_id
    if not order_id:
        raise InvalidEvent("the order has no id")
    lines = order_lines(order)
    return OrderInfo(
        id=order_id,
        number=str(order["number"]) if order.get("number") is not None else None,
        status=_text(order, "status"),
        paymentStatus=_text(order, "paymentStatus"),
        fulfillmentStatus=_text(order, "fulfillmentStatus"),
        total=_money(
            _get(order, "priceSummary", "total", "amount"),
            _text(order, "currency"),
            "order.priceSummary.total.amount",
        ),
        checkoutId=_text(order, "checkoutId"),
        couponCodes=coupon_codes(order),
        lines=lines,
        productIds=product_ids(lines),
    )


MAX_COUPONS = 10  # Wix applies one coupon to an order; a few more in a payload are read, not hundreds


def coupon_codes(order: dict[str, Any]) -> list[str]:
    """The coupon codes in an order's `appliedDiscounts` (wix-facts.md §3.1), in order, each once. A
    discount without a coupon (an automatic discount rule) or of another shape is passed over: the
    discounts never make the order itself unusable."""
    discounts = order.get("appliedDiscounts")
    codes: list[str] = []
    for discount in discounts[:MAX_COUPONS] if isinstance(discounts, list) else []:
        code = _text(discount, "coupon", "code") if isinstance(discount, dict) else None
        if code and code not in codes:
            codes.append(code)
    return codes


MAX_LINE_ITEMS = 300  # more than a cart holds; a payload's extra items are not read


def order_lines(entity: dict[str, Any]) -> list[OrderLine]:
    """An order's or checkout's line items, read once: each one's `catalogReference.catalogItemId` and
    total (`totalPriceAfterTax`, else `totalPriceBeforeTax`, else `price` x `quantity`); a line of
    another shape counts as no product."""
    items = entity.get("lineItems")
    lines: list[OrderLine] = []
    for item in items[:MAX_LINE_ITEMS] if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        amount = _get(item, "totalPriceAfterTax", "amount") or _get(item, "totalPriceBeforeTax", "amount")
        try:
            total = Decimal(str(amount)) if amount is not None else None
            if total is None and _get(item, "price", "amount") is not None:
                total = Decimal(str(_get(item, "price", "amount"))) * int(item.get("quantity") or 1)
        except (InvalidOperation, ValueError, TypeError):
            total = None
        lines.append(
            OrderLine(
                catalogItemId=_text(item, "catalogReference", "catalogItemId"),
                total=total if total is not None and total.is_finite() else None,
            )
        )
    return lines


def product_ids(lines: list[OrderLine]) -> list[str]:
    """The distinct catalog item ids of the line items, in order (points rules' `when.productIds`)."""
    return list(dict.fromkeys(line.catalogItemId for line in lines if line.catalogItemId))


def _occurred_at(payload: dict[str, Any], received_at: str | None) -> datetime:
    for candidate in (payload.get("eventTime"), received_at):
        if isinstance(candidate, str):
            try:
                moment = datetime.fromisoformat(candidate.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidEvent(f"eventTime is not an ISO-8601 time: {candidate!r}") from None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def normalize(
    *,
    event_type: str,
    instance_id: str,
    event_id: str,
    payload: dict[str, Any],
    our_app_id: str | None = None,
    received_at: str | None = None,
) -> NormalizedEvent:
    """The normalized event for one Wix webhook, `EventIgnored`, or `InvalidEvent`."""
    common: dict[str, Any] = {
        "instanceId": instance_id,
        "eventId": event_id,
        "occurredAt": _occurred_at(payload, received_at),
    }
    entity_id = _text(payload, "entityId")

    if event_type in (
        "wix.ecom.v1.order_approved",
        "wix.ecom.v1.order_payment_status_updated",
        "wix.ecom.v1.order_canceled",
    ):
        raw_order = _pick(action_body(payload), "order", where="actionEvent.body")
        order = _order(raw_order, entity_id)
        contact_id = _text(raw_order, "buyerInfo", "contactId")
        if event_type == "wix.ecom.v1.order_approved":
            return NormalizedEvent(name="order_approved", contactId=contact_id, order=order, **common)
        if event_type == "wix.ecom.v1.order_canceled":
            return NormalizedEvent(name="order_canceled", contactId=contact_id, order=order, **common)
        if order.paymentStatus == "FULLY_REFUNDED":
            return NormalizedEvent(name="order_refunded", contactId=contact_id, order=order, **common)
        if order.paymentStatus == "PARTIALLY_REFUNDED":  # docs/programs.md "Cancellations and refunds"
            raise EventIgnored("a partial refund takes nothing back; a full refund or a cancellation does")
        if order.paymentStatus != "PAID":
            raise EventIgnored(f"payment status is {order.paymentStatus or 'missing'}, not PAID")
        return NormalizedEvent(name="order_paid", contactId=contact_id, order=order, **common)

    if event_type == "wix.ecom.v1.fulfillments_updated":
        entity = current_entity(payload)
        order_id = _text(entity, "orderId") or entity_id
        if not order_id:
            raise InvalidEvent("the fulfillments update names no order")
        return NormalizedEvent(
            name="order_fulfilled", order=OrderInfo(id=order_id), needsOrderLookup=True, **common
        )

    if event_type == "wix.ecom.v1.checkout_completed":
        checkout = _pick(action_body(payload), "checkout", where="actionEvent.body")
        checkout_id = _text(checkout, "id") or entity_id
        if not checkout_id:
            raise InvalidEvent("the checkout has no id")
        total = _money(
            _get(checkout, "priceSummary", "total", "amount"),
            _text(checkout, "currency"),
            "checkout.priceSummary.total.amount",
        )
        return NormalizedEvent(
            name="checkout_completed",
            contactId=_text(checkout, "buyerInfo", "contactId"),
            checkout=CheckoutInfo(id=checkout_id, total=total, productIds=product_ids(order_lines(checkout))),
            **common,
        )

    if event_type == "wix.loyalty.v1.account_points_updated":
        account = _pick(action_body(payload), "account", where="actionEvent.body")
        account_id = _text(account, "id") or entity_id
        if not account_id:
            raise InvalidEvent("the loyalty account has no id")
        transaction = account.get("latestTransaction") or {}
        if our_app_id and transaction.get("appId") == our_app_id:
            raise EventIgnored("the points change is our own transaction (loop guard)")
        points = account.get("points") or {}
        info = AccountInfo(
            id=account_id,
            contactId=_text(account, "contactId"),
            memberId=_text(account, "memberId"),
            balance=points.get("balance"),
            revision=str(account["revision"]) if account.get("revision") is not None else None,
            transactionId=_text(transaction, "id"),
            transactionType=_text(transaction, "type"),
            transactionAmount=transaction.get("amount"),
            transactionAppId=_text(transaction, "appId"),
            transactionIdempotencyKey=_text(transaction, "idempotencyKey"),
            transactionDescription=_text(transaction, "description"),
            transactionCreatedDate=_text(transaction, "createdDate"),
            tier=_account_tier(account.get("tier")),
        )
        return NormalizedEvent(name="points_updated", contactId=info.contactId, account=info, **common)

    if event_type == "wix.loyalty.v1.program_updated":
        program = current_entity(payload)
        info_program = ProgramInfo(
            name=_text(program, "name"),
            status=_text(program, "status"),
            pointsName=_text(program, "pointDefinition", "customName"),
        )
        return NormalizedEvent(name="program_updated", program=info_program, **common)

    if event_type in CONTACT_EVENT_TYPES:
        return _contact_event(CONTACT_EVENT_TYPES[event_type], payload, entity_id, common)

    if event_type == "wix.members.v1.member_created":
        member = current_entity(payload)
        member_id = _text(member, "id") or entity_id
        if not member_id:
            raise InvalidEvent("the member has no id")
        info_member = MemberInfo(
            id=member_id, contactId=_text(member, "contactId"), status=_text(member, "status")
        )
        return NormalizedEvent(
            name="member_created", contactId=info_member.contactId, member=info_member, **common
        )

    if event_type == "AppInstalled":
        return NormalizedEvent(name="app_installed", **common)
    if event_type == "AppRemoved":
        return NormalizedEvent(name="app_removed", **common)

    raise EventIgnored(f"event type {event_type} is not one we handle")


CONTACT_EVENT_TYPES: dict[str, EventName] = {
    "wix.contacts.v4.contact_created": "contact_created",
    "wix.contacts.v4.contact_updated": "contact_updated",
    "wix.contacts.v4.contact_deleted": "contact_deleted",
}


def contact_email(contact: dict[str, Any]) -> str | None:
    """The contact's primary email: `primaryInfo.email`, else the primary (or first) of `info.emails`."""
    primary = _text(contact, "primaryInfo", "email")
    if primary:
        return primary
    items = _get(contact, "info", "emails", "items")
    emails = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    emails.sort(key=lambda item: item.get("primary") is not True)
    return next((_text(item, "email") for item in emails if _text(item, "email")), None)


def _contact_event(
    name: EventName, payload: dict[str, Any], entity_id: str | None, common: dict[str, Any]
) -> NormalizedEvent:
    """`contact_created|updated|deleted`: the contact's id, primary email and revision (for ordering)."""
    if name == "contact_deleted":
        deleted = _pick(payload, "deletedEvent", where="data")
        contact = _pick(deleted, "deletedEntity", "deletedEntityAsJson", where="deletedEvent")
    else:
        contact = current_entity(payload)
    contact_id = _text(contact, "id") or entity_id
    if not contact_id:
        raise InvalidEvent("the contact has no id")
    revision = contact.get("revision")
    info = ContactInfo(
        id=contact_id,
        email=contact_email(contact),
        revision=int(revision) if isinstance(revision, int | str) and str(revision).isdigit() else None,
    )
    return NormalizedEvent(name=name, contactId=contact_id, contact=info, **common)


def resolve_fulfilment(event: NormalizedEvent, order: dict[str, Any] | None) -> NormalizedEvent:
    """`order_fulfilled` once Wix's order (fetched: the fulfilment payload has no buyer) is FULFILLED.

    EventIgnored while it is only partly fulfilled; the rules' identifiers (from the order id) make
    several fulfilment webhooks for one order count once.
    """
    assert event.order is not None
    if order is None:
        raise InvalidEvent(f"Wix has no order {event.order.id}")
    status = _text(order, "fulfillmentStatus")
    if status != "FULFILLED":
        raise EventIgnored(
            f"order {event.order.id} is {status or 'without a fulfillment status'}, not FULFILLED"
        )
    return event.model_copy(
        update={
            "contactId": _text(order, "buyerInfo", "contactId"),
            "order": _order(order, event.order.id),
            "needsOrderLookup": False,
        }
    )


def _account_tier(value: Any) -> AccountTier | None:
    """The account's tier as Wix sends it, or None when it sends none (or not an object)."""
    if not isinstance(value, dict):
        return None
    points = value.get("points")
    return AccountTier(
        id=_text(value, "id"),
        points=points if isinstance(points, int) and not isinstance(points, bool) else None,
    )
