"""What happens to calls before they reach an endpoint: injected faults, the rate limit, the call log.

None of this is Wix's API; it is how tests make the fake misbehave the ways Wix does (wix-facts.md
§4.6: 429 when throttled, 5xx "try again later", slow answers) and count what our client sent.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_LOGGED_CALLS = 10_000
WINDOW_SECONDS = 60.0


@dataclass
class Fault:
    """The next `remaining` calls matching `method`/`path_prefix` are delayed and/or answered `status`."""

    remaining: int
    status: int | None = None  # 429 or a 5xx; None answers normally (after any delay)
    delay_seconds: float = 0.0
    delay_after: bool = False  # False: wait, then handle; True: handle at once, answer late
    path_prefix: str = ""
    method: str | None = None
    retry_after: str | None = "1"  # the Retry-After header of a 429; None leaves it out
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path.startswith(self.path_prefix)
            and (self.method is None or self.method.upper() == method.upper())
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remaining": self.remaining,
            "hits": self.hits,
            "status": self.status,
            "delaySeconds": self.delay_seconds,
            "when": "after" if self.delay_after else "before",
            "pathPrefix": self.path_prefix,
            "method": self.method,
            "retryAfter": self.retry_after,
        }


class FaultBook:
    """Faults in the order they were added; a call takes one charge from the first that matches."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()


FAULT_KINDS = ("429", "500", "timeout")


class RandomFaults:
    """Faults at a rate, each call drawn on its own from one seeded generator (`POST /_fake/faults`
    with `rate`): the same seed and the same order of calls fault the same calls.

    - `429`: `RESOURCE_EXHAUSTED`, with `Retry-After: retry_after` when that is set (Wix's header is
      UNCONFIRMED, wix-facts.md §4.6, so none by default); nothing is done, nor counted against the
      fake's rate limit.
    - `500`: Wix's empty system error; nothing is done, nor counted against the rate limit.
    - `timeout`: the call is DONE, then its answer is lost: held `stall_seconds` (longer than the
      client's timeout, for a real timeout) and the connection dropped, or dropped at once (0, the
      default: a client sees the connection close without an answer, as when a proxy times out).
    """

    def __init__(self) -> None:
        self.rate = 0.0
        self.seed: int | None = None
        self.kinds: tuple[str, ...] = FAULT_KINDS
        self.stall_seconds = 0.0
        self.retry_after: str | None = None
        self.drawn = 0
        self.counts: Counter[str] = Counter()
        self._random = random.Random()  # noqa: S311  # reproducible faults, not secrets

    def configure(
        self,
        rate: float,
        seed: int | None = None,
        kinds: tuple[str, ...] = FAULT_KINDS,
        *,
        stall_seconds: float = 0.0,
        retry_after: str | None = None,
    ) -> None:
        self.rate, self.kinds = rate, kinds
        self.seed = seed if seed is not None else random.randrange(2**31)  # noqa: S311
        self.stall_seconds, self.retry_after = stall_seconds, retry_after
        self.drawn = 0
        self.counts.clear()
        self._random = random.Random(self.seed)  # noqa: S311

    def draw(self) -> str | None:
        """The fault for the next call, or None; two draws per call, so each call is independent."""
        if self.rate <= 0:
            return None
        self.drawn += 1
        hit, pick = self._random.random(), self._random.random()
        if hit >= self.rate:
            return None
        kind = self.kinds[min(int(pick * len(self.kinds)), len(self.kinds) - 1)]
        self.counts[kind] += 1
        return kind

    def clear(self) -> None:
        self.rate = 0.0
        self.seed = None
        self.drawn = 0
        self.counts.clear()

    def public(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seed": self.seed,
            "kinds": list(self.kinds),
            "stallSeconds": self.stall_seconds,
            "retryAfter": self.retry_after,
            "calls": self.drawn,
            "counts": dict(self.counts),
        }


class RateLimiter:
    """At most `limit` admitted calls per instance in any `window`-second window: Wix's is 60 s
    (wix-facts.md §4.6); a test may shrink it (`rateLimitWindowSeconds`) to see a minute's sharing in
    seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self.refused: Counter[str] = Counter()

    def admit(self, instance_id: str, limit: int, window_seconds: float = WINDOW_SECONDS) -> float | None:
        """None when the call may go ahead (and is counted), else the seconds until a slot frees."""
        if limit <= 0:
            return None
        now = self._clock()
        window = self._admitted.setdefault(instance_id, deque())
        while window and window[0] <= now - window_seconds:
            window.popleft()
        if len(window) >= limit:
            self.refused[instance_id] += 1
            return max(window[0] + window_seconds - now, 0.0)
        window.append(now)
        return None

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))

    def clear(self) -> None:
        self._admitted.clear()
        self.refused.clear()


@dataclass
class CallRecord:
    request_id: str
    time: float
    method: str
    path: str
    endpoint: str  # "POST /loyalty-accounts/v1/accounts/{accountId}/earn-points"
    body: Any = None
    instance_id: str | None = None
    status: int | None = None
    fault: str | None = None  # "status:429", "delay", "delay+status:500", "rate-limit"

    def public(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "instanceId": self.instance_id,
            "status": self.status,
            "fault": self.fault,
            "body": self.body,
        }


_REDACTED = {"client_secret", "clientSecret", "token"}


def redact(body: Any) -> Any:
    """A logged request body, without the secrets the OAuth endpoints receive."""
    if isinstance(body, dict):
        return {key: "***" if key in _REDACTED else value for key, value in body.items()}
    return body


class CallLog:
    """Every call to a Wix endpoint (not `/_fake/`), newest last, and counts per endpoint."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.records: deque[CallRecord] = deque(maxlen=MAX_LOGGED_CALLS)
        self.counts: Counter[str] = Counter()

    def start(self, request_id: str, method: str, path: str, endpoint: str, body: Any) -> CallRecord:
        record = CallRecord(request_id, self._clock(), method, path, endpoint, redact(body))
        self.records.append(record)
        self.counts[endpoint] += 1
        return record

    def view(self, instance_id: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
        calls = [
            record.public()
            for record in self.records
            if (instance_id is None or record.instance_id == instance_id)
            and (endpoint is None or record.endpoint == endpoint)
        ]
        counts: Counter[str] = Counter(call["endpoint"] for call in calls)
        if instance_id is None and endpoint is None:
            counts = self.counts  # includes calls the bounded log has already forgotten
        return {"total": sum(counts.values()), "counts": dict(counts), "calls": calls}

    def clear(self) -> None:
        self.records.clear()
        self.counts.clear()
