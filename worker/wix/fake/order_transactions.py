"""eCommerce order transactions (`@wix/auto_sdk_ecom_order-transactions`, `listTransactionsForSingleOrder`):
`GET /ecom/v1/payments/orders/{orderId}` → `{"orderTransactions": {"orderId", "payments": [...],
"refunds": [...]}}`, the payment in Wix's `Payment` shape (`id`, `createdDate`, `amount: {amount,
formattedAmount}`, `regularPaymentDetails: {paymentMethod, status, creditCardDetails: {lastFourDigits,
brand}, ...}`).

Tests seed an order's payments with `PUT /_fake/instances/{id}/orders/{orderId}/payments {"payments":
[...]}` (each as Wix shapes it; an `id` is added when missing). An order with none seeded answers an
empty list; an id that is neither a seeded order nor has seeded payments is a 404 `NOT_FOUND`
(UNCONFIRMED: Wix's code for an unknown order here).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.state import new_id

router = APIRouter(tags=["order transactions"])
control_router = APIRouter(prefix="/_fake", tags=["fake controls"])


@router.get("/ecom/v1/payments/orders/{order_id}")
async def list_transactions_for_single_order(order_id: str, caller: CallerDep) -> dict[str, Any]:
    instance = caller.instance
    payments = instance.order_payments.get(order_id)
    if payments is None and order_id not in instance.orders:
        raise not_found("Order", order_id)
    return {
        "orderTransactions": {"orderId": order_id, "payments": copy.deepcopy(payments or []), "refunds": []}
    }


@control_router.put("/instances/{instance_id}/orders/{order_id}/payments")
async def seed_payments(instance_id: str, order_id: str, request: Request) -> dict[str, Any]:
    """`{"payments": [...]}`: the order's payments from now on."""
    body = await json_object(request)
    payments = body.get("payments")
    if not isinstance(payments, list) or not all(isinstance(payment, dict) for payment in payments):
        raise invalid("payments", "a list of payment objects")
    seeded = [{"id": new_id(), **payment} for payment in payments]
    request.app.state.fake.instance(instance_id).order_payments[order_id] = seeded
    return {"payments": seeded}
