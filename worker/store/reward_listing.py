"""Every reward log of an instance, newest first, filtered and paged (the console's Rewards page, the
admin API's `reward-logs`, the CSV export).

The instance's time index (`keys.reward_times`: reward log id → createdAt) is written with the id index,
before the MULTI that writes the reward log (worker/store/progress.py), and erased with the member. A page
walks it from the cursor downwards in batches (ZREVRANGEBYSCORE ... LIMIT), reads each batch's owners
(one HMGET of the id index) and logs (one pipelined round of GETs) and keeps those that pass the filters.

Cost of one page: O(log N + looked) Redis work in about 3 round trips per batch of `BATCH`, where `looked`
is how many index entries were read before the page filled — never more than `MAX_LOOKED` (so a filter
that matches almost nothing answers a short page and a cursor to go on, not a scan of the whole index).
The date range narrows the walk in the index itself; no read ever scans every log. An index entry whose
log is gone (a crash between the index write and the log's MULTI, or an erasure half-done) is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys

BATCH = 200
MAX_LOOKED = 5000
STATUSES = ("pending", "issued", "failed", "expired", "redeemed", "revoked")
KINDS = ("coupon", "points", "manual")


@dataclass(frozen=True)
class RewardFilters:
    """What a listing keeps (None: any). `since`/`until` bound createdAt in epoch seconds, both included."""

    status: str | None = None
    kind: str | None = None
    item: str | None = None
    milestone: str | None = None
    since: float | None = None
    until: float | None = None

    def keeps(self, reward_log: dict[str, Any]) -> bool:
        reward = reward_log.get("reward") or {}
        return (
            (self.status is None or reward_log.get("status") == self.status)
            and (self.kind is None or (reward.get("type") or "manual") == self.kind)
            and (self.item is None or reward_log.get("linkedSchemaRecordId") == self.item)
            and (self.milestone is None or reward_log.get("milestoneId") == self.milestone)
        )


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: below `score`, or at `score` below `reward_log_id` (ZREVRANGE order)."""

    score: float
    reward_log_id: str

    def text(self) -> str:
        return f"{self.score!r}:{self.reward_log_id}"


@dataclass(frozen=True)
class Page:
    reward_logs: list[dict[str, Any]]
    next: Cursor | None
    looked: int  # index entries read for this page


def _after(entries: list[tuple[str, float]], cursor: Cursor | None) -> list[tuple[str, float]]:
    """The entries strictly past the cursor (same-score ties come in reverse id order)."""
    if cursor is None:
        return entries
    return [(i, s) for i, s in entries if s < cursor.score or i < cursor.reward_log_id]


def _batches(
    client: redis.Redis, instance_id: str, filters: RewardFilters, cursor: Cursor | None
) -> Iterator[list[tuple[str, float]]]:
    """The index from the cursor down, a batch at a time, within the date range."""
    key = keys.reward_times(instance_id)
    low: float | str = filters.since if filters.since is not None else "-inf"
    tops = [top for top in (cursor.score if cursor else None, filters.until) if top is not None]
    high: float | str = min(tops) if tops else "+inf"
    offset = 0
    while True:
        raw: list[tuple[str, float]] = client.zrevrangebyscore(
            key, high, low, start=offset, num=BATCH, withscores=True
        )
        if not raw:
            return
        offset += len(raw)
        yield _after(raw, cursor)
        if len(raw) < BATCH:
            return


def _logs(client: redis.Redis, instance_id: str, ids: list[str]) -> list[dict[str, Any] | None]:
    owners: list[str | None] = client.hmget(keys.reward_index(instance_id), ids)  # type: ignore[assignment]
    with client.pipeline(transaction=False) as pipe:
        for reward_log_id, owner in zip(ids, owners, strict=True):
            pipe.get(keys.member_reward(instance_id, owner or "-", reward_log_id))
        raws = pipe.execute()
    return [json.loads(raw) if raw and owner else None for raw, owner in zip(raws, owners, strict=True)]


def page(
    client: redis.Redis,
    instance_id: str,
    filters: RewardFilters,
    *,
    limit: int,
    cursor: Cursor | None = None,
    max_looked: int = MAX_LOOKED,
) -> Page:
    """Up to `limit` reward logs past `cursor` that pass `filters`, newest first, and the cursor of the
    next page (None: nothing more). Stops after `max_looked` index entries with a cursor to go on."""
    found: list[dict[str, Any]] = []
    looked = 0
    last: Cursor | None = None
    for batch in _batches(client, instance_id, filters, cursor):
        logs = _logs(client, instance_id, [reward_log_id for reward_log_id, _ in batch])
        for (reward_log_id, score), reward_log in zip(batch, logs, strict=True):
            looked += 1
            last = Cursor(score, reward_log_id)
            if reward_log is not None and filters.keeps(reward_log):
                found.append(reward_log)
                if len(found) == limit:
                    return Page(found, last if _more(client, instance_id, filters, last) else None, looked)
            if looked >= max_looked:
                return Page(found, last if _more(client, instance_id, filters, last) else None, looked)
    return Page(found, None, looked)


def _more(client: redis.Redis, instance_id: str, filters: RewardFilters, cursor: Cursor) -> bool:
    """Whether the index has an entry past `cursor` in the date range (a next page may hold something)."""
    return any(batch for batch in _first(_batches(client, instance_id, filters, cursor)))


def _first(batches: Iterator[list[tuple[str, float]]]) -> Iterator[list[tuple[str, float]]]:
    for batch in batches:
        yield batch
        if batch:
            return


def walk(client: redis.Redis, instance_id: str, filters: RewardFilters, cap: int) -> Iterator[dict[str, Any]]:
    """Every reward log that passes `filters`, newest first, at most `cap` (the CSV export): read a
    batch at a time as it is consumed, so an export holds one batch in memory."""
    given = 0
    for batch in _batches(client, instance_id, filters, None):
        for reward_log in _logs(client, instance_id, [reward_log_id for reward_log_id, _ in batch]):
            if reward_log is not None and filters.keeps(reward_log):
                yield reward_log
                given += 1
                if given >= cap:
                    return
