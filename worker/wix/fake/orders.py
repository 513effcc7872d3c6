"""eCommerce orders (wix-facts.md §3.1): `GET /ecom/v1/orders/{id}` → `{"order": {...}}`.

The fake creates no orders; tests and the demo seed them through `/_fake/instances/{id}/orders`
(built with `payloads.order_object`), and seeding the same id again replaces the order (to move it to
FULFILLED, say). An unknown id is a 404 `NOT_FOUND` (UNCONFIRMED code).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter

from worker.wix.fake.errors import not_found
from worker.wix.fake.oauth import CallerDep

router = APIRouter(tags=["orders"])


@router.get("/ecom/v1/orders/{order_id}")
async def get_order(order_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded order, or 404."""
    order = caller.instance.orders.get(order_id)
    if order is None:
        raise not_found("Order", order_id)
    return {"order": copy.deepcopy(order)}
