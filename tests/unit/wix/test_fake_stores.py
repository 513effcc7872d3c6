"""The fake Wix's Stores products (worker/wix/fake/stores.py) and what the points rules read of them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.wix.test_fake_wix import INSTANCE, auth, client, clock, fake  # noqa: F401  # fixtures
from worker.wix.fake.stores import ALL_PRODUCTS


def test_a_seeded_product_is_served_with_its_collections(client: TestClient) -> None:  # noqa: F811
    seeded = client.post(
        f"/_fake/instances/{INSTANCE}/products", json={"id": "p-1", "collectionIds": ["summer"]}
    )
    assert seeded.status_code == 200
    answer = client.get("/stores-reader/v1/products/p-1", headers=auth(client))
    assert answer.status_code == 200
    assert answer.json()["product"]["collectionIds"] == [ALL_PRODUCTS, "summer"]


def test_an_unknown_product_is_a_404_and_a_bad_seed_a_400(client: TestClient) -> None:  # noqa: F811
    assert client.get("/stores-reader/v1/products/nope", headers=auth(client)).status_code == 404
    bad = client.post(f"/_fake/instances/{INSTANCE}/products", json={"id": "p-2", "collectionIds": "summer"})
    assert bad.status_code == 400


def test_without_an_app_token_the_product_is_refused(client: TestClient) -> None:  # noqa: F811
    assert client.get("/stores-reader/v1/products/p-1").status_code in (401, 403)
