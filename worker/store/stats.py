"""Analytics counts, written with the effect they count (issue 15; read by worker/analytics/overview.py).

Each count changes in the same atomic step as its effect, never by re-scanning at read time:
- a log, its milestones and new reward logs, a streak run started, a challenge completed: queued on the
  MULTI that writes the member's state (worker/store/progress.py); a redelivered log takes the duplicate
  path and counts nothing. Runs started and challenges completed are marked in the member's state
  (`counted`), so each counts once whatever later logs do.
- a reward log's status change (issued, failed, expired, redeemed) and a points reward's points: queued on
  the MULTI that changes the log (`update_reward_log`); a step that changes nothing counts nothing.
- a webhook handled: in the MULTI that settles its journal record, only when the record was not already
  processed (`queue_event`); a paid order and the revenue of a redeeming order: keyed by the order id
  (`count_paid_order`, `queue_redeemed_order`), and a rule's points by the earn's idempotency key
  (`count_points_earned`), in one Lua call each.
- a streak run closed as broken, a challenge failed: with the sweep's HSETNX of the closure (Lua).

The counts live under the instance's tag `{instanceId}` (worker/keys.py), so one Lua call writes a step's
counts in one hash slot. On one Redis that call joins the member's MULTI; on a Redis Cluster, where the
member's state is in its own slot (`{instanceId:contactId}`), it is made right after that MULTI commits
(`StorePipeline.after_commit`, worker/infra/redis_client.py), and a closure's counts right after its
HSETNX: a crash between the two loses the counts, never doubles them (README "The store on Redis Cluster").

Days are UTC days of when the effect happened (`now`). Each day's keys live STATS_TTL_SECONDS (a bit over
the 90 days read). Distinct members are HyperLogLogs (PFADD per day, PFCOUNT over the days): exact for a
few members, within about 0.81% for many. Money is kept in thousandths of the currency unit (HINCRBY,
exact for every currency's decimals) per currency.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import redis
from redis.cluster import RedisCluster

from worker import keys
from worker.engine.recording import Recorded
from worker.identifiers import identifier_problem

STATS_TTL_SECONDS = 100 * 86_400
MONEY_SCALE = 1000  # thousandths of a unit
REWARD_KINDS = ("coupon", "points", "manual")
COUNTED_STATUSES = ("issued", "failed", "expired", "redeemed")


def day_of(now: datetime) -> str:
    """The UTC day (`yyyy-mm-dd`) an effect at `now` counts on."""
    return (now.astimezone(UTC) if now.tzinfo else now).date().isoformat()


def item_field(kind: str, item_id: str, name: str) -> str:
    """The day hash's field for an item's own count (`|` is in no identifier, so fields never clash)."""
    return f"item|{kind}|{item_id}|{name}"


def item_stage(kind: str, item_id: str) -> str:
    return f"item|{kind}|{item_id}"


def reward_kind(reward_log: dict[str, Any]) -> str:
    """The reward's type (`coupon`, `points`, `manual`), `none` for a milestone without a reward."""
    reward = reward_log.get("reward")
    kind = reward.get("type") if isinstance(reward, dict) else None
    return kind if kind in REWARD_KINDS else "none"


MAX_AMOUNT = Decimal(10) ** 12  # larger is no order total; kept out, a counter stays within 64 bits


def money(amount: Any) -> int | None:
    """An amount in thousandths (None when it is not a finite decimal of at most MAX_AMOUNT)."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        return None
    return int((value * MONEY_SCALE).to_integral_value())


def currency_of(value: Any) -> str | None:
    """A currency code that may stand in a field name (three to ten letters), else None."""
    return value.upper() if isinstance(value, str) and value.isalpha() and 3 <= len(value) <= 10 else None


def member_digest(contact_id: str) -> str:
    """What the distinct-member counts add for a member (the same member, the same element)."""
    return hashlib.sha256(contact_id.encode()).hexdigest()[:24]


# KEYS: the day hash, the alive hash, then one HyperLogLog per stage. ARGV: the TTL; how many day-hash
# (field, amount) pairs, the pairs; how many alive-hash pairs, the pairs; then per HyperLogLog, how many
# members, the members.
_QUEUE = """
local ttl, i = ARGV[1], 3
local fields = tonumber(ARGV[2])
for _ = 1, fields do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
if fields > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
local alive = tonumber(ARGV[i]); i = i + 1
for _ = 1, alive do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
for k = 3, #KEYS do
  local n = tonumber(ARGV[i]); i = i + 1
  redis.call('PFADD', KEYS[k], unpack(ARGV, i, i + n - 1)); i = i + n
  redis.call('EXPIRE', KEYS[k], ttl)
end
return 1
"""


def _eval_in_step(pipe: Any, script: str, *arguments: Any) -> None:
    """Queue a Lua call of the instance's counts on `pipe`, a MULTI; on a Redis Cluster's MULTI (which
    takes no Lua, and whose keys are the member's slot) the call is made once the MULTI commits."""
    after_commit = getattr(pipe, "after_commit", None)
    if after_commit is None:
        pipe.eval(script, *arguments)
    else:
        after_commit(lambda client: client.eval(script, *arguments))


class Counts:
    """The counts of one step, queued on its MULTI by `queue`."""

    def __init__(self, instance_id: str, now: datetime) -> None:
        self.instance_id = instance_id
        self.day = day_of(now)
        self.fields: dict[str, int] = {}
        self.members: dict[str, set[str]] = {}
        self.alive: dict[str, int] = {}

    def add(self, field: str, amount: int = 1) -> None:
        if amount:
            self.fields[field] = self.fields.get(field, 0) + amount

    def member(self, stage: str, contact_id: str) -> None:
        """Count the member as distinct at `stage` by a digest of their id: a HyperLogLog keeps no id, but
        a digest keeps none anywhere (an erased member leaves nothing behind)."""
        self.members.setdefault(stage, set()).add(member_digest(contact_id))

    def alive_change(self, field: str, amount: int) -> None:
        self.alive[field] = self.alive.get(field, 0) + amount

    def reward_status(self, reward_log: dict[str, Any], status: str) -> None:
        """A reward log reached `status` (`created` or a counted one): in total, by kind, by item."""
        kind = reward_kind(reward_log)
        self.add(f"rewardLogs.{status}")
        self.add(f"rewardLogs.{status}.{kind}")
        item_kind, item_id = reward_log.get("linkedSchemaSlug"), reward_log.get("linkedSchemaRecordId")
        if isinstance(item_kind, str) and isinstance(item_id, str) and identifier_problem(item_id) is None:
            self.add(item_field(item_kind, item_id, f"rewardLogs.{status}"))
            self.add(item_field(item_kind, item_id, f"rewardLogs.{status}.{kind}"))
            if status == "issued" and kind == "points":
                self.add(item_field(item_kind, item_id, "points"), _reward_points(reward_log))
        if status == "issued" and kind == "points":
            self.add("points.rewards", _reward_points(reward_log))
        stage = {"issued": "issued", "redeemed": "redeemed"}.get(status)
        contact_id = reward_log.get("contactId")
        if stage and isinstance(contact_id, str):
            self.member(stage, contact_id)

    def queue(self, pipe: Any) -> None:
        """Queue the counts on `pipe` (a MULTI) as one Lua call (`_QUEUE`: one command to send, not a dozen),
        each day key kept STATS_TTL_SECONDS; nothing when there is nothing to count. On a Redis Cluster the
        counts (the instance's slot) cannot join a member's MULTI: they are written right after it commits
        (`after_commit`, worker/infra/redis_client.py), so a crash between the two loses them, never
        doubles them (README "The store on Redis Cluster")."""
        if not self:
            return
        stages = sorted(self.members)
        hlls = [keys.stats_members(self.instance_id, self.day, stage) for stage in stages]
        args: list[Any] = [STATS_TTL_SECONDS, len(self.fields)]
        for field, amount in self.fields.items():
            args += [field, amount]
        args.append(len(self.alive))
        for field, amount in self.alive.items():
            args += [field, amount]
        for stage in stages:
            args += [len(self.members[stage]), *sorted(self.members[stage])]
        day_key, alive_key = keys.stats_day(self.instance_id, self.day), keys.stats_alive(self.instance_id)
        _eval_in_step(pipe, _QUEUE, 2 + len(hlls), day_key, alive_key, *hlls, *args)

    def __bool__(self) -> bool:
        return bool(self.fields or self.members or self.alive)


def log_counts(
    instance_id: str,
    kind: str,
    item_id: str,
    contact_id: str,
    recorded: Recorded,
    counted: list[str],
    now: datetime,
) -> Counts:
    """What recording one log counts: the log, its milestones and reward logs, the member as active, a
    streak run started or completed and a challenge completed the first time (each marked in `counted`,
    the member's state's list, which the caller writes back in the same MULTI)."""
    counts = Counts(instance_id, now)
    if not recorded.applied:
        return counts  # a late log is kept, never counted
    counts.add("logs")
    counts.add(item_field(kind, item_id, "logs"))
    counts.member("logged", contact_id)
    counts.member(item_stage(kind, item_id), contact_id)
    for reward_log in recorded.reward_logs:
        counts.add("milestones")
        counts.add(item_field(kind, item_id, "milestones"))
        counts.reward_status(reward_log, "created")
        counts.member("milestone", contact_id)
    answer = recorded.answer
    if kind == "streak":
        run = answer.get("streakProgress") or {}
        run_id = run.get("periodKey") if run.get("streakStartedAt") else None
        if run_id and _first(counted, f"run:{run_id}"):
            _count_item(counts, kind, item_id, "streaks.started")
            counts.alive_change("streaks", 1)
            counts.alive_change(item_stage(kind, item_id), 1)
        if run_id and run.get("status") == "completed" and _first(counted, f"done:{run_id}"):
            _count_item(counts, kind, item_id, "streaks.completed")
            counts.alive_change("streaks", -1)
            counts.alive_change(item_stage(kind, item_id), -1)
    else:
        window = (answer.get("taskProgress") or {}).get("periodKey")
        status = (answer.get("challengeProgress") or {}).get("status")
        if window and status == "completed" and _first(counted, f"done:{window}"):
            _count_item(counts, kind, item_id, "challenges.completed")
    return counts


def granted_counts(instance_id: str, reward_log: dict[str, Any], now: datetime) -> Counts:
    """A reward log granted by hand (the console's member page): created, by kind and item (no milestone
    was achieved, so `milestones` stays)."""
    counts = Counts(instance_id, now)
    counts.reward_status(reward_log, "created")
    return counts


def _first(counted: list[str], mark: str) -> bool:
    """Whether `mark` is new to `counted` (then added)."""
    if mark in counted:
        return False
    counted.append(mark)
    return True


def _count_item(counts: Counts, kind: str, item_id: str, name: str) -> None:
    counts.add(name)
    counts.add(item_field(kind, item_id, name))


def _reward_points(reward_log: dict[str, Any]) -> int:
    reward = reward_log.get("reward")
    points = reward.get("points") if isinstance(reward, dict) else None
    return points if isinstance(points, int) else 0


def reward_change_counts(
    instance_id: str, before: dict[str, Any], after: dict[str, Any], now: datetime
) -> Counts:
    """What a reward log's change counts: its new status when the status changed to a counted one, and for
    a redemption the redeeming order's revenue once (`redeemed_order`, keyed by the order id)."""
    counts = Counts(instance_id, now)
    status = after.get("status")
    if status != before.get("status") and status in COUNTED_STATUSES:
        counts.reward_status(after, str(status))
    return counts


# KEYS: the order's counted-mark, the day hash. ARGV: the mark's TTL, then field, amount pairs. Counts only
# when the mark was not there yet.
_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


def _order_id(value: Any) -> str | None:
    return value if isinstance(value, str) and identifier_problem(value) is None else None


def queue_redeemed_order(pipe: Any, instance_id: str, redemption: dict[str, Any], now: datetime) -> None:
    """Queue on `pipe`: the redeeming order's total, once per order (two coupons on one order add it once)."""
    order_id = _order_id(redemption.get("orderId"))
    amount, currency = money(redemption.get("total")), currency_of(redemption.get("currency"))
    if order_id is None:
        return
    fields: list[Any] = ["ordersRedeemed", 1]
    if amount is not None and currency is not None:
        fields += [f"revenue.redeemed.{currency}", amount]
    mark = keys.stats_counted_order(instance_id, "redeemed", order_id)
    _eval_in_step(pipe, _ONCE, 2, mark, keys.stats_day(instance_id, day_of(now)), STATS_TTL_SECONDS, *fields)


def count_paid_order(
    client: redis.Redis,
    instance_id: str,
    order_id: str,
    total: Any,
    currency: Any,
    engaged: bool,
    now: datetime,
) -> bool:
    """Count a paid order once (keyed by its id), with its total as loyalty-driven revenue when `engaged`
    (its member had a streak alive or a challenge open); True when this call counted it."""
    checked = _order_id(order_id)
    if checked is None:
        return False
    fields: list[Any] = ["orders", 1]
    amount, code = money(total), currency_of(currency)
    if engaged:
        fields += ["ordersEngaged", 1]
        if amount is not None and code is not None:
            fields += [f"revenue.engaged.{code}", amount]
    mark = keys.stats_counted_order(instance_id, "paid", checked)
    day_key = keys.stats_day(instance_id, day_of(now))
    return bool(client.eval(_ONCE, 2, mark, day_key, str(STATS_TTL_SECONDS), *fields))


# KEYS: the journal record, the day hash. ARGV: the new status, the TTL. A record settled `processed` for
# the first time counts one webhook handled (queued first on the settling MULTI, so it sees the old status).
_EVENT = """
if ARGV[1] ~= 'processed' or redis.call('HGET', KEYS[1], 'status') == 'processed' then return 0 end
redis.call('HINCRBY', KEYS[2], 'events', 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


def queue_event(pipe: Any, record_key: str, instance_id: str, status: str, now: datetime) -> None:
    """Queue on the MULTI settling a journal record: one webhook handled, the first time it is processed."""
    pipe.eval(_EVENT, 2, record_key, keys.stats_day(instance_id, day_of(now)), status, str(STATS_TTL_SECONDS))


def count_event(client: redis.Redis, instance_id: str, now: datetime) -> None:
    """One webhook handled (a Redis Cluster's settling, which has read the record's old status itself)."""
    day_key = keys.stats_day(instance_id, day_of(now))
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(day_key, "events", 1)
        pipe.expire(day_key, STATS_TTL_SECONDS)
        pipe.execute()


# KEYS: the member's closed records, the day hash, the alive hash. ARGV: the record's field and JSON, the
# TTL, how many (field, amount) pairs of the day hash follow, those pairs, then the alive hash's pairs.
_CLOSURE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local day_end = 4 + 2 * tonumber(ARGV[4])
for i = 5, day_end, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = day_end + 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


def closure_counts(instance_id: str, kind: str, item_id: str, now: datetime) -> Counts:
    """What closing a record for good counts: a streak run broken (no longer alive), a challenge failed."""
    counts = Counts(instance_id, now)
    if kind == "streak":
        counts.add("streaks.broken")
        counts.add(item_field(kind, item_id, "streaks.broken"))
        counts.alive_change("streaks", -1)
        counts.alive_change(item_stage(kind, item_id), -1)
    else:
        counts.add("challenges.failed")
        counts.add(item_field(kind, item_id, "challenges.failed"))
    return counts


def save_closure(client: redis.Redis, closed_key: str, field: str, record: str, counts: Counts) -> bool:
    """HSETNX the closed record and, only when it is new, its counts, in one Lua call; on a Redis Cluster
    (the record in the member's slot, the counts in the instance's) the counts right after the record, by
    the one call that set it: a crash between loses them, never doubles them."""
    if isinstance(client, RedisCluster):
        if not client.hsetnx(closed_key, field, record):
            return False
        counts.queue(client)
        return True
    day_key = keys.stats_day(counts.instance_id, counts.day)
    alive_key = keys.stats_alive(counts.instance_id)
    args: list[Any] = [field, record, STATS_TTL_SECONDS, len(counts.fields)]
    for name, amount in [*counts.fields.items(), *counts.alive.items()]:
        args += [name, amount]
    return bool(client.eval(_CLOSURE, 3, closed_key, day_key, alive_key, *args))


def count_points_earned(
    client: redis.Redis, instance_id: str, idempotency_key: str, points: int, now: datetime
) -> bool:
    """Count points a rule earned on Wix, once per earn (keyed by its idempotency key, as Wix's earn is),
    after Wix earned them; True when this call counted them."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]  # any text, a fixed-shape key
    mark = keys.stats_counted_order(instance_id, "earn", digest)
    day_key = keys.stats_day(instance_id, day_of(now))
    return bool(client.eval(_ONCE, 2, mark, day_key, str(STATS_TTL_SECONDS), "points.rules", str(points)))
