"""The analytics overview of one site over the last 7, 30 or 90 days (issue 15): per day and in total.

The answer (`overview`) is JSON:

    {"days": 7, "from": "2026-12-01", "to": "2026-12-07", "timezone": "UTC",
     "totals": TOTALS, "series": [{"date": "2026-12-01", **TOTALS}, ...],   # one per day, oldest first
     "byItem": [ITEM, ...], "funnel": FUNNEL}

TOTALS (and each day of the series) has:
    events        webhooks handled: events settled `processed` (each event id once, redeliveries not again)
    orders        paid orders counted (each order once)
    members       distinct members with a log (over the range: distinct over the days, approximate)
    logs          logs that counted (a repeated uniqueIdentifier or a late log does not)
    milestones    milestones achieved (= reward logs created)
    rewardLogs    {"created", "issued", "redeemed", "expired", "failed",
                   "byKind": {"coupon"|"points"|"manual"|"none": {"created", "issued", ...}}}
    streaks       {"started", "alive", "broken"}       alive: runs still going at the end of the day/range
    challenges    {"completed", "failed"}
    pointsEarned  points earned, rules and rewards together (int); "pointsEarnedBy": {"rules", "rewards"}
    redemptionRate  redeemed / issued (a float 0..1, 4 decimals; null when nothing was issued)
    revenue       {"currency": the main currency or null,
                   "redeemed": "12.50",   totals of paid orders that redeemed a reward (decimal string)
                   "engaged": "40.00",    totals of paid orders by members while a streak was alive or a
                                          challenge open
                   "byCurrency": {"USD": {"redeemed": "12.50", "engaged": "40.00"}}}

ITEM (one per streak and challenge of the programme, and any counted item since removed):
    {"kind": "streak"|"challenge", "id", "name" (null if removed), "logs", "members", "milestones",
     "rewardLogs": {... as above, with byKind}, "pointsEarned",
     "streaks": {"started", "alive", "broken"}  (kind streak; null for a challenge),
     "challenges": {"completed", "failed"}      (kind challenge; null for a streak)}

FUNNEL: distinct members over the range at each stage, approximate like `members`:
    {"logged", "milestone", "issued", "redeemed"}

Day buckets are UTC days (of when each effect happened; worker/store/stats.py writes them); `now` picks
the last one. Everything is read from the counters the effects wrote, a fixed number of Redis calls per range,
whatever the number of members: one Lua read of the day hashes and a pipeline of PFCOUNTs.

Counting notes: `members` and the funnel are HyperLogLogs (exact for small numbers, about ±0.81% for
many). `streaks.alive` is the runs started and not yet closed (broken, as the sweep finds them, or
completed), from the live gauge back through the days' changes; runs started before counting existed
are not in it (never below zero). A run is known by its first period: a late log that fills an earlier
period (within the grace) makes it a new run, counted as started again. `rewardLogs.failed` counts each
failure (a log failed, parked, then failed again counts twice). Revenue: "redeemed" adds each paid
order that redeemed one of our coupons once, "engaged" each paid order whose buyer had a streak alive
or a challenge open (worker/rewards/order_counts.py); amounts are per currency, `currency` the one with
the most revenue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis

from worker import keys
from worker.engine.program import ProgramInvalid
from worker.store import stats
from worker.store.progress import NoProgram, ProgressStore

ALLOWED_DAYS = (7, 30, 90)
REWARD_STATUSES = ("created", "issued", "redeemed", "expired", "failed")
REWARD_KINDS = (*stats.REWARD_KINDS, "none")
FUNNEL_STAGES = ("logged", "milestone", "issued", "redeemed")
ItemRef = tuple[str, str, str | None]  # kind, id, name (None: no longer in the programme)


class BadRange(ValueError):
    """`days` is not one of ALLOWED_DAYS."""


def _reward_logs(counts: dict[str, int], prefix: str = "") -> dict[str, Any]:
    answer: dict[str, Any] = {s: counts.get(f"{prefix}rewardLogs.{s}", 0) for s in REWARD_STATUSES}
    answer["byKind"] = {
        kind: {s: counts.get(f"{prefix}rewardLogs.{s}.{kind}", 0) for s in REWARD_STATUSES}
        for kind in REWARD_KINDS
    }
    return answer


def _rate(redeemed: int, issued: int) -> float | None:
    return round(redeemed / issued, 4) if issued else None


def _amount(thousandths: int) -> str:
    return str((Decimal(thousandths) / stats.MONEY_SCALE).quantize(Decimal("0.01")))


def _revenue(counts: dict[str, int]) -> dict[str, Any]:
    by_currency: dict[str, dict[str, int]] = {}
    for field, value in counts.items():
        parts = field.split(".")
        if len(parts) == 3 and parts[0] == "revenue" and parts[1] in ("redeemed", "engaged"):
            by_currency.setdefault(parts[2], {"redeemed": 0, "engaged": 0})[parts[1]] += value
    main = max(by_currency, key=lambda c: (sum(by_currency[c].values()), c), default=None)
    chosen = by_currency.get(main, {"redeemed": 0, "engaged": 0}) if main else {"redeemed": 0, "engaged": 0}
    return {
        "currency": main,
        "redeemed": _amount(chosen["redeemed"]),
        "engaged": _amount(chosen["engaged"]),
        "byCurrency": {
            code: {"redeemed": _amount(v["redeemed"]), "engaged": _amount(v["engaged"])}
            for code, v in sorted(by_currency.items())
        },
    }


def _figures(counts: dict[str, int], members: int, alive: int) -> dict[str, Any]:
    """TOTALS (see the module's docstring) from summed day-hash counts."""
    reward_logs = _reward_logs(counts)
    rules, rewards = counts.get("points.rules", 0), counts.get("points.rewards", 0)
    return {
        "events": counts.get("events", 0),
        "orders": counts.get("orders", 0),
        "members": members,
        "logs": counts.get("logs", 0),
        "milestones": counts.get("milestones", 0),
        "rewardLogs": reward_logs,
        "streaks": {
            "started": counts.get("streaks.started", 0),
            "alive": alive,
            "broken": counts.get("streaks.broken", 0),
        },
        "challenges": {
            "completed": counts.get("challenges.completed", 0),
            "failed": counts.get("challenges.failed", 0),
        },
        "pointsEarned": rules + rewards,
        "pointsEarnedBy": {"rules": rules, "rewards": rewards},
        "redemptionRate": _rate(reward_logs["redeemed"], reward_logs["issued"]),
        "revenue": _revenue(counts),
    }


# KEYS: the day hashes, oldest first. Answers each day's own fields (field, value, ...) and, last, the items'
# fields summed over the days: the per-item figures are only shown for the whole range, and summing them
# here sends a tenth of the data back (`make bench`: most of the overview's time was reading replies).
_READ_DAYS = """
local out, items = {}, {}
for i, key in ipairs(KEYS) do
  local flat, day = redis.call('HGETALL', key), {}
  for j = 1, #flat, 2 do
    if string.sub(flat[j], 1, 5) == 'item|' then
      items[flat[j]] = (items[flat[j]] or 0) + tonumber(flat[j + 1])
    else
      day[#day + 1] = flat[j]; day[#day + 1] = flat[j + 1]
    end
  end
  out[i] = day
end
local summed = {}
for field, value in pairs(items) do
  summed[#summed + 1] = field; summed[#summed + 1] = string.format('%.0f', value)
end
out[#KEYS + 1] = summed
return out
"""


def _pairs(flat: list[str]) -> dict[str, int]:
    return {flat[n]: int(flat[n + 1]) for n in range(0, len(flat), 2)}


def _summed(days: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in days:
        for field, value in counts.items():
            total[field] = total.get(field, 0) + value
    return total


def _alive_series(now_alive: int, day_counts: list[dict[str, int]], prefix: str = "") -> list[int]:
    """Runs alive at the end of each day: today's gauge, back through each later day's starts and ends."""
    series: list[int] = []
    alive = now_alive
    for counts in reversed(day_counts):
        series.append(max(alive, 0))
        started = counts.get(f"{prefix}streaks.started", 0)
        ended = counts.get(f"{prefix}streaks.broken", 0) + counts.get(f"{prefix}streaks.completed", 0)
        alive -= started - ended
    return list(reversed(series))


def _items(
    client: redis.Redis, instance_id: str, totals: dict[str, int]
) -> list[tuple[str, str, str | None]]:
    """(kind, id, name) of the programme's streaks and challenges, then of counted items since removed."""
    found: list[ItemRef] = []
    try:
        program = ProgressStore(client).program(instance_id)
        found += [("streak", s.id, s.name) for s in program.streaks]
        found += [("challenge", c.id, c.name) for c in program.challenges]
    except (NoProgram, ProgramInvalid):
        pass
    known = {(kind, item_id) for kind, item_id, _ in found}
    for field in sorted(totals):
        parts = field.split("|")
        if len(parts) == 4 and parts[0] == "item" and (parts[1], parts[2]) not in known:
            known.add((parts[1], parts[2]))
            found.append((parts[1], parts[2], None))
    return found


def _item(ref: ItemRef, totals: dict[str, int], members: int, alive: int) -> dict[str, Any]:
    """ITEM (see the module's docstring)."""
    kind, item_id, name = ref
    prefix = f"item|{kind}|{item_id}|"
    counts = {field.removeprefix(prefix): v for field, v in totals.items() if field.startswith(prefix)}
    return {
        "kind": kind,
        "id": item_id,
        "name": name,
        "logs": counts.get("logs", 0),
        "members": members,
        "milestones": counts.get("milestones", 0),
        "rewardLogs": _reward_logs(counts),
        "pointsEarned": counts.get("points", 0),
        "streaks": {
            "started": counts.get("streaks.started", 0),
            "alive": alive,
            "broken": counts.get("streaks.broken", 0),
        }
        if kind == "streak"
        else None,
        "challenges": {
            "completed": counts.get("challenges.completed", 0),
            "failed": counts.get("challenges.failed", 0),
        }
        if kind == "challenge"
        else None,
    }


def day_range(days: int, now: datetime) -> list[date]:
    """The `days` UTC days ending with `now`'s, oldest first; BadRange for another number of days."""
    if days not in ALLOWED_DAYS:
        raise BadRange(f"days must be one of {', '.join(map(str, ALLOWED_DAYS))}, not {days}")
    last = (now.astimezone(UTC) if now.tzinfo else now).date()
    return [last - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _pfcount(pipe: Any, *names: str) -> None:
    """PFCOUNT on a pipeline, as a plain command: redis-py's cluster pipeline refuses `pfcount()` by name
    (a PFCOUNT's keys may span slots), but these keys all share the instance's tag `{instanceId}`."""
    pipe.execute_command("PFCOUNT", *names)


def overview(client: redis.Redis, instance_id: str, days: int, now: datetime) -> dict[str, Any]:
    """The site's counts for the `days` UTC days ending with `now`'s (see the module's docstring)."""
    dates = [d.isoformat() for d in day_range(days, now)]
    with client.pipeline(transaction=False) as pipe:
        pipe.eval(_READ_DAYS, len(dates), *[keys.stats_day(instance_id, day) for day in dates])
        for day in dates:
            _pfcount(pipe, keys.stats_members(instance_id, day, "logged"))
        pipe.hgetall(keys.stats_alive(instance_id))
        for stage in FUNNEL_STAGES:
            _pfcount(pipe, *[keys.stats_members(instance_id, day, stage) for day in dates])
        answers = pipe.execute()
    *flat_days, flat_items = answers[0]
    day_counts = [_pairs(flat) for flat in flat_days]
    day_members = answers[1 : 1 + days]
    alive_now = {field: int(value) for field, value in answers[1 + days].items()}
    funnel = dict(zip(FUNNEL_STAGES, answers[2 + days :], strict=True))
    alive_days = _alive_series(alive_now.get("streaks", 0), day_counts)
    totals = _summed(day_counts) | _pairs(flat_items)
    items = _items(client, instance_id, totals)
    with client.pipeline(transaction=False) as pipe:
        for kind, item_id, _ in items:
            _pfcount(
                pipe,
                *[keys.stats_members(instance_id, day, stats.item_stage(kind, item_id)) for day in dates],
            )
        item_members = pipe.execute()
    by_item = []
    for (kind, item_id, name), members in zip(items, item_members, strict=True):
        stage = stats.item_stage(kind, item_id)
        alive = _alive_series(alive_now.get(stage, 0), day_counts, f"{stage}|")[-1] if kind == "streak" else 0
        by_item.append(_item((kind, item_id, name), totals, int(members), alive))
    return {
        "days": days,
        "from": dates[0],
        "to": dates[-1],
        "timezone": "UTC",
        "totals": _figures(totals, funnel["logged"], alive_days[-1]),
        "series": [
            {"date": day, **_figures(counts, int(members), alive)}
            for day, counts, members, alive in zip(dates, day_counts, day_members, alive_days, strict=True)
        ],
        "byItem": by_item,
        "funnel": funnel,
    }
