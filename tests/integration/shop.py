"""One shop in the fake Wix, shared by the tests that run the service against it: its instance and
program, the service's environment for it, and Wix's side of a sale (orders, checkouts, webhooks signed
with the fake's key). The fixtures `shop_env` and `shop_stack` (tests/integration/conftest.py) set it up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests import wix_samples
from worker.dev.programs import challenge, coupon, milestone, points, points_rule, program, rule
from worker.wix.webhook_signing import sign_webhook

if TYPE_CHECKING:
    from tests.integration.conftest import FakeWixProcess

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000e201"

PROGRAM: dict[str, Any] = program(
    challenges=[
        challenge(
            "spend-50",
            "Spend $50",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[
                milestone("fifty", "Fifty spent", 50, coupon("10% off", 10, valid_days=14)),
                milestone("hundred", "A hundred", 100, points(25)),
            ],
        )
    ],
    rules=[rule("order_paid", challenge="spend-50", value="order.total")],
    points_rules=[points_rule("checkout_completed", 1, per=10)],
)


def wix_env(fake_wix: FakeWixProcess, redis_url: str, **extra: str) -> dict[str, str]:
    """The service's environment, pointed at the fake Wix: a one-second call timeout, and a task of a
    killed worker back after 10 seconds (the shortest timeout; tasks still get 5 s, worker.retry_policy)."""
    return fake_wix.env(redis_url, **{"CELERY_VISIBILITY_TIMEOUT": "10", "WIX_TIMEOUT_SECONDS": "1", **extra})


def signing_key(fake_wix: FakeWixProcess):  # type: ignore[no-untyped-def]
    """The fake Wix's private key: what Wix signs webhooks with."""
    return load_pem_private_key(fake_wix.private_key.read_bytes(), password=None)


def paid_order(fake_wix: FakeWixProcess, total: str, contact: str) -> str:
    payload = wix_samples.payment_status_updated(event_id=str(uuid.uuid4()))
    payload["eventTime"] = datetime.now(UTC).isoformat()
    order = payload["actionEvent"]["body"]["order"]
    order["id"] = str(uuid.uuid4())
    order["buyerInfo"]["contactId"] = contact
    order["priceSummary"]["total"]["amount"] = total
    key = signing_key(fake_wix)
    return sign_webhook(key, "wix.ecom.v1.order_payment_status_updated", INSTANCE, payload)  # type: ignore[arg-type]


def post_paid_order(fake_wix: FakeWixProcess, base: str, total: str, contact: str) -> None:
    """Wix's webhook for a paid order, delivered to our receiver."""
    answer = httpx.post(f"{base}/webhooks/wix", content=paid_order(fake_wix, total, contact), timeout=5)
    assert answer.status_code == 200, answer.text


def collection(fake_wix: FakeWixProcess, name: str) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{INSTANCE}/{name}")[name])


def checkout(fake_wix: FakeWixProcess, checkout_id: str, contact: str, total: str) -> str:
    payload = wix_samples.checkout_completed(event_id=str(uuid.uuid4()))
    payload["eventTime"] = datetime.now(UTC).isoformat()
    body = payload["actionEvent"]["body"]["checkout"]
    body["id"] = checkout_id
    body["buyerInfo"]["contactId"] = contact
    body["priceSummary"]["total"]["amount"] = total
    key = signing_key(fake_wix)
    return sign_webhook(key, "wix.ecom.v1.checkout_completed", INSTANCE, payload)  # type: ignore[arg-type]


def paid_order_in_wix(fake_wix: FakeWixProcess, contact: str, total: str) -> dict[str, Any]:
    """A paid order as Wix keeps it (what its orders search finds), updated just now."""
    order = wix_samples.payment_status_updated()["actionEvent"]["body"]["order"]
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    order.update(id=str(uuid.uuid4()), createdDate=now, updatedDate=now, purchasedDate=now)
    order["buyerInfo"]["contactId"] = contact
    order["priceSummary"]["total"]["amount"] = total
    fake_wix.control("POST", f"instances/{INSTANCE}/orders", json=order)
    return order
