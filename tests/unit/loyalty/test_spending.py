"""Spending points (worker/loyalty/spending.py) with the real Wix client against the fake Wix in process:
the catalog at its cost, one coupon per request id whatever is lost on the way, a clear refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient

from worker import keys
from worker.loyalty.spending import LOCK_MARGIN_SECONDS, LOCK_TTL_SECONDS, RedeemRefused, redeem, spending
from worker.wix.client import DEFAULT_TIMEOUT, WixClient, WixOutOfTime, WixTransientError
from worker.wix.fake import create_app as create_fake_wix
from worker.wix.fake.state import FakeSettings, FakeWix

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

APP_ID = "7d3f0c52-0000-4000-8000-0000000000a1"
INSTANCE = "inst-spend"
CONTACT = "c-spend-1"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
REDEEM_PATH = "/loyalty-coupons/v1/coupons"

# A hook the transport consults before and after each call: `(request, answer | None)` → raise or pass.
Hook = Callable[[httpx.Request, "httpx.Response | None"], None]


@pytest.fixture(autouse=True)
def at_now() -> Iterator[None]:
    """The clock at NOW, ticking: the fake Wix stamps the coupons it makes with it, and a lost answer is
    looked for among coupons made since the redemption began (`now=NOW`), whatever today's date."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def fake_wix() -> FakeWix:
    return FakeWix(FakeSettings(app_id=APP_ID, app_secret="s"))


@pytest.fixture
def hooks() -> list[Hook]:
    return []


class Clock:
    """The seconds the Wix client and the redemption count (`monotonic`), passing only when they sleep or
    a test says a call took that long: slow calls cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wix(fake_wix: FakeWix, fake_store: Any, hooks: list[Hook], clock: Clock) -> Iterator[WixClient]:
    fake_app = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        for hook in hooks:
            hook(request, None)
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        response = httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
        for hook in hooks:
            hook(request, response)
        return response

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(
        http, fake_store, app_id=APP_ID, app_secret="s", sleep=clock.sleep, clock=clock.monotonic
    )
    yield client
    client.close()


def seed(fake_wix: FakeWix, balance: int = 500) -> dict[str, Any]:
    """A member's account with `balance` points and three rewards: 10% off for 100, free shipping for
    50, an inactive one; plus a checkout discount (not a coupon)."""
    from worker.wix.fake.loyalty_rewards import reward_object

    state = fake_wix.instance(INSTANCE)
    account = {
        "id": "acc-1",
        "contactId": CONTACT,
        "memberId": "m-1",
        "points": {"balance": balance, "earned": balance, "redeemed": 0, "adjusted": 0},
        "revision": "1",
    }
    state.accounts["acc-1"] = account
    for body in (
        {"id": "r-pct", "name": "10% off", "costInPoints": 100, "percentage": 10},
        {"id": "r-ship", "name": "Free shipping", "costInPoints": 50, "freeShipping": True},
        {"id": "r-off", "name": "Retired", "costInPoints": 10, "active": False},
        {"id": "r-chk", "name": "Checkout", "discountAmount": {"configsByTier": [{"costInPoints": 5}]}},
    ):
        state.loyalty_rewards[body["id"]] = reward_object(body, "2026-12-01T00:00:00.000Z")
    return account


def lose_first_redeem_answer(request: httpx.Request, answer: httpx.Response | None) -> None:
    """Wix redeems, then the answer is lost (once)."""
    if (
        answer is not None
        and request.url.path == REDEEM_PATH
        and not getattr(lose_first_redeem_answer, "done", 0)
    ):
        lose_first_redeem_answer.done = 1  # type: ignore[attr-defined]
        raise httpx.ReadTimeout("answer lost")


@pytest.fixture(autouse=True)
def _fresh_hook_state() -> None:
    lose_first_redeem_answer.done = 0  # type: ignore[attr-defined]


class TestCatalog:
    def test_lists_active_coupon_rewards_cheapest_first_with_balance(self, wix, fake_store, fake_wix) -> None:
        """Only active coupon rewards are on offer, at their cost; the balance comes with them."""
        seed(fake_wix)
        answer = spending(wix, fake_store, INSTANCE, CONTACT)
        assert [(r["id"], r["costInPoints"], r["summary"]) for r in answer["rewards"]] == [
            ("r-ship", 50, "Free shipping"),
            ("r-pct", 100, "10% off"),
        ]
        assert answer["balance"] == 500 and answer["coupons"] == []

    def test_the_catalog_is_kept_briefly(self, wix, fake_store, fake_wix, hooks) -> None:
        """A second look within the minute does not ask Wix for the catalog again."""
        seed(fake_wix)
        calls: list[str] = []
        hooks.append(lambda request, answer: calls.append(request.url.path) if answer is None else None)
        spending(wix, fake_store, INSTANCE, CONTACT)
        spending(wix, fake_store, INSTANCE, CONTACT)
        assert calls.count("/loyalty-rewards/v1/rewards") == 1

    def test_a_site_without_the_loyalty_app_has_nothing_to_spend_on(self, wix, fake_store, fake_wix) -> None:
        """Wix answers the catalog 404: no rewards, no error (the widget leaves the section out)."""
        seed(fake_wix)
        fake_wix.instance(INSTANCE).loyalty_app_installed = False
        assert spending(wix, fake_store, INSTANCE, CONTACT)["rewards"] == []


class TestRedeem:
    def test_redeems_once_per_request_id(self, wix, fake_store, fake_wix) -> None:
        """The first call spends the points and answers the code; the same request id again answers the
        same coupon and spends nothing more."""
        account = seed(fake_wix)
        first = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        again = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        assert first == again and first["balance"] == 400 and first["coupon"]["code"]
        assert account["points"]["balance"] == 400
        assert len(fake_wix.instance(INSTANCE).loyalty_coupons) == 1
        assert spending(wix, fake_store, INSTANCE, CONTACT)["coupons"][0]["code"] == first["coupon"]["code"]

    def test_a_new_request_id_redeems_again(self, wix, fake_store, fake_wix) -> None:
        """Two deliberate redemptions are two coupons."""
        seed(fake_wix)
        first = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        second = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000002", NOW)
        assert first["coupon"]["code"] != second["coupon"]["code"] and second["balance"] == 300

    def test_a_lost_answer_is_looked_up_not_redeemed_again(self, wix, fake_store, fake_wix, hooks) -> None:
        """Wix redeemed but its answer was lost: the coupon it made is answered, and only one exists."""
        account = seed(fake_wix)
        hooks.append(lose_first_redeem_answer)
        answer = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        [made] = fake_wix.instance(INSTANCE).loyalty_coupons.values()
        assert answer["coupon"]["code"] == made["couponReference"]["code"]
        assert account["points"]["balance"] == 400

    def test_a_retry_after_a_crash_answers_the_coupon_wix_made(
        self, wix, fake_store, fake_wix, hooks
    ) -> None:
        """Wix redeemed, then Wix could not be reached to look (as if we had crashed): the call fails; the
        widget's retry with the same request id answers that coupon and redeems nothing more."""
        account = seed(fake_wix)
        down = {"on": False}

        def outage(request: httpx.Request, answer: httpx.Response | None) -> None:
            if answer is None and down["on"]:
                raise httpx.ConnectError("down")
            if answer is not None and request.url.path == REDEEM_PATH:
                down["on"] = True
                raise httpx.ReadTimeout("answer lost")

        hooks.append(outage)
        with pytest.raises(WixTransientError):
            redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        hooks.clear()
        answer = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        [made] = fake_wix.instance(INSTANCE).loyalty_coupons.values()
        assert answer["coupon"]["code"] == made["couponReference"]["code"]
        assert account["points"]["balance"] == 400

    def test_too_few_points_is_a_clear_refusal(self, wix, fake_store, fake_wix) -> None:
        """A balance below the cost is a 409 `insufficient_points` naming both; nothing is spent."""
        account = seed(fake_wix, balance=60)
        with pytest.raises(RedeemRefused) as refused:
            redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        assert (refused.value.status, refused.value.code) == (409, "insufficient_points")
        assert refused.value.details == {"costInPoints": 100, "balance": 60}
        assert account["points"]["balance"] == 60 and not fake_wix.instance(INSTANCE).loyalty_coupons

    def test_wix_saying_not_enough_points_is_the_same_refusal(self, wix, fake_store, fake_wix, hooks) -> None:
        """Points spent elsewhere between our look and Wix's redeem: Wix's refusal is answered as
        `insufficient_points`, and a retry of that request is refused the same, not left pending."""
        account = seed(fake_wix)

        def spent_elsewhere(request: httpx.Request, answer: httpx.Response | None) -> None:
            if answer is None and request.url.path == REDEEM_PATH:
                account["points"]["balance"] = 20

        hooks.append(spent_elsewhere)
        with pytest.raises(RedeemRefused) as refused:
            redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        assert refused.value.code == "insufficient_points"
        assert not fake_wix.instance(INSTANCE).loyalty_coupons
        with pytest.raises(RedeemRefused):
            redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)

    def test_an_unknown_or_inactive_reward_is_404(self, wix, fake_store, fake_wix) -> None:
        """Only rewards on offer can be redeemed."""
        seed(fake_wix)
        for reward_id in ("r-none", "r-off", "r-chk"):
            with pytest.raises(RedeemRefused) as refused:
                redeem(wix, fake_store, INSTANCE, CONTACT, reward_id, "req-00000001", NOW)
            assert (refused.value.status, refused.value.code) == (404, "unknown_reward")

    def test_without_a_request_id_a_quick_repeat_is_the_same_redemption(
        self, wix, fake_store, fake_wix
    ) -> None:
        """A client that sends no request id still gets one coupon for a double submit."""
        seed(fake_wix)
        first = redeem(wix, fake_store, INSTANCE, CONTACT, "r-ship", None, NOW)
        assert redeem(wix, fake_store, INSTANCE, CONTACT, "r-ship", None, NOW) == first
        assert len(fake_wix.instance(INSTANCE).loyalty_coupons) == 1

    def test_the_members_lock_expires_should_a_redemption_die_holding_it(
        self, wix, fake_store, fake_wix, hooks
    ) -> None:
        """A redemption killed while Wix redeems never releases the member's lock; the lock carries an
        expiry, so the member's next redemptions answer `redeem_busy` for at most `LOCK_TTL_SECONDS`, not
        forever. A redemption that ends releases it at once."""
        seed(fake_wix)
        lock = keys.member_redeem_lock(INSTANCE, CONTACT)
        expiries: list[int] = []

        def look_at_the_lock(request: httpx.Request, answer: httpx.Response | None) -> None:
            if answer is None and request.url.path == REDEEM_PATH:
                expiries.append(fake_store.ttl(lock))

        hooks.append(look_at_the_lock)
        redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW)
        [expiry] = expiries
        assert 0 < expiry <= LOCK_TTL_SECONDS
        assert not fake_store.exists(lock)


# One request may take this long by its timeouts (pool, connect, write, read) before it fails.
LONGEST_REQUEST = (
    DEFAULT_TIMEOUT.pool + DEFAULT_TIMEOUT.connect + DEFAULT_TIMEOUT.write + DEFAULT_TIMEOUT.read
)  # type: ignore[operator]


class TestRedeemUnderTheLock:
    """The member's lock expires `LOCK_TTL_SECONDS` after it is taken; a redemption must be over by then,
    else a retry of the same request takes the lock and redeems a second time."""

    def test_a_slow_failing_wix_stops_the_redemption_before_the_lock_expires(
        self, wix, fake_store, fake_wix, hooks, clock
    ) -> None:
        """Every Wix call takes 20 s and the redeem cannot reach Wix: the tries in place and the redeem
        attempts would go on past the lock's expiry; they stop in time instead, nothing redeemed, and the
        widget's retry (Wix well again) redeems once."""
        account = seed(fake_wix)
        sent: list[tuple[str, float]] = []

        def slow_and_unreachable(request: httpx.Request, answer: httpx.Response | None) -> None:
            if answer is None:
                sent.append((request.url.path, clock.now))
                clock.sleep(20)
                if request.url.path == REDEEM_PATH:
                    raise httpx.ConnectTimeout("Wix cannot be reached")

        hooks.append(slow_and_unreachable)
        with pytest.raises(WixTransientError):
            redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW, sleep=clock.sleep)
        assert [path for path, _ in sent].count(REDEEM_PATH) >= 1
        # No request was sent that could still be running (by its timeouts) when the lock expires.
        assert all(start + LONGEST_REQUEST <= LOCK_TTL_SECONDS - LOCK_MARGIN_SECONDS for _, start in sent)
        assert clock.now < LOCK_TTL_SECONDS
        assert account["points"]["balance"] == 500 and not fake_wix.instance(INSTANCE).loyalty_coupons
        assert not fake_store.exists(keys.member_redeem_lock(INSTANCE, CONTACT))

        hooks.clear()
        answer = redeem(wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW, sleep=clock.sleep)
        assert answer["balance"] == 400 and len(fake_wix.instance(INSTANCE).loyalty_coupons) == 1

    def test_a_retry_after_the_lock_would_have_expired_redeems_nothing_more(
        self, wix, fake_store, fake_wix, hooks, clock
    ) -> None:
        """Wix is slow (30 s a call). Were the first redemption still at Wix when its lock expires, the
        widget's retry of the same request would take the lock and redeem too: two coupons, the points
        spent twice. The first stops before that (503), and the retries answer one coupon."""
        account = seed(fake_wix)
        lock = keys.member_redeem_lock(INSTANCE, CONTACT)
        retried: list[dict[str, Any] | Exception] = []
        retrying: list[bool] = []

        def widget_retry() -> dict[str, Any] | Exception:
            try:
                return redeem(
                    wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW, sleep=clock.sleep
                )
            except WixTransientError as exc:
                return exc

        def slow_wix(request: httpx.Request, answer: httpx.Response | None) -> None:
            if answer is not None or retrying:
                return  # the widget's retry meets a quick Wix
            clock.sleep(30)
            if clock.now >= LOCK_TTL_SECONDS:  # the first redemption is still at Wix: its lock expires
                fake_store.delete(lock)
                retrying.append(True)
                retried.append(widget_retry())

        hooks.append(slow_wix)
        try:
            first: dict[str, Any] | Exception = redeem(
                wix, fake_store, INSTANCE, CONTACT, "r-pct", "req-00000001", NOW, sleep=clock.sleep
            )
        except WixOutOfTime as exc:
            first = exc  # stopped before its lock expires: the widget tries again
        hooks.clear()
        again = widget_retry()
        answers = [a for a in (first, *retried, again) if isinstance(a, dict)]
        assert answers and len({a["coupon"]["code"] for a in answers}) == 1
        assert len(fake_wix.instance(INSTANCE).loyalty_coupons) == 1
        assert account["points"]["balance"] == 400
