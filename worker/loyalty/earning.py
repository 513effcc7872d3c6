"""The facts an order's points rule conditions need, decided outside the pure rules
(worker/loyalty/points_rules.py), and the event's earns with them.

- First paid order: each paid order of a contact claims `keys.member_first_order` with SET NX, so of
  two orders delivered at once exactly one is first, and a redelivery of the first is first again. The
  claim is made for every paid order the worker sees while the site has a program (a cancellation does
  not claim), so an order paid before a `firstOrderOnly` rule was added still counts as the first
  (orders paid before the app was installed are not known).
- Collections: a product's `collectionIds` from Wix Stores (`WixClient.get_product`), kept
  `COLLECTIONS_TTL_SECONDS` in Redis, looked up only when a matching rule names `collectionIds`. A
  passing Wix failure fails the event's task (it is tried again); a refusal (no permission) leaves the
  collections unknown, so a `collectionIds` condition is not met.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from worker import keys
from worker.engine.program import Program
from worker.identifiers import identifier_problem
from worker.loyalty.points_rules import OrderFacts, PointsEarn, points_to_earn
from worker.wix.client import WixApiError, WixTransientError
from worker.wix.events import NormalizedEvent

logger = logging.getLogger(__name__)

COLLECTIONS_TTL_SECONDS = 300
MAX_PRODUCTS_LOOKED_UP = 50  # an order's distinct products whose collections are looked up

ProductLookup = Callable[[str, str], dict[str, Any] | None]
"""`(instance_id, product_id)` → the Wix Stores product, or None (WixClient.get_product)."""


def first_paid_order(client: redis.Redis, event: NormalizedEvent) -> bool | None:
    """Whether the event's order is its buyer's first paid order (claimed here if none is yet); None for
    an event without a paid order and a buyer."""
    order, contact_id = event.order, event.contactId
    if order is None or contact_id is None or identifier_problem(contact_id) is not None:
        return None
    if order.paymentStatus != "PAID":
        return False
    key = keys.member_first_order(event.instanceId, contact_id)
    if event.name == "order_canceled":  # a cancellation never claims: it only asks
        return bool(client.get(key) == order.id)
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, order.id, nx=True)
        pipe.get(key)
        _, holder = pipe.execute()
    return bool(holder == order.id)


def product_collections(
    client: redis.Redis, instance_id: str, product_ids: list[str], lookup: ProductLookup
) -> frozenset[str]:
    """The collections of the products (each product's cached a few minutes); a product Wix no longer
    has is in none. Wix errors propagate (the event task retries)."""
    found: set[str] = set()
    for product_id in product_ids[:MAX_PRODUCTS_LOOKED_UP]:
        if identifier_problem(product_id) is not None:
            continue
        key = keys.product_collections(instance_id, product_id)
        cached = client.get(key)
        if isinstance(cached, str):
            found.update(json.loads(cached))
            continue
        product = lookup(instance_id, product_id) or {}
        ids = [c for c in product.get("collectionIds") or [] if isinstance(c, str)]
        client.set(key, json.dumps(ids), ex=COLLECTIONS_TTL_SECONDS)
        found.update(ids)
    return frozenset(found)


def _needs_collections(event: NormalizedEvent, program: Program) -> bool:
    return any(
        rule.on == event.name and rule.when is not None and rule.when.collectionIds is not None
        for rule in program.pointsRules
    )


def event_earns(
    client: redis.Redis,
    event: NormalizedEvent,
    program: Program,
    product_lookup: ProductLookup | None = None,
) -> list[PointsEarn]:
    """The event's points rules' earns, their conditions decided with the facts above. Without a
    `product_lookup` (no Wix credentials) a `collectionIds` condition is not met."""
    collections = None
    products = event.product_ids
    if product_lookup is not None and products and _needs_collections(event, program):
        try:
            collections = product_collections(client, event.instanceId, products, product_lookup)
        except WixTransientError:
            raise  # the event task tries again
        except WixApiError as exc:  # e.g. the site has not granted Read Products: not met, said why
            logger.warning("could not read the order's product collections", extra={"error": str(exc)})
    facts = OrderFacts(first_order=first_paid_order(client, event), collection_ids=collections)
    return points_to_earn(event, program, facts)
