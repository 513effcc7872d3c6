"""The console's Members page: find a member, show what the programme did for them, and the merchant's
actions on one member (grant a reward by hand, send a failed reward again, adjust Wix points, pause or
resume).

Every action is idempotent by an id minted into its form when the page renders (`mint_action_id`): the
action's mark (SET once), its effect and its audit entry are written in one MULTI, WATCHing the mark,
so a double click or a resubmitted form does the thing once and is audited once. The mark sits in the
effect's hash slot (Redis Cluster): `keys.member_action` under the member's tag for a grant or a pause,
`keys.console_action` under the instance's for a points change (its sync record and intent are the
instance's). The audit log is the instance's: on a cluster a member's action writes its entry right
after the MULTI commits (`audit_log.append_after_member_step`). What goes to Wix is written in that
MULTI as an outbox intent (worker/store/outbox.py) and sent right after; the relay sends it if the send is
lost:
- a granted reward is a reward log like the engine's (`new_reward_log`, its period key `manual-<id>`),
  fulfilled by the workers' normal path (a coupon made, points earned) and reported to automations;
- a failed reward is sent again by worker/rewards/resend.py (the Rewards page's path: once by its state);
- a points change is an inbound sync transaction (`console-<id>`, worker/sync/points.py): positive
  amounts are earned with that id as Wix's idempotency key, negative ones adjusted at the account's
  revision, and the outbound sync knows it as ours.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.console.sessions import Refused
from worker.dispatch import APPLY_EXTERNAL_POINTS, Dispatcher, queue_of
from worker.engine.program import Challenge, Milestone, Program, Streak
from worker.engine.recording import new_reward_log
from worker.engine.streaks import streak_runs
from worker.identifiers import identifier_problem
from worker.progress.member_progress import member_progress
from worker.progress.tiers import cached_tiers_program, tier_progress
from worker.rewards import resend
from worker.rewards.follow_ups import fulfil_new_rewards
from worker.settings import SettingsError
from worker.store import audit_log, outbox, stats
from worker.store.journal import EventJournal
from worker.store.member_status import Status, set_status, status_of
from worker.store.progress import NoProgram, ProgressStore
from worker.sync.member_directory import contact_for_email, link_of
from worker.sync.points import apply_intent
from worker.wix.client import WixError

logger = logging.getLogger(__name__)

WixProvider = Callable[[], Any]
ACTION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
ACTION_MARK_SECONDS = 30 * 24 * 3600
TIMELINE_PAGE = 20
MAX_POINTS = 1_000_000
MAX_REASON = 100


@dataclass
class Outcome:
    """What an action did: a notice for the page, or the problem (with its 4xx) when it was refused."""

    notice: str = ""
    problem: str = ""
    status: int = 200


@dataclass
class Found:
    contact_id: str | None
    message: str = ""


@dataclass
class Wallet:
    """The member's Wix loyalty account: `available` False when Wix could not answer now."""

    available: bool
    balance: int | None = None
    tier: str | None = None
    has_account: bool = False
    # The tier's name and what the next one needs (worker/progress/tiers.py); None without Wix tiers.
    tier_progress: dict[str, Any] | None = None


@dataclass
class MemberPage:
    contact_id: str
    email: str | None
    status: Status
    streaks: list[dict[str, Any]]
    challenges: list[dict[str, Any]]
    reward_logs: list[dict[str, Any]]
    closed: list[dict[str, Any]]
    wallet: Wallet
    timeline: list[dict[str, Any]]
    timeline_total: int
    page: int
    grantable: list[tuple[str, str]] = field(default_factory=list)
    action_ids: dict[str, str] = field(default_factory=dict)


def mint_action_id() -> str:
    return secrets.token_urlsafe(18)


# --- Finding a member ------------------------------------------------------------------------------------


def is_member(client: redis.Redis, instance_id: str, contact_id: str) -> bool:
    """A contact the programme knows: one with a log, or one in the site's contact directory."""
    return bool(client.sismember(keys.members(instance_id), contact_id)) or (
        link_of(client, instance_id, contact_id) is not None
    )


def find(client: redis.Redis, instance_id: str, query: str) -> Found:
    """The member a search names, by email (the contact directory) or by contact id."""
    wanted = query.strip()
    if not wanted:
        return Found(None)
    if len(wanted) > 320:
        return Found(None, "That is too long for an email or a contact id.")
    if "@" in wanted:
        contact_id = contact_for_email(client, instance_id, wanted)
        if contact_id is not None and is_member(client, instance_id, contact_id):
            return Found(contact_id)
        return Found(None, f"No such member: no contact of this site has the email {wanted}.")
    if identifier_problem(wanted) is None and is_member(client, instance_id, wanted):
        return Found(wanted)
    return Found(None, f"No such member: no member of this site has the contact id {wanted}.")


def checked_member(client: redis.Redis, instance_id: str, contact_id: str) -> str:
    """The contact id of the URL when it may stand in a key and the site knows the member, else 404."""
    if identifier_problem(contact_id) is not None or not is_member(client, instance_id, contact_id):
        raise Refused(404, "there is no such member on this site")
    return contact_id


# --- The member's page -----------------------------------------------------------------------------------


def wallet(wix: WixProvider, instance_id: str, contact_id: str, cache: redis.Redis | None = None) -> Wallet:
    """The member's points balance and tier, read from Wix now (the site's tiers program kept briefly in
    `cache`); `available` False when Wix cannot answer."""
    try:
        client = wix()
        if client is None:
            return Wallet(available=False)
        account = client.get_loyalty_account_by_contact(instance_id, contact_id)
    except (WixError, SettingsError) as exc:
        logger.warning("the loyalty account is not available now", extra={"reason": type(exc).__name__})
        return Wallet(available=False)
    if account is None:
        return Wallet(available=True)
    points = account.get("points")
    balance = points.get("balance") if isinstance(points, dict) else None
    tier = account.get("tier")
    tier_id = tier.get("id") if isinstance(tier, dict) else None
    try:
        progress = tier_progress(cached_tiers_program(client, instance_id, cache), account)
    except (WixError, redis.RedisError) as exc:
        logger.info("the tiers program is not available now", extra={"reason": type(exc).__name__})
        progress = None
    return Wallet(
        available=True,
        balance=balance if isinstance(balance, int) else 0,
        tier=tier_id if isinstance(tier_id, str) else None,
        has_account=True,
        tier_progress=progress,
    )


def _streak_history(
    store: ProgressStore, program: Program, instance_id: str, contact_id: str, now: datetime
) -> list[dict[str, Any]]:
    """Each streak with all its runs, the newest first (the first is the current one, when alive)."""
    shown = []
    for streak in program.streaks:
        state = store.member_state(instance_id, contact_id, "streak", streak.id)
        runs, _ = streak_runs(state.logs, streak, program.zone, now)
        shown.append({"streak": streak, "runs": [run.to_json(streak) for run in reversed(runs)]})
    return shown


def grantable(program: Program) -> list[tuple[str, str]]:
    """The milestones a reward can be granted from, as (`kind:itemId:milestoneId`, label)."""
    choices = []
    items: list[tuple[str, Streak | Challenge]] = [("streak", s) for s in program.streaks]
    items += [("challenge", c) for c in program.challenges]
    for kind, item in items:
        for milestone in item.milestones:
            reward = milestone.reward.type if milestone.reward else "manual"
            choices.append((f"{kind}:{item.id}:{milestone.id}", f"{item.name}: {milestone.name} ({reward})"))
    return choices


def member_page(
    client: redis.Redis,
    instance_id: str,
    contact_id: str,
    now: datetime,
    *,
    wix: WixProvider,
    journal_ttl: int,
    page: int = 1,
) -> MemberPage:
    store = ProgressStore(client)
    contact_id = checked_member(client, instance_id, contact_id)
    page = max(1, page)
    try:
        program = store.program(instance_id)
        progress = member_progress(store, instance_id, contact_id, now, wix=lambda: None)
        streaks = _streak_history(store, program, instance_id, contact_id, now)
        challenges, choices = progress["challenges"], grantable(program)
    except NoProgram:
        streaks, challenges, choices = [], [], []
    journal = EventJournal(client, journal_ttl)
    timeline, total = journal.member_events(
        instance_id, contact_id, offset=(page - 1) * TIMELINE_PAGE, limit=TIMELINE_PAGE
    )
    rewards = store.member_reward_logs(instance_id, contact_id)
    link = link_of(client, instance_id, contact_id) or {}
    return MemberPage(
        contact_id=contact_id,
        email=link.get("email"),
        status=status_of(client, instance_id, contact_id),
        streaks=streaks,
        challenges=challenges,
        reward_logs=sorted(rewards, key=lambda r: str(r.get("createdAt")), reverse=True),
        closed=store.closed_records(instance_id, contact_id),
        wallet=wallet(wix, instance_id, contact_id, client),
        timeline=timeline,
        timeline_total=total,
        page=page,
        grantable=choices,
        action_ids={name: mint_action_id() for name in ("grant", "points", "status", "resend")},
    )


# --- Actions ---------------------------------------------------------------------------------------------


def _action_id(form: Mapping[str, str]) -> str:
    action_id = form.get("action_id", "")
    if not ACTION_ID.fullmatch(action_id):
        raise Refused(400, "the form has no valid action id: reload the page and try again")
    return action_id


def _once(
    client: redis.Redis,
    instance_id: str,
    contact_id: str | None,
    action_id: str,
    audit_entry: str,
    effect: Callable[[Any], None],
) -> bool:
    """Apply `effect` (writes queued on the MULTI) with the action's mark and audit entry, unless the
    mark is already set; answers whether this call did it. The mark lives beside what the effect writes,
    so the MULTI stays in one hash slot (Redis Cluster): under the member's tag for an effect on the
    member's keys (`contact_id`; the audit entry then follows the MULTI on a cluster, see
    `audit_log.append_after_member_step`), under the instance's (`contact_id` None) for an effect on
    instance-wide keys, where the audit entry is in the same MULTI."""
    mark = (
        keys.member_action(instance_id, contact_id, action_id)
        if contact_id is not None
        else keys.console_action(instance_id, action_id)
    )
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(mark)  # type: ignore[no-untyped-call]
                if pipe.exists(mark):
                    pipe.reset()
                    return False
                pipe.multi()
                pipe.set(mark, str(time.time()), ex=ACTION_MARK_SECONDS)
                effect(pipe)
                if contact_id is None:
                    audit_log.append(pipe, instance_id, audit_entry)
                else:
                    audit_log.append_after_member_step(pipe, instance_id, audit_entry)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def _milestone(program: Program, choice: str) -> tuple[str, Streak | Challenge, Milestone]:
    kind, _, rest = choice.partition(":")
    item_id, _, milestone_id = rest.partition(":")
    item = (
        program.streak(item_id)
        if kind == "streak"
        else program.challenge(item_id)
        if kind == "challenge"
        else None
    )
    milestone = next((m for m in item.milestones if m.id == milestone_id), None) if item else None
    if item is None or milestone is None:
        raise Refused(400, f"the programme has no milestone {choice[:200]!r} to grant")
    return kind, item, milestone


def grant(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    form: Mapping[str, str],
    who: str,
    now: datetime,
) -> Outcome:
    """Grant the reward of the milestone the form picks, as a reward log the workers fulfil."""
    action_id = _action_id(form)
    contact_id = checked_member(client, instance_id, contact_id)
    try:
        program = ProgressStore(client).program(instance_id)
    except NoProgram:
        raise Refused(409, "the site has no programme yet: there is no reward to grant") from None
    kind, item, milestone = _milestone(program, form.get("milestone", ""))
    reward_log = new_reward_log(
        instance_id=instance_id, contact_id=contact_id, slug=kind, item=item,
        period_key=f"manual-{action_id}", milestone=milestone, now=now,
    )  # fmt: skip
    reward_log["grantedBy"] = who
    intents = outbox.reward_intents(instance_id, reward_log)
    member_outbox = keys.member_outbox(instance_id, contact_id)
    # Outside the member's slot, so before the MULTI (as worker/store/progress.py does): idempotent.
    client.hset(keys.reward_index(instance_id), reward_log["id"], contact_id)
    outbox.index(client, member_outbox, time.time())
    details = {
        "contactId": contact_id,
        "rewardLogId": reward_log["id"],
        "milestone": milestone.id,
        kind: item.id,
    }

    def effect(pipe: Any) -> None:
        pipe.set(keys.member_reward(instance_id, contact_id, reward_log["id"]), json.dumps(reward_log))
        pipe.zadd(keys.member_rewards(instance_id, contact_id), {reward_log["id"]: now.timestamp()})
        outbox.add(pipe, member_outbox, intents, time.time())
        stats.granted_counts(instance_id, reward_log, now).queue(pipe)  # counted with the grant, once

    entry = audit_log.entry(who, "member_reward_granted", details)
    if not _once(client, instance_id, contact_id, action_id, entry, effect):
        return Outcome(
            f"That grant of {milestone.name}'s reward was already made: nothing was granted again."
        )
    fulfil_new_rewards(follow_ups, instance_id, [reward_log])
    return Outcome(f"Granted {milestone.name}'s reward: reward log {reward_log['id']}.")


def send_again(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    form: Mapping[str, str],
    who: str,
) -> Outcome:
    """Send a failed reward log of this member to fulfilment again: the Rewards page's one path
    (worker/rewards/resend.py flips it `failed` → `pending` once, however often it is posted)."""
    contact_id = checked_member(client, instance_id, contact_id)
    reward_log_id = form.get("reward_log_id", "")
    if identifier_problem(reward_log_id) is not None:
        raise Refused(404, "this member has no such reward log")
    done = resend.send_again(client, follow_ups, instance_id, contact_id, reward_log_id, who)
    if done.result == "not_found":
        raise Refused(404, "this member has no such reward log")
    if done.result == "manual":
        return Outcome(problem=done.message, status=409)
    return Outcome(done.message)


def adjust_points(
    client: redis.Redis,
    follow_ups: Dispatcher,
    instance_id: str,
    contact_id: str,
    form: Mapping[str, str],
    who: str,
    ttl_seconds: int,
) -> Outcome:
    """Change the member's Wix points by a whole number with a reason (see the module's docstring)."""
    action_id = _action_id(form)
    contact_id = checked_member(client, instance_id, contact_id)
    try:
        amount = int(form.get("amount", "").strip())
    except ValueError:
        return Outcome(problem="Points: a whole number, e.g. 50 or -20.", status=422)
    reason = form.get("reason", "").strip()
    if amount == 0 or abs(amount) > MAX_POINTS:
        return Outcome(problem=f"Points: not 0, and at most {MAX_POINTS:,} either way.", status=422)
    if not reason or len(reason) > MAX_REASON:
        return Outcome(problem=f"Reason: say why, in 1 to {MAX_REASON} characters.", status=422)
    transaction_id = f"console-{action_id}"
    intent = apply_intent(instance_id, contact_id, transaction_id, amount, reason)
    record = {"status": "queued", "contactId": contact_id, "amount": amount, "source": "console"}
    sync_outbox = keys.sync_outbox(instance_id)
    outbox.index(client, sync_outbox, time.time())

    def effect(pipe: Any) -> None:
        # What worker/sync/points.py `accept_inbound` claims, in this MULTI: the record and the intent.
        pipe.set(keys.sync_inbound(instance_id, transaction_id), json.dumps(record), ex=ttl_seconds)
        outbox.add(pipe, sync_outbox, [intent], time.time())

    details = {"contactId": contact_id, "amount": amount, "reason": reason, "transactionId": transaction_id}
    entry = audit_log.entry(who, "member_points_adjusted", details)
    # The effect writes instance-wide sync keys (`{instanceId}`): the action's mark is the instance's.
    if not _once(client, instance_id, None, action_id, entry, effect):
        # The same words as the first answer's (a double click shows the page of its second submit).
        return Outcome(
            f"That points change ({amount:+,} points, {reason}) was already made: nothing was changed again."
        )
    follow_ups.resend(APPLY_EXTERNAL_POINTS, intent.kwargs, queue_of(APPLY_EXTERNAL_POINTS))
    return Outcome(f"{amount:+,} points are on their way to Wix ({reason}).")


def set_member_status(
    client: redis.Redis, instance_id: str, contact_id: str, form: Mapping[str, str], who: str
) -> Outcome:
    """Pause or resume the member in the programme (worker/store/member_status.py)."""
    action_id = _action_id(form)
    contact_id = checked_member(client, instance_id, contact_id)
    wanted = form.get("status", "")
    if wanted not in ("live", "paused"):
        return Outcome(problem="Status: live or paused.", status=422)
    status: Status = "paused" if wanted == "paused" else "live"
    action = "member_paused" if status == "paused" else "member_resumed"
    entry = audit_log.entry(who, action, {"contactId": contact_id})
    if not _once(
        client,
        instance_id,
        contact_id,
        action_id,
        entry,
        lambda pipe: set_status(pipe, instance_id, contact_id, status),
    ):
        return Outcome("That change was already made.")
    return Outcome(
        "Paused: their logs are kept and earn nothing."
        if status == "paused"
        else "Resumed: their logs count again."
    )
