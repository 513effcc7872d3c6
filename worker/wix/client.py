"""The one client for every Wix REST call the workers make (wix-facts.md §4 and §5.2).

`WixClient` wraps an injected `httpx.Client` whose `base_url` is `WIX_API_BASE`. Per instance it:

- authenticates with the app access token (§4.1), shared by all workers through `TokenCache`, sent bare
  in `Authorization` as Wix's SDK does (§4 "Common"); a 401 drops the token and the call is made once more
  with a fresh one;
- takes a slot from the instance's `RateLimiter` before every request, the token request included
  (§4.6: 200 a minute); a short wait is slept, a longer one raises `WixRateLimited`;
- gives every request explicit connect/read/write/pool timeouts;
- translates failures by class (§4.6): 429, 408, 5xx, timeouts and network errors raise
  `WixTransientError` (try again later, after `suggested_delay`); any other 4xx raises `WixApiError`
  carrying Wix's `details.applicationError` and the `X-Wix-Request-Id` header;
- tries a call that failed for now again in place, up to `attempts` times with short jittered backoff
  (at least Wix's `Retry-After`; every try takes its own slot of the shared limit), while the waits fit
  in `retry_wait_budget`; only then does the failure reach the caller, whose task or job retries later;
- for a caller that must be done by a time (`within`: a redemption under its lock), sends no request,
  waits for no slot and tries nothing again that could end after it (`WixOutOfTime`).

Retrying in place never doubles anything: a call is repeated after any passing failure only when a
repeat cannot do its work twice (`safe_to_repeat`: reads, queries, calls carrying Wix's idempotency
key, a revision, or setting a state). Creating an account or a coupon and sending a message are
repeated only when the failure shows that Wix did nothing (429, 408, no connection); after a 5xx or a
lost answer (`maybe_done`) the caller looks before it tries again (bootstrap looks the account up, a
coupon's code is derived from its reward log, a monthly message is looked for in the conversation).
Tokens, the app secret and the Authorization header appear in no log line, exception or repr.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import redis
from pydantic import SecretStr

from worker import keys
from worker.retry_policy import CALL_ATTEMPTS, LONGEST_CALL_WAIT, retry_policy
from worker.settings import Settings, SettingsError
from worker.wix.call_counts import ERROR, TIMEOUT, count_wix_call, outcome_of
from worker.wix.rate_limit import RateLimiter
from worker.wix.token_cache import (
    TOKEN_LIFETIME_SECONDS,
    AccessToken,
    TokenCache,
    TokenLockTimeout,
    TokenWaitOutOfTime,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
# Waits for a rate-limit slot up to this long are slept; longer ones go back to Celery.
MAX_RATE_LIMIT_WAIT = 3.0
# Retry countdowns stay well inside Redis's visibility timeout (see worker/retry_policy.py).
MAX_SUGGESTED_DELAY = 600.0
# A call that fails for now is tried again in place (worker.retry_policy: how often, how long) after
# short jittered waits, `retry_base * 2**n`: a third of one call's share of the per-instance budget
# (20 s / 200 = 0.1 s at Wix's limit; `from_settings` scales it with WIX_RATE_LIMIT_PER_MINUTE).
RETRY_BASE = 20.0 / 200

EARN_POINTS_MAX = 9_999_999
DESCRIPTION_MAX = 100
IDEMPOTENCY_KEY_MAX = 128
DEFAULT_EARN_DESCRIPTION = "Points earned"

WixObject = dict[str, Any]
# Our own transaction ids are kept this long: past Wix's ~47 h of webhook retries (wix-facts.md §2).
OWN_TRANSACTION_TTL_SECONDS = 7 * 24 * 3600
T = TypeVar("T")
# An item (a contact, a member, a reward) whose calls still fail after their own tries in place is done
# again from its start this many times in all, after these waits, while the caller's deadline allows.
ITEM_TRIES = 4


# --- Errors --------------------------------------------------------------------------------------------


class WixError(Exception):
    """Any failure talking to Wix. The message names the call and Wix's answer, never a credential."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles or JSON-encodes exceptions; rebuild from the message and restore the fields.
        return (type(self), (self.message,), self.__dict__)


class WixTransientError(WixError):
    """A failure that may pass (429, 408, 5xx, timeout, network): retry later with backoff."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        maybe_done: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        # Whether Wix may have done the work (a 5xx, a lost answer, an unreadable 2xx): look before
        # doing it again. False only where nothing can have happened (429, 408, no connection).
        self.maybe_done = maybe_done

    def suggested_delay(self, retries: int, *, base: float = 2.0, cap: float = MAX_SUGGESTED_DELAY) -> float:
        """Seconds to wait before retry number `retries + 1`: jittered backoff, at least `retry_after`."""
        return backoff_delay(retries, base=base, cap=cap, at_least=self.retry_after or 0.0)


class WixRateLimited(WixTransientError):
    """Our own per-instance budget (200 calls a minute) is spent; `retry_after` says when a slot frees."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **fields: Any) -> None:
        fields.setdefault("maybe_done", False)  # the call was never sent
        super().__init__(message, retry_after=retry_after, **fields)


class WixOutOfTime(WixTransientError):
    """The caller's deadline (`WixClient.within`) leaves no time for the request: it was not sent."""

    def __init__(self, message: str, **fields: Any) -> None:
        fields.setdefault("maybe_done", False)  # the call was never sent
        super().__init__(message, **fields)


class WixApiError(WixError):
    """Wix refused the call for good (a 4xx other than 408/429): retrying the same call will not help."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        description: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.description = description
        self.request_id = request_id


class WixAlreadyExists(WixApiError):
    """Wix refused to create something that, looked up afterwards, exists: `existing` is it.

    Wix declares no error for an existing coupon code or loyalty account (wix-facts.md §8), so the
    refusal's status and code are not trusted: only the lookup says "already exists".
    """

    def __init__(self, message: str, *, existing: WixObject | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.existing: WixObject = existing or {}

    @classmethod
    def after(cls, refusal: WixApiError, existing: WixObject) -> WixAlreadyExists:
        """The refusal, now known to mean "already exists"."""
        return cls(
            refusal.message,
            existing=existing,
            status=refusal.status,
            code=refusal.code,
            description=refusal.description,
            request_id=refusal.request_id,
        )


class LoyaltyAppNotInstalled(WixApiError):
    """The site has no loyalty program: the site owner has not installed the Wix Loyalty Program app
    (seed 001: "install the Wix Loyalty Program before activating"). Wix answers the program's routes
    404 then (the program is one per site, with no id in its path, so nothing else can be missing);
    still a `WixApiError` with `status` 404, so code that reads a 404 as "no program" keeps working."""

    @classmethod
    def after(cls, refusal: WixApiError) -> LoyaltyAppNotInstalled:
        return cls(
            "the site has no Wix loyalty program: the Wix Loyalty Program app must be installed on the "
            "site first (from its dashboard or the Wix App Market)" + _request_id_note(refusal.request_id),
            status=refusal.status,
            code=refusal.code,
            description=refusal.description,
            request_id=refusal.request_id,
        )


def backoff_delay(
    retries: int, *, base: float = 2.0, cap: float = MAX_SUGGESTED_DELAY, at_least: float = 0.0
) -> float:
    """Exponential backoff with jitter: a random point in the upper half of `base * 2**retries`, at least
    `at_least` (a `Retry-After`), never more than `cap`."""
    ceiling = min(cap, base * 2 ** max(0, retries))
    jittered = random.uniform(ceiling / 2, ceiling)  # noqa: S311  # jitter spreads retries; not a secret
    return min(cap, max(at_least, jittered))


def retry_in_place(
    work: Callable[[], T],
    *,
    deadline: float,
    base: float = 2 * RETRY_BASE,
    tries: int = ITEM_TRIES,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """`work()`, done again from its start after a short jittered wait (`base * 2**n`, at least Wix's
    `Retry-After`) while it fails for now, up to `tries` times and never past `deadline`
    (`time.monotonic()`); pass `base=2 * client.retry_base`.

    For work that looks before it acts, so doing it again is safe after a lost answer: a bootstrap's
    contact, a member's monthly message, a reward's fulfilment. `WixRateLimited` (our own budget) and
    the last failure go to the caller."""
    for attempt in range(1, tries + 1):
        try:
            return work()
        except WixRateLimited:
            raise
        except WixTransientError as exc:
            delay = backoff_delay(attempt - 1, base=base, at_least=exc.retry_after or 0.0)
            if attempt >= tries or time.monotonic() + delay >= deadline:
                raise
            logger.info("Wix failed for now; doing the item again", extra={"attempt": attempt})
            (sleep or time.sleep)(delay)
    raise AssertionError("unreachable: the last try returns or raises")  # pragma: no cover


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A `Retry-After` header in seconds, whether given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- Answers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """What Wix says about an access token (§4.1 Token Info); `raw` keeps the whole answer."""

    active: bool
    instance_id: str | None
    app_id: str | None
    site_id: str | None
    subject_type: str | None
    subject_id: str | None
    expires_at: int | None
    raw: WixObject = field(repr=False)


@dataclass(frozen=True)
class PointsChange:
    """What earn-points and adjust-points answer (`@wix/loyalty` `EarnPointsResponse`,
    `AdjustPointsResponse`): the account, and the id of the transaction made (None if Wix left it out)."""

    account: WixObject
    transaction_id: str | None


def transaction_app_id(transaction: Mapping[str, Any]) -> str | None:
    """The app that made a loyalty transaction: `earnInfo.appId`, `adjustInfo.appId` or
    `refundInfo.appId` (`@wix/auto_sdk_loyalty_transactions` `LoyaltyTransaction`); None otherwise."""
    for info in ("earnInfo", "adjustInfo", "refundInfo"):
        details = transaction.get(info)
        if isinstance(details, dict) and isinstance(details.get("appId"), str) and details["appId"]:
            return str(details["appId"])
    return None


def _optional_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- The client ----------------------------------------------------------------------------------------


class WixClient:
    """Wix's REST APIs for one app, on behalf of any instance it is installed on."""

    def __init__(
        self,
        http: httpx.Client,
        store: redis.Redis,
        *,
        app_id: str,
        app_secret: str | SecretStr,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
        tokens: TokenCache | None = None,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        own_transaction_ttl: int = OWN_TRANSACTION_TTL_SECONDS,
        attempts: int = CALL_ATTEMPTS,
        retry_wait_budget: float = LONGEST_CALL_WAIT,
        retry_base: float = RETRY_BASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._store = store
        self.app_id = app_id
        self._app_secret = app_secret if isinstance(app_secret, SecretStr) else SecretStr(app_secret)
        self._timeout = timeout
        self._limiter = limiter or RateLimiter(store)
        self._tokens = tokens or TokenCache(store)
        self._max_rate_limit_wait = max_rate_limit_wait
        self._sleep = sleep
        self._own_transaction_ttl = own_transaction_ttl
        self._attempts = max(1, attempts)
        self._retry_wait_budget = retry_wait_budget
        self.retry_base = retry_base
        self._clock = clock
        self._deadline: float | None = None  # see `within`

    @classmethod
    def from_settings(cls, settings: Settings, store: redis.Redis) -> WixClient:
        """A client on its own `httpx.Client` at `WIX_API_BASE`; close it with `close()`."""
        if not settings.wix_app_id:
            raise SettingsError("WIX_APP_ID is not set (needed to call Wix)")
        if settings.wix_app_secret is None or not settings.wix_app_secret.get_secret_value():
            raise SettingsError("WIX_APP_SECRET is not set (needed to call Wix)")
        timeout = httpx.Timeout(
            connect=min(5.0, settings.wix_timeout_seconds),
            read=settings.wix_timeout_seconds,
            write=min(10.0, settings.wix_timeout_seconds),
            pool=5.0,
        )
        http = httpx.Client(base_url=settings.wix_api_base, timeout=timeout)
        policy = retry_policy(settings.celery_visibility_timeout)
        return cls(
            http,
            store,
            app_id=settings.wix_app_id,
            app_secret=settings.wix_app_secret,
            timeout=timeout,
            limiter=RateLimiter(
                store,
                limit=settings.wix_rate_limit_per_minute,
                window_seconds=settings.wix_rate_limit_window_seconds,
            ),
            attempts=policy.call_attempts,
            retry_wait_budget=policy.call_wait_budget,
            retry_base=20.0 / settings.wix_rate_limit_per_minute,
        )

    def __repr__(self) -> str:
        return f"WixClient(base_url={str(self._http.base_url)!r}, app_id={self.app_id!r})"

    def close(self) -> None:
        self._http.close()

    def within(self, seconds: float) -> WixClient:
        """This client (its connections, limit and tokens shared) for work that must be done `seconds`
        from now: a request is sent, a slot or a retry waited for, only when it can still end by then
        (`can_call_after`); else `WixOutOfTime`, the call unsent. For work held by a lock that expires,
        so that none of it outlives the lock (worker.loyalty.spending's redemption)."""
        bounded = copy.copy(self)
        bounded._deadline = self._clock() + seconds
        return bounded

    def can_call_after(self, wait: float) -> bool:
        """Whether one request started after waiting `wait` seconds ends before `within`'s deadline even
        if it takes its every timeout (always, without a deadline)."""
        if self._deadline is None:
            return True
        return self._clock() + wait + self._longest_request() <= self._deadline

    def _longest_request(self) -> float:
        """The longest one request may take: its pool, connect, write and read timeouts in turn (one
        without a timeout never ends in time)."""
        phases = (self._timeout.pool, self._timeout.connect, self._timeout.write, self._timeout.read)
        return float("inf") if None in phases else sum(p for p in phases if p is not None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- Coupons (§4.3) -----------------------------------------------------------------------------

    def create_coupon(self, instance_id: str, specification: Mapping[str, Any]) -> str:
        """Create a coupon from its specification (`POST /stores/v2/coupons`); answers its id.

        Any refusal is followed by a lookup of the code: a coupon found with it raises `WixAlreadyExists`
        carrying that coupon (Wix declares no error for a taken code, §8); otherwise the refusal stands.
        """
        try:
            answer = self._call(
                instance_id, "POST", "/stores/v2/coupons", json={"specification": specification}
            )
        except WixApiError as exc:
            code = specification.get("code")
            found = self.query_coupons_by_code(instance_id, code) if isinstance(code, str) else []
            if found:
                raise WixAlreadyExists.after(exc, found[0]) from None
            raise
        coupon_id = answer.get("id")
        if not isinstance(coupon_id, str) or not coupon_id:
            raise WixTransientError("POST /stores/v2/coupons: Wix answered without a coupon id")
        return coupon_id

    def get_coupon(self, instance_id: str, coupon_id: str) -> WixObject | None:
        """The coupon (`GET /stores/v2/coupons/{id}`), or None if Wix has no such coupon."""
        answer = self._call_or_none(instance_id, "GET", f"/stores/v2/coupons/{_segment(coupon_id)}")
        return _object(answer, "coupon") if answer is not None else None

    def query_coupons_by_code(self, instance_id: str, code: str) -> list[WixObject]:
        """Coupons whose code is `code` (`POST /stores/v2/coupons/query`; the filter is a JSON string)."""
        query = {"filter": json.dumps({"specification.code": {"$eq": code}}), "paging": {"limit": 100}}
        answer = self._call(instance_id, "POST", "/stores/v2/coupons/query", json={"query": query})
        return [c for c in _objects(answer, "coupons") if (c.get("specification") or {}).get("code") == code]

    def delete_coupon(self, instance_id: str, coupon_id: str) -> bool:
        """Delete a coupon so it can no longer be used (`DELETE /stores/v2/coupons/{id}`, `@wix/marketing`
        `deleteCoupon`: an empty answer); False when Wix has no such coupon (deleted already)."""
        path = f"/stores/v2/coupons/{_segment(coupon_id)}"
        return self._call_or_none(instance_id, "DELETE", path) is not None

    # --- Loyalty program (seed 003; `@wix/auto_sdk_loyalty_programs`) and contacts (§4.4) -----------

    def get_loyalty_program(self, instance_id: str) -> WixObject:
        """The site's loyalty program (`GET /loyalty-programs/v1/program`): name, status, points name,
        points expiration, premium features. `LoyaltyAppNotInstalled` when the site has none."""
        return self._program_call(instance_id, "GET", "")

    def activate_loyalty_program(self, instance_id: str) -> WixObject:
        """Activate a DRAFT or PAUSED program (`POST /loyalty-programs/v1/program/activate`)."""
        return self._program_call(instance_id, "POST", "/activate", json={})

    def update_loyalty_program(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        points_name: str | None = None,
        icon: Mapping[str, Any] | None = None,
        months_of_inactivity: int | None = None,
        expiring_points_percentage: int | None = None,
    ) -> WixObject:
        """Change the given fields of the program, keep the others (`PATCH /loyalty-programs/v1/program`
        `{"loyaltyProgram": {name, pointDefinition {customName, icon}, pointsExpiration
        {monthsOfInactivity, expiringPointsPercentage}}}`; Wix takes no field mask and no revision).
        The status is not Wix's to change here: an ACTIVE program stays ACTIVE (activate and pause do
        that). `icon` is an image: `{"url"}` or `{"id"}` (a Wix Media id), optionally `altText`."""
        program: dict[str, Any] = {}
        if name is not None:
            program["name"] = name
        definition: dict[str, Any] = {}
        if points_name is not None:
            definition["customName"] = points_name
        if icon is not None:
            definition["icon"] = dict(icon)
        if definition:
            program["pointDefinition"] = definition
        expiration: dict[str, Any] = {}
        if months_of_inactivity is not None:
            expiration["monthsOfInactivity"] = months_of_inactivity
        if expiring_points_percentage is not None:
            expiration["expiringPointsPercentage"] = expiring_points_percentage
        if expiration:
            program["pointsExpiration"] = expiration
        if not program:
            raise ValueError("update_loyalty_program needs at least one field to change")
        return self._program_call(instance_id, "PATCH", "", json={"loyaltyProgram": program})

    def pause_loyalty_program(self, instance_id: str) -> WixObject:
        """Pause an ACTIVE program (`POST /loyalty-programs/v1/program/pause`): no points are earned or
        redeemed until it is activated again."""
        return self._program_call(instance_id, "POST", "/pause", json={})

    def enable_points_expiration(self, instance_id: str) -> WixObject:
        """Points expiration ENABLED (`POST .../program/points-expiration/enable`, no body: its months
        of inactivity and percentage are the program's, set with `update_loyalty_program`)."""
        return self._program_call(instance_id, "POST", "/points-expiration/enable", json={})

    def disable_points_expiration(self, instance_id: str) -> WixObject:
        """Points expiration DISABLED (`POST .../program/points-expiration/disable`, no body)."""
        return self._program_call(instance_id, "POST", "/points-expiration/disable", json={})

    def get_loyalty_program_premium_features(self, instance_id: str) -> dict[str, bool]:
        """Which premium features the program has (`GET .../program/premium-features`): `loyaltyProgram`,
        `tiers`, `pointsExpiration`, each a boolean (Wix answers them at the top level)."""
        path = f"{LOYALTY_PROGRAM_PATH}/premium-features"
        try:
            answer = self._call(instance_id, "GET", path)
        except WixApiError as exc:
            raise _not_installed(exc) from None
        return {name: answer.get(name) is True for name in ("loyaltyProgram", "tiers", "pointsExpiration")}

    def _program_call(self, instance_id: str, method: str, suffix: str, *, json: Any = None) -> WixObject:
        """A program route answering `{"loyaltyProgram": {...}}`; a 404 is `LoyaltyAppNotInstalled`."""
        try:
            answer = self._call(instance_id, method, f"{LOYALTY_PROGRAM_PATH}{suffix}", json=json)
        except WixApiError as exc:
            raise _not_installed(exc) from None
        return _object(answer, "loyaltyProgram")

    # --- Loyalty tiers (`@wix/auto_sdk_loyalty_tiers`; worker/progress/tiers.py) ---

    def get_tiers_program(self, instance_id: str) -> WixObject:
        """The site's tiers and tiers program settings (`GET /loyalty-tiers/v1/tiers/program`):
        `{"tiers": [{id, tierDefinition {name, description, icon}, requiredPoints}], "programSettings":
        {status, rollingWindow, baseTierDefinition}}`; Wix answers default DISABLED settings and no tiers
        for a site that never set tiers up."""
        answer = self._call(instance_id, "GET", "/loyalty-tiers/v1/tiers/program")
        return {"tiers": _objects(answer, "tiers"), "programSettings": answer.get("programSettings") or {}}

    def query_contacts(
        self, instance_id: str, *, offset: int, limit: int = 100
    ) -> tuple[list[WixObject], int]:
        """One page of contacts (`POST /contacts/v4/contacts/query`, offset paging) and the total."""
        body = {"query": {"paging": {"limit": limit, "offset": offset}}}
        answer = self._call(instance_id, "POST", "/contacts/v4/contacts/query", json=body)
        total = answer.get("pagingMetadata", {}).get("total")
        return _objects(answer, "contacts"), int(total) if isinstance(total, int) else 0

    # --- Loyalty accounts (§4.2) --------------------------------------------------------------------

    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> WixObject | None:
        """The contact's loyalty account, or None (`POST .../accounts/query` filtered on `contactId`).

        The query is used rather than `fetch-by`, whose query-parameter spelling is unconfirmed (§4.2).
        """
        query = {"filter": {"contactId": {"$eq": contact_id}}, "cursorPaging": {"limit": 1}}
        answer = self._call(instance_id, "POST", "/loyalty-accounts/v1/accounts/query", json={"query": query})
        accounts = [a for a in _objects(answer, "loyaltyAccounts") if a.get("contactId") == contact_id]
        return accounts[0] if accounts else None

    def query_loyalty_accounts(
        self, instance_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[WixObject], str | None]:
        """One page of every loyalty account (`POST .../accounts/query`, cursor paging) and the next
        page's cursor (None on the last page). A cursor carries the query, so none is sent with it."""
        paging: dict[str, Any] = {"limit": limit}
        if cursor:
            paging["cursor"] = cursor
        body = {"query": {"cursorPaging": paging}}
        answer = self._call(instance_id, "POST", "/loyalty-accounts/v1/accounts/query", json=body)
        return _objects(answer, "loyaltyAccounts"), _next_cursor(answer)

    def create_loyalty_account(self, instance_id: str, contact_id: str) -> WixObject:
        """Open a loyalty account for a contact (`POST /loyalty-accounts/v1/accounts`).

        Any refusal is followed by a lookup by contact: an account found raises `WixAlreadyExists`
        carrying it (Wix declares no error for an existing account, §8); otherwise the refusal stands.
        """
        try:
            answer = self._call(
                instance_id, "POST", "/loyalty-accounts/v1/accounts", json={"contactId": contact_id}
            )
        except WixApiError as exc:
            existing = self.get_loyalty_account_by_contact(instance_id, contact_id)
            if existing is not None:
                raise WixAlreadyExists.after(exc, existing) from None
            raise
        return self._changed(instance_id, _object(answer, "account"))

    def earn_points(
        self, instance_id: str, account_id: str, amount: int, description: str, idempotency_key: str
    ) -> PointsChange:
        """Add points as our app, once per `idempotency_key` (`POST .../accounts/{id}/earn-points`).

        `appId` is always our app id; the description is cut to Wix's 100 characters and, being required
        to have at least one (`@wix/loyalty` `EarnPointsRequest.description`, minLength 1), an empty one
        becomes `DEFAULT_EARN_DESCRIPTION`. Answers the account and the transaction id, which is kept as
        ours (see `is_own_transaction`).
        """
        if not 1 <= amount <= EARN_POINTS_MAX:
            raise ValueError(f"earn-points amount must be 1..{EARN_POINTS_MAX}, not {amount}")
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
            raise ValueError(f"an idempotency key has 1..{IDEMPOTENCY_KEY_MAX} characters")
        body = {
            "amount": amount,
            "description": description.strip()[:DESCRIPTION_MAX] or DEFAULT_EARN_DESCRIPTION,
            "appId": self.app_id,
            "idempotencyKey": idempotency_key,
        }
        path = f"/loyalty-accounts/v1/accounts/{_segment(account_id)}/earn-points"
        return self._points_changed(instance_id, self._call(instance_id, "POST", path, json=body))

    def adjust_points(
        self,
        instance_id: str,
        account_id: str,
        *,
        revision: str,
        amount: int | None = None,
        balance: int | None = None,
        description: str | None = None,
    ) -> PointsChange:
        """Change the balance by `amount` or set it to `balance`, if the account is still at `revision`.

        Not idempotent (§4.2): a stale revision is a 409 `WixApiError`; prefer `earn_points` for awards.
        Answers the account and the transaction id, which is kept as ours (see `is_own_transaction`).
        """
        if (amount is None) == (balance is None):
            raise ValueError("adjust_points takes exactly one of amount or balance")
        if amount == 0:
            raise ValueError("an adjustment of 0 points changes nothing")
        body: dict[str, Any] = {"revision": revision}
        body.update({"amount": amount} if amount is not None else {"balance": balance})
        if description:
            body["description"] = description[:DESCRIPTION_MAX]
        path = f"/loyalty-accounts/v1/accounts/{_segment(account_id)}/adjust-points"
        return self._points_changed(instance_id, self._call(instance_id, "POST", path, json=body))

    def is_own_transaction(self, instance_id: str, transaction_id: str) -> bool:
        """Whether earn or adjust answered this transaction id to us (kept for a week)."""
        return bool(self._store.exists(keys.own_points_transaction(instance_id, transaction_id)))

    def query_loyalty_transactions(
        self, instance_id: str, account_id: str, *, since: str | None = None, limit: int = 50
    ) -> list[WixObject]:
        """The account's loyalty transactions, newest first, created at or after `since` (ISO-8601) when
        given (`POST /loyalty-transactions/v1/loyalty-transactions/query`; one page of `limit`)."""
        query_filter: dict[str, Any] = {"accountId": {"$eq": account_id}}
        if since:
            query_filter["createdDate"] = {"$gte": since}
        query = {
            "filter": query_filter,
            "sort": [{"fieldName": "createdDate", "order": "DESC"}],
            "cursorPaging": {"limit": limit},
        }
        path = "/loyalty-transactions/v1/loyalty-transactions/query"
        answer = self._call(instance_id, "POST", path, json={"query": query})
        return [
            t for t in _objects(answer, "loyaltyTransactions") if t.get("accountId") in (None, account_id)
        ]

    # --- Loyalty rewards and loyalty coupons (`@wix/auto_sdk_loyalty_rewards`, `..._loyalty_coupons`) ---

    def list_loyalty_rewards(self, instance_id: str, *, max_pages: int = 10) -> list[WixObject]:
        """The site's loyalty rewards catalog (`GET /loyalty-rewards/v1/rewards`, cursor paging), at most
        `max_pages` pages of 100."""
        rewards: list[WixObject] = []
        params = {"cursorPaging.limit": "100"}
        for _ in range(max_pages):
            answer = self._call(instance_id, "GET", "/loyalty-rewards/v1/rewards", params=params)
            rewards.extend(_objects(answer, "rewards"))
            cursor = _next_cursor(answer)
            if cursor is None:
                break
            params = {"cursorPaging.limit": "100", "cursorPaging.cursor": cursor}
        return rewards

    def redeem_points_for_coupon(self, instance_id: str, reward_id: str, account_id: str) -> WixObject:
        """Spend the account's points on a reward (`POST /loyalty-coupons/v1/coupons`); answers the
        LoyaltyCoupon (`couponReference.code` is the code). Wix takes no idempotency key here, so a lost
        answer is never sent again in place (`safe_to_repeat`): the caller looks it up with
        `query_loyalty_coupons` first (worker.loyalty.spending)."""
        body = {"rewardId": reward_id, "loyaltyAccountId": account_id}
        answer = self._call(instance_id, "POST", "/loyalty-coupons/v1/coupons", json=body)
        return _object(answer, "coupon")

    def query_loyalty_coupons(
        self, instance_id: str, account_id: str, *, limit: int = 100
    ) -> list[WixObject]:
        """The account's loyalty coupons, newest first (`POST /loyalty-coupons/v1/coupons/query`, a page)."""
        query = {
            "filter": {"accountId": {"$eq": account_id}},
            "sort": [{"fieldName": "createdDate", "order": "DESC"}],
            "paging": {"limit": limit},
        }
        answer = self._call(instance_id, "POST", "/loyalty-coupons/v1/coupons/query", json={"query": query})
        return [c for c in _objects(answer, "loyaltyCoupons") if c.get("accountId") in (None, account_id)]

    # --- Orders (§3.1), contacts (§4.4) -------------------------------------------------------------

    def get_order(self, instance_id: str, order_id: str) -> WixObject | None:
        """The eCommerce order (`GET /ecom/v1/orders/{id}`), or None if Wix has no such order."""
        answer = self._call_or_none(instance_id, "GET", f"/ecom/v1/orders/{_segment(order_id)}")
        return _object(answer, "order") if answer is not None else None

    def list_order_payments(self, instance_id: str, order_id: str) -> list[WixObject]:
        """The order's payments (`GET /ecom/v1/payments/orders/{orderId}`, Wix's Order Transactions API:
        `orderTransactions.payments`, each with `regularPaymentDetails.creditCardDetails` for a card);
        an empty list for an order Wix does not know."""
        answer = self._call_or_none(instance_id, "GET", f"/ecom/v1/payments/orders/{_segment(order_id)}")
        transactions = answer.get("orderTransactions") if answer is not None else None
        return _objects(transactions, "payments") if isinstance(transactions, dict) else []

    def search_orders_updated(
        self, instance_id: str, *, since: str, until: str, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[WixObject], str | None]:
        """One page of the orders updated in `[since, until)`, oldest first (`POST /ecom/v1/orders/search`,
        cursor paging), and the next page's cursor (None on the last page)."""
        paging: dict[str, Any] = {"limit": limit}
        if cursor:
            paging["cursor"] = cursor  # the cursor carries the filter and sort of the first page
            search: dict[str, Any] = {"cursorPaging": paging}
        else:
            search = {
                "filter": {"updatedDate": {"$gte": since, "$lt": until}},
                "sort": [{"fieldName": "updatedDate", "order": "ASC"}],
                "cursorPaging": paging,
            }
        answer = self._call(instance_id, "POST", "/ecom/v1/orders/search", json={"search": search})
        metadata = answer.get("metadata") or {}
        next_cursor = (metadata.get("cursors") or {}).get("next")
        more = metadata.get("hasNext") is True and isinstance(next_cursor, str) and bool(next_cursor)
        return _objects(answer, "orders"), next_cursor if more else None

    def get_contact(self, instance_id: str, contact_id: str) -> WixObject | None:
        """The contact with all its fields (`GET /contacts/v4/contacts/{id}?fieldsets=FULL`), or None."""
        path = f"/contacts/v4/contacts/{_segment(contact_id)}"
        answer = self._call_or_none(instance_id, "GET", path, params={"fieldsets": "FULL"})
        return _object(answer, "contact") if answer is not None else None

    def get_member(self, instance_id: str, member_id: str) -> WixObject | None:
        """The site member (`GET /members/v1/members/{id}`, §6.2), with its `contactId`; None if unknown."""
        answer = self._call_or_none(instance_id, "GET", f"/members/v1/members/{_segment(member_id)}")
        return _object(answer, "member") if answer is not None else None

    # --- Earning beyond orders: birthdays and a product's collections --------------------------------

    def query_contact_birthdates(
        self, instance_id: str, *, offset: int, limit: int = 100
    ) -> tuple[list[WixObject], int]:
        """One page of contacts projected to their `info.birthdate` ("YYYY-MM-DD"; `id` always comes
        back; `@wix/crm` QueryContactsRequest `query.fields`), offset paging, and the total."""
        body = {"query": {"paging": {"limit": limit, "offset": offset}, "fields": ["info.birthdate"]}}
        answer = self._call(instance_id, "POST", "/contacts/v4/contacts/query", json=body)
        total = answer.get("pagingMetadata", {}).get("total")
        return _objects(answer, "contacts"), int(total) if isinstance(total, int) else 0

    def get_product(self, instance_id: str, product_id: str) -> WixObject | None:
        """A Wix Stores product (`GET /stores-reader/v1/products/{id}`, Catalog v1), with its
        `collectionIds`; None if the store has no such product."""
        answer = self._call_or_none(instance_id, "GET", f"/stores-reader/v1/products/{_segment(product_id)}")
        return _object(answer, "product") if answer is not None else None

    # --- Inbox (§4.5) -------------------------------------------------------------------------------

    def get_or_create_conversation(self, instance_id: str, participant: Mapping[str, str]) -> WixObject:
        """The participant's conversation, made on first use (`POST /inbox/v2/conversations`);
        `participant` is one of `{"memberId": ...}`, `{"contactId": ...}`, `{"anonymousVisitorId": ...}`."""
        body = {"participantId": dict(participant)}
        return _object(self._call(instance_id, "POST", "/inbox/v2/conversations", json=body), "conversation")

    def send_message(
        self,
        instance_id: str,
        conversation_id: str,
        message: Mapping[str, Any],
        *,
        send_notifications: bool = True,
    ) -> WixObject:
        """Send `message` into the conversation as our app (`POST /inbox/v2/messages`); answers it.

        Wix takes no idempotency key here: a retry after a lost answer may send the message twice.
        """
        body = {
            "conversationId": conversation_id,
            "sendNotifications": send_notifications,
            "sendAs": "CALLER",
            "message": dict(message),
        }
        return _object(self._call(instance_id, "POST", "/inbox/v2/messages", json=body), "message")

    def list_messages(
        self, instance_id: str, conversation_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[WixObject], str | None]:
        """One page of the conversation's messages, newest first, all visibilities (`GET
        /inbox/v2/messages`), and the next page's cursor (None on the last page)."""
        params = {
            "conversationId": conversation_id,
            "visibility": "BUSINESS",
            "paging.limit": str(limit),
            "sorting.fieldName": "sequence",
            "sorting.order": "DESC",
        }
        if cursor:
            params["paging.cursor"] = cursor
        answer = self._call(instance_id, "GET", "/inbox/v2/messages", params=params)
        return _objects(answer, "messages"), _next_cursor(answer)

    # --- Automations (§5.2) -------------------------------------------------------------------------

    def report_trigger_event(
        self,
        instance_id: str,
        trigger_key: str,
        payload: Mapping[str, Any],
        external_entity_id: str,
        idempotency_key: str,
        *,
        idempotency_ttl_ms: int | None = None,
    ) -> list[str]:
        """Report a trigger event once per key (`POST /automations/v1/events/report`); the activation ids."""
        idempotency: dict[str, Any] = {"key": idempotency_key}
        if idempotency_ttl_ms is not None:
            idempotency["ttlInMilliseconds"] = str(idempotency_ttl_ms)  # an int64: a string in JSON
        body = {
            "triggerKey": trigger_key,
            "payload": payload,
            "externalEntityId": external_entity_id,
            "idempotency": idempotency,
        }
        answer = self._call(instance_id, "POST", "/automations/v1/events/report", json=body)
        ids = answer.get("activationIds")
        return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

    # --- Embedded scripts (§6.1, §8) -------------------------------------------------------------------

    def embed_script(
        self, instance_id: str, parameters: Mapping[str, str], *, disabled: bool = False
    ) -> None:
        """Embed the app's script in the site with these parameters (`POST /apps/v1/scripts`); calling it
        again replaces them. The keys must be exactly the script's placeholders, the values strings."""
        body = {"properties": {"parameters": dict(parameters), "disabled": disabled}}
        self._call(instance_id, "POST", "/apps/v1/scripts", json=body)

    def get_embedded_script(self, instance_id: str) -> WixObject | None:
        """The script as embedded in the site (`GET /apps/v1/scripts`): `{"parameters", "disabled"}`, or
        None when it is not embedded."""
        answer = self._call_or_none(instance_id, "GET", "/apps/v1/scripts")
        if answer is None:
            return None
        properties = answer.get("properties")
        return properties if isinstance(properties, dict) else {}

    # --- Tokens (§4.1) ------------------------------------------------------------------------------

    def token_info(self, token: str) -> TokenInfo:
        """What Wix says of an access token (`POST /oauth2/token-info`); no instance, no rate limit."""
        response = self._send(None, "POST", "/oauth2/token-info", json={"token": token})
        answer = self._answer("POST", "/oauth2/token-info", response, redact=token)
        return TokenInfo(
            active=answer.get("active") is True,
            instance_id=_optional_str(answer.get("instanceId")),
            app_id=_optional_str(answer.get("clientId")) or _optional_str(answer.get("app_id")),
            site_id=_optional_str(answer.get("siteId")),
            subject_type=_optional_str(answer.get("subjectType")),
            subject_id=_optional_str(answer.get("subjectId")),
            expires_at=_optional_int(answer.get("exp")),
            raw=answer,
        )

    def _points_changed(self, instance_id: str, answer: WixObject) -> PointsChange:
        """Earn's or adjust's answer: its transaction id kept as ours, the member's cached copy dropped."""
        account = self._changed(instance_id, _object(answer, "account"))
        transaction_id = _optional_str(answer.get("transactionId"))
        if transaction_id is None:  # an older answer shape: the account's own latest transaction
            latest = account.get("latestTransaction")
            transaction_id = _optional_str(latest.get("id")) if isinstance(latest, dict) else None
        if transaction_id is not None:
            key = keys.own_points_transaction(instance_id, transaction_id)
            self._store.set(key, "1", ex=self._own_transaction_ttl)
        return PointsChange(account, transaction_id)

    def _changed(self, instance_id: str, account: WixObject) -> WixObject:
        """We changed this account: drop the short-lived copy members' progress reads (worker.keys)."""
        contact_id = account.get("contactId")
        if isinstance(contact_id, str) and contact_id:
            self._store.delete(keys.loyalty_account_copy(instance_id, contact_id))
        return account

    # --- Plumbing -----------------------------------------------------------------------------------

    def _call(
        self,
        instance_id: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> WixObject:
        """One authenticated call, tried again in place while it fails for now (see the module's doc)."""
        repeatable = safe_to_repeat(method, path, json)
        started, waited = self._clock(), 0.0
        for attempt in range(1, self._attempts + 1):
            try:
                return self._call_once(instance_id, method, path, json=json, params=params)
            except WixRateLimited:
                raise  # our own budget is spent: `_wait_for_slot` already waited what it may
            except WixTransientError as exc:
                if attempt >= self._attempts or (exc.maybe_done and not repeatable):
                    raise
                delay = backoff_delay(attempt - 1, base=self.retry_base, at_least=exc.retry_after or 0.0)
                # No new try starts later than the budget after the first (sleeps measured or, when
                # injected, counted), so a call ends within the budget and one more request timeout.
                if max(self._clock() - started, waited) + delay > self._retry_wait_budget:
                    raise
                if not self.can_call_after(delay):
                    raise  # the caller's deadline (`within`) leaves no time for another try
                logger.info(
                    "Wix call failed for now; trying again in place",
                    extra={
                        "instance_id": instance_id,
                        "wix_call": f"{method} {path}",
                        "status": exc.status,
                        "attempt": attempt,
                        "delay": round(delay, 2),
                    },
                )
                self._sleep(delay)
                waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _call_once(
        self,
        instance_id: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> WixObject:
        """One authenticated call; a 401 drops the token and the call is made once more with a new one."""
        token = self._token(instance_id)
        response = self._send(instance_id, method, path, token=token, json=json, params=params)
        if response.status_code == 401:
            logger.warning(
                "Wix refused the app token; fetching a new one",
                extra={"instance_id": instance_id, "wix_call": f"{method} {path}", **_ids(response)},
            )
            self._tokens.drop(instance_id, token)
            token = self._token(instance_id)
            response = self._send(instance_id, method, path, token=token, json=json, params=params)
        return self._answer(method, path, response, redact=token)

    def _call_or_none(
        self, instance_id: str, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> WixObject | None:
        try:
            return self._call(instance_id, method, path, params=params)
        except WixApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _token(self, instance_id: str) -> str:
        """The instance's app token. Bound to a deadline (`within`), the wait for another process's fetch
        leaves room for the request it is for, and is not begun without that room."""
        max_wait = None
        if self._deadline is not None:
            max_wait = self._deadline - self._clock() - self._longest_request()
            if max_wait < 0:
                raise WixOutOfTime("no Wix token: no time left before the caller's deadline to wait for one")
        try:
            return self._tokens.get(instance_id, lambda: self._fetch_token(instance_id), max_wait=max_wait)
        except TokenWaitOutOfTime as exc:
            raise WixOutOfTime(f"no Wix token in time for the caller's deadline: {exc}") from None
        except TokenLockTimeout as exc:
            raise WixTransientError(f"no Wix token yet: {exc}", retry_after=1.0, maybe_done=False) from None
        except WixTransientError as exc:
            exc.maybe_done = False  # the token request failed: the call itself was never sent
            raise

    def _fetch_token(self, instance_id: str) -> AccessToken:
        """A new app access token for the instance (§4.1 client credentials)."""
        body = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self._app_secret.get_secret_value(),
            "instance_id": instance_id,
        }
        response = self._send(instance_id, "POST", "/oauth2/token", json=body)
        answer = self._answer("POST", "/oauth2/token", response, redact=self._app_secret.get_secret_value())
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise WixTransientError("POST /oauth2/token: Wix answered without an access token")
        return AccessToken(token, _optional_int(answer.get("expires_in")) or TOKEN_LIFETIME_SECONDS)

    def _send(
        self,
        instance_id: str | None,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP request inside the instance's rate limit, and only while it can end by the caller's
        deadline (`within`); network failures become transient errors."""
        if not self.can_call_after(0.0):
            raise WixOutOfTime(f"{method} {path}: not sent, no time left before the caller's deadline")
        if instance_id is not None:
            self._wait_for_slot(instance_id)
        headers = {"Authorization": token} if token is not None else None
        started = time.monotonic()
        try:
            response = self._http.request(
                method, path, json=json, params=params, headers=headers, timeout=self._timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached Wix: safe to send again, whatever the call.
            count_wix_call(self._store, TIMEOUT if isinstance(exc, httpx.TimeoutException) else ERROR, None)
            raise WixTransientError(
                f"{method} {path}: could not reach Wix ({type(exc).__name__})", maybe_done=False
            ) from exc
        except httpx.TimeoutException as exc:
            count_wix_call(self._store, TIMEOUT, None)
            raise WixTransientError(
                f"{method} {path}: Wix did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            count_wix_call(self._store, ERROR, None)
            raise WixTransientError(
                f"{method} {path}: the connection to Wix failed ({type(exc).__name__})"
            ) from exc
        count_wix_call(self._store, outcome_of(response.status_code), response.status_code)
        logger.debug(
            "Wix answered",
            extra={
                "wix_call": f"{method} {path}",
                "status": response.status_code,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
                **_ids(response),
            },
        )
        return response

    def _wait_for_slot(self, instance_id: str) -> None:
        """Take a rate-limit slot, sleeping at most `max_rate_limit_wait` in all, and only while the request
        can still end by the caller's deadline (`within`); else `WixRateLimited`."""
        slept = 0.0
        while True:
            wait = self._limiter.try_acquire(instance_id)
            if wait <= 0:
                return
            if not self.can_call_after(wait):  # the slot frees too late for the caller: not a spent budget
                raise WixOutOfTime(
                    f"not sent: a Wix rate-limit slot frees in {wait:.1f}s, past the caller's deadline",
                    retry_after=wait,
                )
            if slept + wait > self._max_rate_limit_wait:
                logger.warning(
                    "Wix rate limit spent for this instance", extra={"instance_id": instance_id, "wait": wait}
                )
                raise WixRateLimited(
                    f"the Wix rate limit for this instance is spent; a slot frees in {wait:.1f}s",
                    retry_after=wait,
                )
            self._sleep(wait)
            slept += wait

    def _answer(self, method: str, path: str, response: httpx.Response, *, redact: str) -> WixObject:
        """The JSON object of a 2xx answer; any other status raised as the matching error.

        `redact` is the credential the request carried: should Wix's error text quote it, it is cut out.
        """
        status = response.status_code
        request_id = response.headers.get("x-wix-request-id")
        call = f"{method} {path}"
        if 200 <= status < 300:
            if not response.content:
                return {}
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise WixTransientError(
                    f"{call}: Wix answered {status} without a JSON object",
                    status=status,
                    request_id=request_id,
                )
            return answer
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            logger.warning("Wix failed for now", extra={"wix_call": call, "status": status, **_ids(response)})
            raise WixTransientError(
                f"{call}: Wix answered {status}" + _request_id_note(request_id),
                status=status,
                retry_after=retry_after,
                request_id=request_id,
                maybe_done=status >= 500,  # a 429 or 408 did nothing; a 5xx may have done it
            )
        code, description, message = (_redacted(text, redact) for text in _application_error(response))
        logger.log(
            logging.INFO if status == 404 else logging.WARNING,  # a get of something absent is routine
            "Wix refused the call",
            extra={"wix_call": call, "status": status, "code": code, **_ids(response)},
        )
        detail = " ".join(part for part in (code, f"({message})" if message else None) if part)
        raise WixApiError(
            f"{call}: Wix answered {status}"
            + (f" {detail}" if detail else "")
            + _request_id_note(request_id),
            status=status,
            code=code,
            description=description,
            request_id=request_id,
        )


LOYALTY_PROGRAM_PATH = "/loyalty-programs/v1/program"

# Calls whose repeat changes nothing more: a new token, a state set again (the program's status, its
# points expiration, the fields of an update), the one conversation.
_REPEATABLE_PATHS = frozenset(
    {
        "/oauth2/token",
        "/oauth2/token-info",
        LOYALTY_PROGRAM_PATH,
        f"{LOYALTY_PROGRAM_PATH}/activate",
        f"{LOYALTY_PROGRAM_PATH}/pause",
        f"{LOYALTY_PROGRAM_PATH}/points-expiration/enable",
        f"{LOYALTY_PROGRAM_PATH}/points-expiration/disable",
        "/inbox/v2/conversations",
        "/apps/v1/scripts",  # embedding again sets the same parameters
    }
)


def safe_to_repeat(method: str, path: str, body: Any = None) -> bool:
    """Whether sending this call again after a lost answer cannot do its work twice: reads, queries and
    searches, calls with Wix's idempotency key (earn-points, trigger reports), adjust-points at a
    `revision` (a repeat is refused as stale), and `_REPEATABLE_PATHS`. Not creating an account or a
    coupon, nor sending a message: their callers look before they try again."""
    if method.upper() == "GET" or path.endswith(("/query", "/search")) or path in _REPEATABLE_PATHS:
        return True
    if isinstance(body, Mapping):
        return "idempotencyKey" in body or "idempotency" in body or "revision" in body
    return False


def _not_installed(refusal: WixApiError) -> WixApiError:
    """A program route's refusal: a 404 means the site has no loyalty program (`LoyaltyAppNotInstalled`);
    so does any 4xx whose code or description speaks of installing (Wix documents no error for a missing
    app: should it answer, say, 403 `APP_NOT_INSTALLED`, it is still read right)."""
    said = " ".join(text for text in (refusal.code, refusal.description) if text).lower()
    if refusal.status == 404 or "install" in said:
        return LoyaltyAppNotInstalled.after(refusal)
    return refusal


def _segment(value: str) -> str:
    """An id as one path segment: nothing in it can become a slash, a query or another resource."""
    if value.strip(".") == "":
        raise ValueError(f"not a usable Wix id: {value!r}")
    return quote(value, safe="")


def _redacted(text: str | None, secret: str) -> str | None:
    return text.replace(secret, "[redacted]") if text and secret else text


def _object(answer: WixObject, name: str) -> WixObject:
    value = answer.get(name)
    if not isinstance(value, dict):
        raise WixTransientError(f"Wix answered without `{name}`")
    return value


def _objects(answer: WixObject, name: str) -> list[WixObject]:
    value = answer.get(name)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _next_cursor(answer: WixObject) -> str | None:
    """`pagingMetadata.cursors.next` of a cursor-paged answer, or None when there is no next page."""
    metadata = answer.get("pagingMetadata")
    if not isinstance(metadata, dict) or metadata.get("hasNext") is False:
        return None
    cursors = metadata.get("cursors")
    cursor = cursors.get("next") if isinstance(cursors, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def _ids(response: httpx.Response) -> dict[str, str]:
    request_id = response.headers.get("x-wix-request-id")
    return {"wix_request_id": request_id} if request_id else {}


def _request_id_note(request_id: str | None) -> str:
    return f" [x-wix-request-id {request_id}]" if request_id else ""


def _application_error(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """Wix's `details.applicationError.{code, description}` and `message`, where the body has them (§4.6)."""
    try:
        body = response.json()
    except ValueError:
        return None, None, None
    if not isinstance(body, dict):
        return None, None, None
    details = body.get("details")
    application_error = details.get("applicationError") if isinstance(details, dict) else None
    if not isinstance(application_error, dict):
        application_error = {}
    message = _optional_str(body.get("message"))
    return (
        _optional_str(application_error.get("code")),
        _optional_str(application_error.get("description")),
        message[:200] if message else None,
    )
