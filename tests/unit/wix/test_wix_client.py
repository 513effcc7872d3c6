"""The Wix client over `httpx.MockTransport` and fakeredis: tokens, the rate limit, errors, request shapes."""

from __future__ import annotations

import json
import logging
import pickle
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from worker import keys
from worker.wix.client import (
    DEFAULT_TIMEOUT,
    WixApiError,
    WixClient,
    WixOutOfTime,
    WixRateLimited,
    WixTransientError,
    backoff_delay,
    parse_retry_after,
    retry_in_place,
    safe_to_repeat,
)
from worker.wix.rate_limit import WINDOW_SECONDS, RateLimiter
from worker.wix.token_cache import AccessToken, TokenCache, TokenLockTimeout

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "app-secret-SENSITIVE-1"
INSTANCE = "inst-a"
OTHER_INSTANCE = "inst-b"
SENSITIVE = "SENSITIVE"  # in every secret and every token below; must appear nowhere else

Answer = httpx.Response | Exception


class ScriptedWix:
    """A Wix behind `httpx.MockTransport`: a new token per token request, queued answers per call."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.queued: dict[str, list[Answer]] = {}

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.queued.setdefault(f"{method} {path}", []).extend(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.queued.get(f"{request.method} {request.url.path}")
        if queue:
            answer = queue.pop(0)
        elif request.url.path == "/oauth2/token":
            self.tokens_issued += 1
            token = f"token-{SENSITIVE}-{self.tokens_issued}"
            answer = httpx.Response(
                200, json={"access_token": token, "token_type": "Bearer", "expires_in": 14400}
            )
        else:
            answer = httpx.Response(200, json={"contact": {"id": "c1"}})
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


def wix_error(status: int, code: str, request_id: str = "req-123", message: str = "") -> httpx.Response:
    body = {
        "message": message,
        "details": {"applicationError": {"code": code, "description": "what went wrong"}},
    }
    return httpx.Response(status, json=body, headers={"x-wix-request-id": request_id})


@pytest.fixture
def wix() -> ScriptedWix:
    return ScriptedWix()


@pytest.fixture
def make_client(wix, fake_store) -> Iterator[Callable[..., WixClient]]:  # type: ignore[no-untyped-def]
    clients: list[WixClient] = []

    def make(**options) -> WixClient:  # type: ignore[no-untyped-def]
        options.setdefault("sleep", lambda _: None)  # waits between tries in place take no time here
        http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(wix.handle))
        clients.append(WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET, **options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> WixClient:  # type: ignore[no-untyped-def]
    """One try per call: how each failure is classified (tries in place: `TestRetryInPlace`)."""
    return make_client(attempts=1)


class TestToken:
    def test_one_token_serves_two_clients_sharing_redis(self, wix, make_client) -> None:
        """Two clients (two workers) on one Redis fetch one token and both send it bare."""
        make_client().get_contact(INSTANCE, "c1")
        make_client().get_contact(INSTANCE, "c2")
        assert wix.tokens_issued == 1
        sent = [
            request.headers["authorization"] for request in wix.requests if "contacts" in request.url.path
        ]
        assert sent == [f"token-{SENSITIVE}-1"] * 2  # no "Bearer ": Wix's SDK sends the raw token

    def test_the_token_request_is_client_credentials_for_the_instance(self, wix, client) -> None:
        """`POST /oauth2/token` carries the app id, the app secret and the instance id, and no token."""
        client.get_contact(INSTANCE, "c1")
        (request,) = wix.calls("/oauth2/token")
        assert json.loads(request.content) == {
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "instance_id": INSTANCE,
        }
        assert "authorization" not in request.headers

    def test_each_instance_has_its_own_token(self, wix, client) -> None:
        """Tokens are per instance: a second instance fetches its own."""
        client.get_contact(INSTANCE, "c1")
        client.get_contact(OTHER_INSTANCE, "c1")
        assert wix.tokens_issued == 2

    def test_the_cache_lapses_before_the_token_does(self, wix, client, fake_store) -> None:
        """The cached token lives 4 h less a 5-minute margin; once it lapses a new one is fetched."""
        client.get_contact(INSTANCE, "c1")
        assert 14400 - 300 - 5 <= fake_store.ttl(keys.wix_token(INSTANCE)) <= 14400 - 300
        fake_store.delete(keys.wix_token(INSTANCE))  # what the TTL does 3 h 55 min later
        client.get_contact(INSTANCE, "c1")
        assert wix.tokens_issued == 2

    def test_a_401_fetches_a_new_token_and_retries_once(self, wix, client) -> None:
        """Wix refuses the token once: the token is dropped, a new one fetched, the call made again."""
        wix.on(
            "GET",
            "/contacts/v4/contacts/c1",
            httpx.Response(401),
            httpx.Response(200, json={"contact": {"id": "c1"}}),
        )
        assert client.get_contact(INSTANCE, "c1") == {"id": "c1"}
        assert wix.tokens_issued == 2
        sent = [request.headers["authorization"] for request in wix.calls("/contacts/v4/contacts/c1")]
        assert sent == [f"token-{SENSITIVE}-1", f"token-{SENSITIVE}-2"]

    def test_a_second_401_is_a_permanent_error(self, wix, client) -> None:
        """A fresh token refused too: `WixApiError` 401 after exactly two attempts."""
        wix.on(
            "GET",
            "/contacts/v4/contacts/c1",
            wix_error(401, "UNAUTHENTICATED"),
            wix_error(401, "UNAUTHENTICATED"),
        )
        with pytest.raises(WixApiError) as caught:
            client.get_contact(INSTANCE, "c1")
        assert caught.value.status == 401
        assert len(wix.calls("/contacts/v4/contacts/c1")) == 2
        assert wix.tokens_issued == 2

    def test_a_refused_token_already_replaced_is_kept(self, fake_store) -> None:
        """Dropping a stale token leaves the fresh one another worker stored."""
        cache = TokenCache(fake_store)
        fake_store.set(keys.wix_token(INSTANCE), "fresh")
        cache.drop(INSTANCE, "stale")
        assert cache.cached(INSTANCE) == "fresh"
        cache.drop(INSTANCE, "fresh")
        assert cache.cached(INSTANCE) is None

    def test_a_waiting_worker_takes_the_token_the_lock_holder_stored(self, fake_store) -> None:
        """While another worker holds the lock, this one polls the cache and never fetches."""
        fake_store.set(keys.wix_token_lock(INSTANCE), "another-worker", px=10_000)

        def meanwhile_the_holder_stores_it(_: float) -> None:
            fake_store.set(keys.wix_token(INSTANCE), "theirs")

        cache = TokenCache(fake_store, sleep=meanwhile_the_holder_stores_it)
        assert cache.get(INSTANCE, lambda: pytest.fail("fetched despite the lock")) == "theirs"

    def test_a_lock_held_too_long_is_a_transient_error(self, fake_store, make_client) -> None:
        """No token after the lock's lifetime: the call fails for now, to be retried."""
        fake_store.set(keys.wix_token_lock(INSTANCE), "another-worker", px=10_000)
        now = [0.0]

        def tick(seconds: float) -> None:
            now[0] += seconds

        cache = TokenCache(fake_store, lock_seconds=1.0, poll_seconds=0.25, sleep=tick, clock=lambda: now[0])
        with pytest.raises(TokenLockTimeout):
            cache.get(INSTANCE, lambda: AccessToken("never"))
        with pytest.raises(WixTransientError):
            make_client(tokens=cache).get_contact(INSTANCE, "c1")

    def test_the_lock_is_released_after_a_fetch(self, wix, client, fake_store) -> None:
        """The fetching worker deletes its lock, so the next fetch need not wait for it to lapse."""
        client.get_contact(INSTANCE, "c1")
        assert fake_store.exists(keys.wix_token_lock(INSTANCE)) == 0


class TestErrors:
    def test_429_with_retry_after_is_transient(self, wix, client) -> None:
        """429 is `WixTransientError` carrying the `Retry-After` seconds; the suggested delay honours it."""
        wix.on("GET", "/ecom/v1/orders/o1", httpx.Response(429, headers={"Retry-After": "7"}))
        with pytest.raises(WixTransientError) as caught:
            client.get_order(INSTANCE, "o1")
        assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
        assert caught.value.suggested_delay(0) >= 7.0
        assert len(wix.calls("/ecom/v1/orders/o1")) == 1

    def test_retry_after_as_an_http_date(self) -> None:
        """`Retry-After` given as a date becomes the seconds until then."""
        now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
        assert parse_retry_after("soon", now=now) is None

    @pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
    def test_server_errors_are_transient(self, wix, client, status: int) -> None:
        """5xx (and 408) are `WixTransientError` with the status and Wix's request id, tried once."""
        wix.on("GET", "/ecom/v1/orders/o1", httpx.Response(status, headers={"x-wix-request-id": "req-5"}))
        with pytest.raises(WixTransientError) as caught:
            client.get_order(INSTANCE, "o1")
        assert (caught.value.status, caught.value.request_id, caught.value.retry_after) == (
            status,
            "req-5",
            None,
        )
        assert len(wix.calls("/ecom/v1/orders/o1")) == 1

    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ReadTimeout("read timed out"),
            httpx.ConnectTimeout("timed out"),
            httpx.ConnectError("refused"),
        ],
    )
    def test_timeouts_and_network_errors_are_transient(self, wix, client, failure: Exception) -> None:
        """A timeout or a connection failure is `WixTransientError`."""
        wix.on("GET", "/ecom/v1/orders/o1", failure)
        with pytest.raises(WixTransientError) as caught:
            client.get_order(INSTANCE, "o1")
        assert caught.value.status is None

    def test_a_404_with_an_application_error_is_permanent(self, wix, client) -> None:
        """A 4xx is `WixApiError` with Wix's applicationError code, description and request id."""
        wix.on(
            "POST",
            "/loyalty-accounts/v1/accounts",
            wix_error(404, "CONTACT_NOT_FOUND", "req-404", "no contact"),
        )
        with pytest.raises(WixApiError) as caught:
            client.create_loyalty_account(INSTANCE, "c-missing")
        error = caught.value
        assert (error.status, error.code, error.description, error.request_id) == (
            404, "CONTACT_NOT_FOUND", "what went wrong", "req-404",
        )  # fmt: skip
        assert "CONTACT_NOT_FOUND" in str(error) and "req-404" in str(error)

    def test_a_conflict_is_permanent_and_not_retried(self, wix, client) -> None:
        """A stale revision (409) is `WixApiError` after one request."""
        path = "/loyalty-accounts/v1/accounts/acc-1/adjust-points"
        wix.on("POST", path, wix_error(409, "REVISION_MISMATCH"))
        with pytest.raises(WixApiError) as caught:
            client.adjust_points(INSTANCE, "acc-1", revision="3", amount=-5)
        assert caught.value.status == 409
        assert len(wix.calls(path)) == 1

    def test_getting_something_absent_answers_none(self, wix, client) -> None:
        """A 404 on a get is None, not an error."""
        wix.on("GET", "/ecom/v1/orders/o-gone", wix_error(404, "ORDER_NOT_FOUND"))
        assert client.get_order(INSTANCE, "o-gone") is None

    def test_an_unreadable_success_is_transient(self, wix, client) -> None:
        """A 200 that is not a JSON object (a proxy's page, say) is worth another try."""
        wix.on("GET", "/ecom/v1/orders/o1", httpx.Response(200, text="<html>gateway</html>"))
        with pytest.raises(WixTransientError):
            client.get_order(INSTANCE, "o1")

    def test_errors_survive_pickling(self) -> None:
        """Celery serialises exceptions: the fields come back."""

        def round_trip(error: Exception) -> Any:
            return pickle.loads(pickle.dumps(error))  # noqa: S301  # our own bytes, made a line above

        transient = round_trip(WixTransientError("x", status=429, retry_after=3.0, request_id="r"))
        assert (str(transient), transient.status, transient.retry_after, transient.request_id) == (
            "x",
            429,
            3.0,
            "r",
        )
        permanent = round_trip(WixApiError("y", status=404, code="C", request_id="r"))
        assert (str(permanent), permanent.status, permanent.code) == ("y", 404, "C")
        limited = round_trip(WixRateLimited("z", retry_after=12.5))
        assert isinstance(limited, WixTransientError) and limited.retry_after == 12.5

    def test_the_suggested_delay_grows_with_jitter_within_a_cap(self) -> None:
        """Backoff doubles per retry, is jittered within its upper half, and never passes the cap."""
        for retries in range(6):
            delay = backoff_delay(retries, base=2.0, cap=600.0)
            assert 2.0 * 2**retries / 2 <= delay <= 2.0 * 2**retries
        assert backoff_delay(20, cap=600.0) <= 600.0
        assert backoff_delay(0, at_least=30.0) == 30.0
        assert backoff_delay(0, cap=60.0, at_least=3600.0) == 60.0  # a huge Retry-After still fits the cap


class TestRetryInPlace:
    ORDER = "/ecom/v1/orders/o1"
    ACCOUNTS = "/loyalty-accounts/v1/accounts"

    @pytest.fixture
    def slept(self) -> list[float]:
        return []

    @pytest.fixture
    def retrying(self, make_client, slept) -> WixClient:  # type: ignore[no-untyped-def]
        return make_client(sleep=slept.append)

    def order(self) -> httpx.Response:
        return httpx.Response(200, json={"order": {"id": "o1"}})

    @pytest.mark.parametrize(
        "failure",
        [
            httpx.Response(429),
            httpx.Response(500),
            httpx.Response(503),
            httpx.ReadTimeout("read timed out"),
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.ConnectError("refused"),
        ],
    )
    def test_a_passing_failure_is_tried_again_in_place(self, wix, retrying, slept, failure: Answer) -> None:
        """429, 5xx, a timeout, a dropped or refused connection: the call is made again after a short
        jittered wait and answers normally."""
        wix.on("GET", self.ORDER, failure, failure, self.order())
        assert retrying.get_order(INSTANCE, "o1") == {"id": "o1"}
        assert len(wix.calls(self.ORDER)) == 3
        assert len(slept) == 2 and 0.05 <= slept[0] <= 0.1 and 0.1 <= slept[1] <= 0.2  # 20 s / 200

    def test_it_gives_up_after_four_tries(self, wix, retrying, slept) -> None:
        """Four failures in a row: the last one is raised, to be retried later by the task or job."""
        wix.on("GET", self.ORDER, *[httpx.Response(500)] * 5)
        with pytest.raises(WixTransientError) as caught:
            retrying.get_order(INSTANCE, "o1")
        assert caught.value.status == 500 and caught.value.maybe_done
        assert len(wix.calls(self.ORDER)) == 4 and len(slept) == 3

    def test_retry_after_is_honoured_within_the_budget(self, wix, make_client, slept) -> None:
        """A Retry-After of 3 s is waited in place; one past the budget goes to the caller at once."""
        client = make_client(sleep=slept.append, retry_wait_budget=5.0)
        wix.on("GET", self.ORDER, httpx.Response(429, headers={"Retry-After": "3"}), self.order())
        assert client.get_order(INSTANCE, "o1") == {"id": "o1"}
        assert slept == [3.0]
        wix.on("GET", self.ORDER, httpx.Response(429, headers={"Retry-After": "30"}), self.order())
        with pytest.raises(WixTransientError) as caught:
            client.get_order(INSTANCE, "o1")
        assert caught.value.retry_after == 30.0 and slept == [3.0]

    def test_every_try_takes_a_slot_of_the_shared_limit(self, wix, make_client, fake_store) -> None:
        """Tries in place count against the instance's budget like any call."""
        client = make_client(limiter=RateLimiter(fake_store, limit=3))
        wix.on("GET", self.ORDER, httpx.Response(500), httpx.Response(500), self.order())
        with pytest.raises(WixRateLimited):
            client.get_order(INSTANCE, "o1")  # the token, two tries: the third finds the budget spent
        assert len(wix.calls(self.ORDER)) == 2

    @pytest.mark.parametrize("failure", [httpx.Response(500), httpx.ReadTimeout("lost")])
    def test_a_create_that_may_have_happened_is_not_sent_again(self, wix, retrying, failure: Answer) -> None:
        """After a 5xx or a lost answer an account creation goes to its caller, who looks first."""
        wix.on("POST", self.ACCOUNTS, failure, httpx.Response(200, json={"account": {"id": "a"}}))
        with pytest.raises(WixTransientError) as caught:
            retrying.create_loyalty_account(INSTANCE, "c1")
        assert caught.value.maybe_done
        assert len(wix.calls(self.ACCOUNTS)) == 1

    @pytest.mark.parametrize("failure", [httpx.Response(429), httpx.ConnectError("refused")])
    def test_a_create_wix_did_not_do_is_sent_again(self, wix, retrying, failure: Answer) -> None:
        """A 429 or a refused connection did nothing: the creation is made again in place."""
        wix.on("POST", self.ACCOUNTS, failure, httpx.Response(200, json={"account": {"id": "a"}}))
        assert retrying.create_loyalty_account(INSTANCE, "c1") == {"id": "a"}
        assert len(wix.calls(self.ACCOUNTS)) == 2

    def test_a_lost_earn_is_sent_again_with_its_idempotency_key(self, wix, retrying) -> None:
        """Earn-points carries Wix's idempotency key, so a lost answer is simply asked again."""
        path = "/loyalty-accounts/v1/accounts/a1/earn-points"
        wix.on("POST", path, httpx.ReadTimeout("lost"), httpx.Response(200, json={"account": {"id": "a1"}}))
        retrying.earn_points(INSTANCE, "a1", 5, "reward", "rl_1")
        keys = [json.loads(request.content)["idempotencyKey"] for request in wix.calls(path)]
        assert keys == ["rl_1", "rl_1"]

    def test_a_failed_token_request_is_tried_again(self, wix, retrying) -> None:
        """OAuth fails for now too: the token is asked again and the call goes."""
        wix.on("POST", "/oauth2/token", httpx.Response(503), httpx.ReadTimeout("lost"))
        assert retrying.get_contact(INSTANCE, "c1") == {"id": "c1"}
        assert len(wix.calls("/oauth2/token")) == 3 and len(wix.calls("/contacts/v4/contacts/c1")) == 1

    def test_which_calls_are_safe_to_repeat(self) -> None:
        """Reads, queries, idempotency keys, revisions and set-a-state calls; not creations or sends."""
        assert safe_to_repeat("GET", "/ecom/v1/orders/o1")
        assert safe_to_repeat("POST", "/loyalty-accounts/v1/accounts/query", {"query": {}})
        assert safe_to_repeat("POST", "/ecom/v1/orders/search", {"search": {}})
        assert safe_to_repeat("POST", "/x/earn-points", {"idempotencyKey": "k"})
        assert safe_to_repeat("POST", "/automations/v1/events/report", {"idempotency": {"key": "k"}})
        assert safe_to_repeat("POST", "/x/adjust-points", {"revision": "3", "amount": -1})
        assert safe_to_repeat("POST", "/inbox/v2/conversations", {"participantId": {}})
        assert not safe_to_repeat("POST", "/loyalty-accounts/v1/accounts", {"contactId": "c"})
        assert not safe_to_repeat("POST", "/stores/v2/coupons", {"specification": {}})
        assert not safe_to_repeat("POST", "/inbox/v2/messages", {"message": {}})


class TestWithin:
    """A client bound to a deadline (`within`) starts no request that its timeouts could carry past it."""

    ORDER = "/ecom/v1/orders/o1"
    LONGEST = 5.0 + 5.0 + 10.0 + 15.0  # DEFAULT_TIMEOUT: pool, connect, write, read

    @pytest.fixture
    def now(self) -> list[float]:
        return [0.0]

    @pytest.fixture
    def timed(self, make_client, now) -> WixClient:  # type: ignore[no-untyped-def]
        def sleep(seconds: float) -> None:
            now[0] += seconds

        return make_client(sleep=sleep, clock=lambda: now[0])

    def test_a_request_that_cannot_end_in_time_is_not_sent(self, wix, timed, now) -> None:
        """Within the deadline less one request's timeouts the call goes; past that it is not sent."""
        bounded = timed.within(60)
        now[0] = 60 - self.LONGEST
        wix.on("GET", self.ORDER, *[httpx.Response(200, json={"order": {"id": "o1"}})] * 2)
        assert bounded.get_order(INSTANCE, "o1") == {"id": "o1"}
        now[0] += 0.5
        with pytest.raises(WixOutOfTime) as caught:
            bounded.get_order(INSTANCE, "o1")
        assert not caught.value.maybe_done and len(wix.calls(self.ORDER)) == 1
        assert timed.get_order(INSTANCE, "o1") == {"id": "o1"}  # the client it came from has no deadline

    def test_no_try_in_place_runs_past_the_deadline(self, wix, timed, now) -> None:
        """A failure for now is tried again only while the next try can still end in time."""
        bounded = timed.within(self.LONGEST + 0.01)  # room for one try, not for a wait and another
        wix.on("GET", self.ORDER, httpx.Response(503), httpx.Response(200, json={"order": {"id": "o1"}}))
        with pytest.raises(WixTransientError) as caught:
            bounded.get_order(INSTANCE, "o1")
        assert caught.value.status == 503 and len(wix.calls(self.ORDER)) == 1

    def test_the_wait_for_another_workers_token_ends_in_time(self, wix, make_client, fake_store, now) -> None:
        """Another worker holds the token lock (its fetch hangs): a bounded client waits for the token only
        while the call it is for could still end by the deadline, then gives up unsent; an unbounded one
        waits out the lock's 15 s."""

        def sleep(seconds: float) -> None:
            now[0] += seconds

        cache = TokenCache(fake_store, sleep=sleep, clock=lambda: now[0])
        timed = make_client(tokens=cache, sleep=sleep, clock=lambda: now[0])
        fake_store.set(keys.wix_token_lock(INSTANCE), "another-worker", px=600_000)
        bounded = timed.within(self.LONGEST + 3.0)  # 3 s to wait for a token, then one request's timeouts
        with pytest.raises(WixOutOfTime) as caught:
            bounded.get_order(INSTANCE, "o1")
        assert not caught.value.maybe_done and wix.calls(self.ORDER) == []
        assert 2.9 <= now[0] <= 3.0  # it gave up when the call could no longer end in time, not later
        now[0] = 0.0
        with pytest.raises(WixTransientError) as unbounded:
            timed.get_order(INSTANCE, "o1")
        assert not isinstance(unbounded.value, WixOutOfTime) and now[0] >= 15.0

    def test_a_rate_limit_slot_too_late_for_the_deadline_is_out_of_time(
        self, wix, make_client, fake_store, now, caplog
    ) -> None:
        """A slot that frees after the call could end in time is not waited for: out of time, unsent, and not
        logged as a spent budget (which is what an operator looks for when Wix is throttled)."""
        limiter = RateLimiter(fake_store, limit=2, window_seconds=30.0)
        timed = make_client(limiter=limiter, clock=lambda: now[0], max_rate_limit_wait=30)
        timed.get_contact(INSTANCE, "c1")  # the token request and the call: both slots of the window
        with caplog.at_level(logging.WARNING), pytest.raises(WixOutOfTime) as caught:
            timed.within(self.LONGEST + 1.0).get_order(INSTANCE, "o1")
        assert 1.0 < (caught.value.retry_after or 0) <= 30.0 and wix.calls(self.ORDER) == []
        assert "rate limit spent" not in caplog.text

    def test_no_wait_for_a_token_begins_without_room_for_the_call(self, make_client, fake_store, now) -> None:
        def sleep(seconds: float) -> None:
            pytest.fail(f"waited {seconds} s for a token with no time left for the call")

        cache = TokenCache(fake_store, sleep=sleep, clock=lambda: now[0])
        timed = make_client(tokens=cache, clock=lambda: now[0])
        fake_store.set(keys.wix_token_lock(INSTANCE), "another-worker", px=600_000)
        bounded = timed.within(self.LONGEST - 1.0)
        with pytest.raises(WixOutOfTime):
            bounded.get_order(INSTANCE, "o1")


class TestRetryInPlaceOfAnItem:
    def test_the_item_is_done_again_until_it_passes(self) -> None:
        """A transient failure does the whole item again after a short wait."""
        outcomes: list[Exception | str] = [WixTransientError("500", maybe_done=True), "done"]
        slept: list[float] = []

        def work() -> str:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        assert retry_in_place(work, deadline=time.monotonic() + 60, sleep=slept.append) == "done"
        assert len(slept) == 1 and 0.1 <= slept[0] <= 0.2

    def test_no_try_past_the_deadline_and_our_own_limit_goes_up(self) -> None:
        """Past the deadline the failure is raised at once; our own spent budget is never retried here."""
        tries: list[int] = []

        def failing() -> None:
            tries.append(1)
            raise WixTransientError("500")

        with pytest.raises(WixTransientError):
            retry_in_place(failing, deadline=time.monotonic(), sleep=lambda _: None)
        assert len(tries) == 1

        def limited() -> None:
            tries.append(1)
            raise WixRateLimited("spent", retry_after=5)

        with pytest.raises(WixRateLimited):
            retry_in_place(limited, deadline=time.monotonic() + 60, sleep=lambda _: None)
        assert len(tries) == 2


class TestRequests:
    def test_every_request_has_explicit_timeouts(self, wix, client) -> None:
        """Connect, read, write and pool timeouts are set on every request, the token request included."""
        client.get_contact(INSTANCE, "c1")
        expected = DEFAULT_TIMEOUT.as_dict()
        assert None not in expected.values()
        assert [request.extensions["timeout"] for request in wix.requests] == [expected, expected]

    def test_earn_points_sends_app_id_and_idempotency_key(self, wix, client) -> None:
        """Earn-points carries our app id and the caller's idempotency key, and answers the account."""
        path = "/loyalty-accounts/v1/accounts/acc-1/earn-points"
        account = {"id": "acc-1", "points": {"balance": 10}, "revision": "2"}
        wix.on("POST", path, httpx.Response(200, json={"account": account, "transactionId": "tx-1"}))
        change = client.earn_points(INSTANCE, "acc-1", 10, "Streak reward", "reward-log-1")
        assert (change.account, change.transaction_id) == (account, "tx-1")
        (request,) = wix.calls(path)
        assert json.loads(request.content) == {
            "amount": 10,
            "description": "Streak reward",
            "appId": APP_ID,
            "idempotencyKey": "reward-log-1",
        }

    @pytest.mark.parametrize("amount", [0, -1, 10_000_000])
    def test_earn_points_refuses_amounts_wix_refuses(self, wix, client, amount: int) -> None:
        """Amounts outside 1..9,999,999 fail here, before any request."""
        with pytest.raises(ValueError):
            client.earn_points(INSTANCE, "acc-1", amount, "x", "key")
        assert wix.requests == []

    def test_the_loyalty_account_is_queried_by_contact(self, wix, client) -> None:
        """The account is found by a contactId query; none found is None."""
        path = "/loyalty-accounts/v1/accounts/query"
        account = {"id": "acc-1", "contactId": "c1"}
        wix.on("POST", path, httpx.Response(200, json={"loyaltyAccounts": [account]}))
        wix.on("POST", path, httpx.Response(200, json={"loyaltyAccounts": [], "pagingMetadata": {}}))
        assert client.get_loyalty_account_by_contact(INSTANCE, "c1") == account
        assert client.get_loyalty_account_by_contact(INSTANCE, "c2") is None
        body = json.loads(wix.calls(path)[0].content)
        assert body["query"]["filter"] == {"contactId": {"$eq": "c1"}}

    def test_create_and_find_coupons(self, wix, client) -> None:
        """Create answers the id; the code query sends the filter as a JSON string (Coupons v2)."""
        wix.on("POST", "/stores/v2/coupons", httpx.Response(200, json={"id": "cp-1"}))
        coupon = {"id": "cp-1", "specification": {"code": "STRK-7Q2X9"}}
        wix.on(
            "POST",
            "/stores/v2/coupons/query",
            httpx.Response(200, json={"coupons": [coupon], "totalResults": 1}),
        )
        wix.on("GET", "/stores/v2/coupons/cp-1", httpx.Response(200, json={"coupon": coupon}))
        spec = {
            "name": "Streak reward",
            "code": "STRK-7Q2X9",
            "startTime": 1714521600000,
            "percentOffRate": 10,
        }
        assert client.create_coupon(INSTANCE, spec) == "cp-1"
        assert client.query_coupons_by_code(INSTANCE, "STRK-7Q2X9") == [coupon]
        assert client.get_coupon(INSTANCE, "cp-1") == coupon
        assert json.loads(wix.calls("/stores/v2/coupons")[0].content) == {"specification": spec}
        query = json.loads(wix.calls("/stores/v2/coupons/query")[0].content)["query"]
        assert json.loads(query["filter"]) == {"specification.code": {"$eq": "STRK-7Q2X9"}}

    def test_adjust_points_takes_one_of_amount_or_balance(self, wix, client) -> None:
        """Exactly one of amount or balance, with the revision; both or neither fail before any request."""
        path = "/loyalty-accounts/v1/accounts/acc-1/adjust-points"
        wix.on("POST", path, httpx.Response(200, json={"account": {"id": "acc-1"}}))
        client.adjust_points(INSTANCE, "acc-1", revision="4", balance=50)
        assert json.loads(wix.calls(path)[0].content) == {"revision": "4", "balance": 50}
        with pytest.raises(ValueError):
            client.adjust_points(INSTANCE, "acc-1", revision="4", amount=1, balance=50)
        with pytest.raises(ValueError):
            client.adjust_points(INSTANCE, "acc-1", revision="4")

    def test_report_trigger_event(self, wix, client) -> None:
        """The trigger report carries the key, payload, entity id and idempotency key (§5.2)."""
        path = "/automations/v1/events/report"
        wix.on("POST", path, httpx.Response(200, json={"activationIds": ["act-1"]}))
        ids = client.report_trigger_event(
            INSTANCE, "reward_issued", {"contact_id": "c1", "coupon_code": "STRK-1"}, "ent-1", "reward-log-1",
            idempotency_ttl_ms=604800000,
        )  # fmt: skip
        assert ids == ["act-1"]
        assert json.loads(wix.calls(path)[0].content) == {
            "triggerKey": "reward_issued",
            "payload": {"contact_id": "c1", "coupon_code": "STRK-1"},
            "externalEntityId": "ent-1",
            "idempotency": {"key": "reward-log-1", "ttlInMilliseconds": "604800000"},
        }

    def test_contacts_are_fetched_with_all_fields(self, wix, client) -> None:
        """The contact is read with `fieldsets=FULL`."""
        client.get_contact(INSTANCE, "c1")
        assert wix.calls("/contacts/v4/contacts/c1")[0].url.params["fieldsets"] == "FULL"

    def test_ids_stay_one_path_segment(self, wix, client) -> None:
        """An id with a slash or a question mark is escaped, not followed; an empty id is refused."""
        wix.on("GET", "/ecom/v1/orders/a/b?c", httpx.Response(200, json={"order": {"id": "x"}}))
        client.get_order(INSTANCE, "a/b?c")
        assert wix.requests[-1].url.raw_path == b"/ecom/v1/orders/a%2Fb%3Fc"
        with pytest.raises(ValueError):
            client.get_order(INSTANCE, "")

    def test_token_info(self, wix, client, fake_store) -> None:
        """Token info reads Wix's answer; it sends no Authorization and takes no rate-limit slot."""
        answer = {"active": True, "subjectType": "APP", "subjectId": "s", "exp": "1715096067",
                  "clientId": APP_ID, "siteId": "site-1", "instanceId": INSTANCE}  # fmt: skip
        wix.on("POST", "/oauth2/token-info", httpx.Response(200, json=answer))
        info = client.token_info(f"token-{SENSITIVE}-x")
        assert (info.active, info.instance_id, info.app_id, info.expires_at) == (
            True,
            INSTANCE,
            APP_ID,
            1715096067,
        )
        assert "authorization" not in wix.requests[-1].headers
        assert fake_store.keys(keys.wix_rate("*")) == []


class TestRateLimit:
    def test_the_201st_call_in_a_minute_is_refused_for_that_instance_only(self, fake_store) -> None:
        """200 calls pass; the 201st waits for the oldest to leave the minute; another instance is free."""
        limiter = RateLimiter(fake_store)
        assert [limiter.try_acquire(INSTANCE) for _ in range(200)] == [0.0] * 200
        wait = limiter.try_acquire(INSTANCE)
        assert 55.0 < wait <= WINDOW_SECONDS
        assert limiter.try_acquire(OTHER_INSTANCE) == 0.0
        assert fake_store.zcard(keys.wix_rate(INSTANCE)) == 200  # the refused call took no slot

    def test_a_spent_budget_raises_rate_limited_without_calling_wix(
        self, wix, make_client, fake_store
    ) -> None:
        """Past the budget the client raises `WixRateLimited` with the wait, and sends nothing."""
        slept: list[float] = []
        client = make_client(limiter=RateLimiter(fake_store, limit=2), sleep=slept.append)
        client.get_contact(INSTANCE, "c1")  # the token request and the call: two slots
        with pytest.raises(WixRateLimited) as caught:
            client.get_contact(INSTANCE, "c1")
        assert 55.0 < (caught.value.retry_after or 0) <= WINDOW_SECONDS
        assert isinstance(caught.value, WixTransientError)
        assert len(wix.requests) == 2 and slept == []

    def test_a_short_wait_is_slept_then_the_call_goes(self, wix, make_client, fake_store) -> None:
        """A slot freeing within the bound is waited for, not raised."""
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        limiter = RateLimiter(fake_store, limit=2, window_seconds=0.2)
        client = make_client(limiter=limiter, sleep=sleep)
        client.get_contact(INSTANCE, "c1")
        client.get_contact(INSTANCE, "c1")
        assert len(slept) >= 1 and all(0 < s <= 0.2 for s in slept)
        assert len(wix.calls("/contacts/v4/contacts/c1")) == 2


class TestSecrets:
    def test_no_token_or_secret_in_logs_errors_or_reprs(self, wix, make_client, caplog) -> None:
        """Through a refresh, throttling, refusals quoting the credential and a timeout, no token or secret
        reaches a log record, an error (message, fields, traceback) or a repr."""
        caplog.set_level(logging.DEBUG)
        client = make_client(attempts=1)
        path = "/contacts/v4/contacts/c1"
        second_token = f"token-{SENSITIVE}-2"
        quoting = f"bad token {second_token}"  # Wix quoting the token it was sent (after the refresh)
        wix.on("GET", path, httpx.Response(401), httpx.Response(200, json={"contact": {"id": "c1"}}))
        wix.on("GET", path, httpx.Response(429, headers={"Retry-After": "1"}))
        wix.on("GET", path, wix_error(403, "FORBIDDEN", message=quoting))
        wix.on("GET", path, httpx.ReadTimeout("timed out"))
        wix.on("POST", "/oauth2/token-info", wix_error(400, "INVALID_TOKEN", message=quoting))
        tokens = [httpx.Response(200, json={"access_token": f"token-{SENSITIVE}-{n}"}) for n in (1, 2)]
        wix.on("POST", "/oauth2/token", *tokens)
        wix.on("POST", "/oauth2/token", wix_error(400, "BAD_SECRET", message=f"secret {APP_SECRET} refused"))
        calls: list[Callable[[], object]] = [
            *[lambda: client.get_contact(INSTANCE, "c1")] * 4,
            lambda: client.token_info(second_token),
            lambda: client.get_contact(OTHER_INSTANCE, "c1"),  # its token request is refused
        ]
        errors: list[BaseException] = []
        for call in calls:
            try:
                call()
            except (WixApiError, WixTransientError) as exc:
                errors.append(exc)
        assert len(errors) == 5
        texts = [repr(client), repr(AccessToken(f"token-{SENSITIVE}"))]
        texts += [f"{error!s} {error!r} {vars(error)!r}" for error in errors]
        texts += ["".join(traceback.format_exception(error)) for error in errors]
        texts += [repr(record.__dict__) for record in caplog.records] + [caplog.text]
        assert len(caplog.records) > 10  # the client did log
        assert [text for text in texts if SENSITIVE in text] == []
