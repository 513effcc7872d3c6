"""Shoppers spend points over real HTTP: uvicorn, real Redis, a real Celery worker and the fake Wix as a
process failing 30% of its calls at random (429, 500, or a timeout after doing the work).

`POST /widget/v1/redeem` redeems once per request id: a retry, a concurrent duplicate and a lost answer
all end with one coupon per request and the points spent once; too few points is a 409 with a code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.conftest import FakeWixProcess, service_stack, wait_for
from tests.integration.test_fault_storm import faults_seen, storm, storm_env

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000s701"
MEMBER, CONTACT = "a517751b-0000-4000-8000-0000000000s1", "88615e02-0000-4000-8000-0000000000s1"
START_BALANCE, COST, PRICEY = 1000, 100, 5000
SECRET = "integration-widget-secret-32-bytes-long"


@pytest.fixture(scope="module")
def shop(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The web process and a worker on the fake Wix; a member with 1,000 points, a reward for 100 and one
    for 5,000 in the site's catalog; the member's widget token headers."""
    fake_wix.control("POST", "reset")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 0})
    fake_wix.control("POST", f"instances/{INSTANCE}/members", json={"id": MEMBER, "contactId": CONTACT})
    app = fake_wix.app_headers(INSTANCE)
    account = httpx.post(
        f"{fake_wix.base_url}/loyalty-accounts/v1/accounts",
        json={"contactId": CONTACT},
        headers=app,
        timeout=5,
    ).json()["account"]
    earn = {"amount": START_BALANCE, "description": "seed", "appId": "seed", "idempotencyKey": "seed-1"}
    httpx.post(
        f"{fake_wix.base_url}/loyalty-accounts/v1/accounts/{account['id']}/earn-points",
        json=earn,
        headers=app,
        timeout=5,
    ).raise_for_status()
    for reward in (
        {"id": "r-10pct", "name": "10% off", "costInPoints": COST, "percentage": 10},
        {"id": "r-big", "name": "Big one", "costInPoints": PRICEY, "amount": 50},
    ):
        fake_wix.control("POST", f"instances/{INSTANCE}/loyalty-rewards", json=reward)
    env = storm_env(fake_wix, module_redis_url, WIDGET_TOKEN_SECRET=SECRET)
    with service_stack(env) as stack:
        token = fake_wix.control("POST", f"instances/{INSTANCE}/member-tokens", json={"memberId": MEMBER})
        session = httpx.post(
            f"{stack.base_url}/widget/v1/session",
            headers={"authorization": f"Bearer {token['token']}"},
            json={"accountId": INSTANCE},
            timeout=10,
        )
        assert session.status_code == 200, session.text
        yield stack.base_url, {"authorization": f"Bearer {session.json()['token']}"}
    fake_wix.control("DELETE", "faults")
    fake_wix.control("PATCH", "settings", json={"rateLimitPerMinute": 200})


def redeem(base: str, auth: dict[str, str], reward_id: str, request_id: str) -> httpx.Response:
    """POST /widget/v1/redeem as the widget does: the same request id again while the answer is a 5xx."""

    def answered() -> httpx.Response | None:
        body = {"rewardId": reward_id, "requestId": request_id}
        answer = httpx.post(f"{base}/widget/v1/redeem", json=body, headers=auth, timeout=30)
        return answer if answer.status_code < 500 else None

    answer: httpx.Response = wait_for(answered, 60, f"an answer to redemption {request_id}", interval=0.2)
    return answer


def loyalty_coupons(fake_wix: FakeWixProcess) -> list[dict[str, Any]]:
    return list(fake_wix.control("GET", f"instances/{INSTANCE}/loyaltyCoupons")["loyaltyCoupons"])


def test_redeeming_at_30_percent_faults_gives_one_coupon_per_request(shop, fake_wix: FakeWixProcess) -> None:
    """Six requests, each sent twice at once and once more afterwards, at 30% faults and with the first
    redeem's answer lost after Wix did it: six coupons, each request always answered its own; 600 points
    spent; too few points is a 409 `insufficient_points`."""
    base, auth = shop
    # The first redeem is done in Wix and its answer comes too late (the service waits 2 s), then the storm.
    late = {"count": 1, "delaySeconds": 4, "when": "after", "pathPrefix": "/loyalty-coupons/v1/coupons"}
    fake_wix.control("POST", "faults", json={**late, "method": "POST"})
    storm(fake_wix, seed=7)
    request_ids = [f"req-{uuid.uuid4()}" for _ in range(6)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        doubled = [pool.submit(redeem, base, auth, "r-10pct", rid) for rid in request_ids for _ in range(2)]
        answers = [future.result() for future in doubled]
    retried = [redeem(base, auth, "r-10pct", rid) for rid in request_ids]
    assert all(answer.status_code == 200 for answer in answers + retried), [a.text for a in answers]
    codes = [answer.json()["coupon"]["code"] for answer in answers]
    assert codes[0::2] == codes[1::2] == [answer.json()["coupon"]["code"] for answer in retried]
    assert len(set(codes)) == 6

    too_dear = redeem(base, auth, "r-big", f"req-{uuid.uuid4()}")
    assert too_dear.status_code == 409
    assert too_dear.json()["error"]["code"] == "insufficient_points"
    assert too_dear.json()["error"]["details"]["costInPoints"] == PRICEY

    assert sum(faults_seen(fake_wix).values()) >= 5  # the storm did hit these calls
    fake_wix.control("DELETE", "faults")
    made = loyalty_coupons(fake_wix)
    assert sorted(c["couponReference"]["code"] for c in made) == sorted(set(codes))
    [account] = fake_wix.control("GET", f"instances/{INSTANCE}/accounts")["accounts"]
    assert account["points"]["balance"] == START_BALANCE - 6 * COST
    listed = httpx.get(f"{base}/widget/v1/loyalty-rewards", headers=auth, timeout=10).json()
    assert sorted(c["code"] for c in listed["coupons"]) == sorted(set(codes))
    assert listed["balance"] == START_BALANCE - 6 * COST
