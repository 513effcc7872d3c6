"""Wix Stores products (Catalog v1): `GET /stores-reader/v1/products/{id}` → `{"product": {...}}`, as
`@wix/stores` `getProduct` serves it; the points rules' `when.collectionIds` read a product's
`collectionIds` from it.

Products are seeded through `POST /_fake/instances/{id}/products` (`{"id", "name", "collectionIds"}`,
all optional but `id`). The product object keeps the fields the service reads and a few of Wix's
(`id`, `name`, `slug`, `visible`, `productType: "physical"`, `collectionIds`); an unknown id is a 404
`NOT_FOUND`. UNCONFIRMED: every seeded product is also in the store's "All Products" collection
(`00000000-000000-000000-000000000001`, Wix's id for it), as Wix lists it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep, fake_of

router = APIRouter(tags=["stores"])
control_router = APIRouter(prefix="/_fake", tags=["fake controls"])

ALL_PRODUCTS = "00000000-000000-000000-000000000001"


def product_object(product_id: str, name: str, collection_ids: list[str]) -> dict[str, Any]:
    """A Catalog v1 product (see the module docstring)."""
    return {
        "id": product_id,
        "name": name,
        "slug": name.lower().replace(" ", "-"),
        "visible": True,
        "productType": "physical",
        "collectionIds": [ALL_PRODUCTS, *[c for c in collection_ids if c != ALL_PRODUCTS]],
    }


@router.get("/stores-reader/v1/products/{product_id}")
async def get_product(product_id: str, caller: CallerDep) -> dict[str, Any]:
    """The seeded product, or 404."""
    product = caller.instance.products.get(product_id)
    if product is None:
        raise not_found("Product", product_id)
    return {"product": copy.deepcopy(product)}


@control_router.post("/instances/{instance_id}/products")
async def seed_product(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"id", "name", "collectionIds"}` → the product as Wix serves it."""
    fake, body = fake_of(request), await json_object(request)
    product_id, name, collections = body.get("id"), body.get("name", "Product"), body.get("collectionIds", [])
    if not isinstance(product_id, str) or not product_id:
        raise invalid("id", "a non-empty string")
    if not isinstance(collections, list) or not all(isinstance(c, str) for c in collections):
        raise invalid("collectionIds", "a list of strings")
    product = product_object(product_id, str(name), collections)
    fake.instance(instance_id).products[product_id] = product
    return {"product": product}
