"""The analytics API through the real stack: uvicorn, real Redis, a Celery worker and the fake Wix.

A scripted story: member A pays 60 (a coupon milestone) and Wix delivers that webhook twice; the fake Wix
refuses the next coupon, so member B's reward fails; A pays 20 with the coupon (redeemed). The API then
answers exactly the counts the story makes, counted independently here, and the CSV has one row a day.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.integration.conftest import ADMIN, FakeWixProcess, service_stack, wait_for
from tests.integration.shop import INSTANCE, paid_order, signing_key
from worker.store.journal import EventJournal
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, build_payload
from worker.wix.webhook_signing import sign_webhook

PAID = "wix.ecom.v1.order_payment_status_updated"


def deliver(base: str, token: str) -> None:
    answer = httpx.post(f"{base}/webhooks/wix", content=token, timeout=5)
    assert answer.status_code == 200, answer.text


def reward_status(store: ProgressStore, contact: str, wanted: str) -> dict[str, Any]:
    """The member's one reward log, once it has the `wanted` status (waited for)."""

    def reached() -> dict[str, Any] | None:
        logs = store.member_reward_logs(INSTANCE, contact)
        return logs[0] if logs and logs[0]["status"] == wanted else None

    return wait_for(reached, 20, f"the reward of {contact} to be {wanted}")  # type: ignore[no-any-return]


def order_using(fake_wix: FakeWixProcess, contact: str, code: str, total: str) -> tuple[str, str]:
    """A signed webhook for a paid order that used `code`; and its event id."""
    event_id = str(uuid.uuid4())
    options = EventOptions(
        event_id=event_id,
        order_id=str(uuid.uuid4()),
        contact_id=contact,
        total=total,
        coupon_code=code,
        event_time=datetime.now(UTC).timestamp(),  # after the member's first order
    )
    payload = build_payload(PAID, options)
    return sign_webhook(signing_key(fake_wix), PAID, INSTANCE, payload), payload["id"]  # type: ignore[arg-type]


def processed_events(real_redis: Any) -> int:
    return sum(
        1
        for key in real_redis.scan_iter(match=f"wrw:journal:{INSTANCE}:*")
        if real_redis.hget(key, "status") == "processed"
    )


def test_the_api_answers_exactly_the_story_s_counts(
    fake_wix: FakeWixProcess, shop_env: dict[str, str], real_redis: Any
) -> None:
    a, b = f"contact-{uuid.uuid4()}", f"contact-{uuid.uuid4()}"
    store = ProgressStore(real_redis)
    with service_stack(shop_env, workers=1) as stack:
        base = stack.base_url
        first = paid_order(fake_wix, "60.00", a)
        deliver(base, first)
        deliver(base, first)  # Wix delivers it again
        coupon = reward_status(store, a, "issued")

        fake_wix.control(
            "POST",
            "faults",
            json={"status": 400, "count": 1, "pathPrefix": "/stores/v2/coupons", "method": "POST"},
        )
        deliver(base, paid_order(fake_wix, "55.00", b))
        reward_status(store, b, "failed")

        token, event_id = order_using(fake_wix, a, coupon["couponCode"], "20.00")
        deliver(base, token)
        wait_for(
            lambda: (
                (EventJournal(real_redis, 3600).get(INSTANCE, event_id) or {}).get("status") == "processed"
            ),
            20,
            "the redeeming order to be processed",
        )
        reward_status(store, a, "redeemed")
        assert processed_events(real_redis) == 3  # what the journal says, independently of the counts

        answer = httpx.get(
            f"{base}/admin/v1/instances/{INSTANCE}/analytics", params={"days": 7}, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        totals = body["totals"]
        assert (totals["events"], totals["orders"], totals["logs"], totals["members"]) == (3, 3, 3, 2)
        assert totals["milestones"] == 2
        rewards = {k: v for k, v in totals["rewardLogs"].items() if k != "byKind"}
        assert rewards == {"created": 2, "issued": 1, "redeemed": 1, "expired": 0, "failed": 1}
        assert totals["rewardLogs"]["byKind"]["coupon"]["failed"] == 1
        assert totals["redemptionRate"] == 1.0
        # A's second order came while A's challenge window was open with A's logs in it: engaged.
        assert totals["revenue"] == {
            "currency": "USD",
            "redeemed": "20.00",
            "engaged": "20.00",
            "byCurrency": {"USD": {"redeemed": "20.00", "engaged": "20.00"}},
        }
        assert body["funnel"] == {"logged": 2, "milestone": 2, "issued": 1, "redeemed": 1}
        [item] = body["byItem"]
        assert (item["id"], item["logs"], item["members"], item["milestones"]) == ("spend-50", 3, 2, 2)
        assert item["rewardLogs"]["redeemed"] == 1
        assert sum(day["events"] for day in body["series"]) == 3

        exported = httpx.get(
            f"{base}/admin/v1/instances/{INSTANCE}/analytics.csv", params={"days": 30}, headers=ADMIN
        )
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == 30
        assert sum(int(row["orders"]) for row in rows) == 3
        assert sum(int(row["rewardLogsFailed"]) for row in rows) == 1

        wrong = httpx.get(
            f"{base}/admin/v1/instances/{INSTANCE}/analytics", params={"days": 8}, headers=ADMIN
        )
        assert wrong.status_code == 422
        assert "7, 30, 90" in wrong.json()["error"]["message"]
        not_a_number = httpx.get(
            f"{base}/admin/v1/instances/{INSTANCE}/analytics", params={"days": "week"}, headers=ADMIN
        )
        assert not_a_number.status_code == 422
        assert httpx.get(f"{base}/admin/v1/instances/{INSTANCE}/analytics").status_code == 401
