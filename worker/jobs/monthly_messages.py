"""`monthly-messages`: once a month, every loyalty member gets one Wix Inbox message with their balance.

Every loyalty account of the instance (`POST /loyalty-accounts/v1/accounts/query`, cursor-paged, a
hundred a batch) that has a `memberId` gets one message in its Inbox conversation (wix-facts.md §4.5):
the balance, the points name of the Wix program (`pointDefinition.customName`) and the call to action of
the widget's `default` template in its default locale (`Program.copy_for`). Accounts
without a `memberId` (contacts who never joined the site) are skipped, and so are members already
messaged this month.

Whom the conversation is with: `participantId.memberId`, not the contact id. The message is about a
member's account and is read in the site's chat while logged in; Wix keeps one conversation per
participant, so a member id reaches the conversation the member already sees on any device, where a
contact-id conversation would be a second one, read only through the contact's other channels. Every
account messaged has a member id by definition (the others are skipped). The conversation id is kept in
Redis (Wix's answer for a participant does not change), so a member costs one call a month, not two; a
404 on the send (conversations can be merged) forgets it and asks Wix again.

Once per member and month, whatever dies in between. Send Message takes no idempotency key, so a mark
set only before the send loses the message when the worker dies before sending, and a mark set only
after doubles it when the worker dies after. So each member has a mark per month in Redis
(`wrw:monthly-messages:{instance}:{YYYY-MM}`, a hash by member id), set on both sides of the send:

1. no mark: mark `sending` (with the time), send, mark `sent`;
2. `sent`: skip;
3. `sending`: an earlier attempt died (or lost Wix's answer) somewhere around its send, so the message
   may or may not be in Wix. List the conversation's messages newest first (`GET /inbox/v2/messages`),
   back to the mark's time less `CLOCK_MARGIN`, and look for this month's tag: a message from our app
   (`sender.appId`) whose one badge reads `Monthly balance YYYY-MM` (`badgeVisibility: BUSINESS`, so
   only the site's owner sees it in the Inbox). Found: mark `sent`. Not found: send as in 1. Too many
   messages to look through: a failure for this run, the mark left, nothing sent (a lost message is
   reported; a double one could not be taken back). UNCONFIRMED: that List Messages answers `badges`
   as they were sent (the Message object has them; the fake keeps them).

A send that cannot have left (Wix refused it with a 4xx; our own rate limit stopped it before the
request) clears the mark; one whose answer is unknown (timeout, 5xx, network) keeps `sending`, so the
next attempt looks before it sends. Two batches of one job never run at once (the job's running key;
a batch ends well inside the visibility timeout), so a `sending` mark is never a live send elsewhere.

The month is the job's start in the program's timezone (the program document's `timezone`; no program:
UTC), so a run that crosses midnight on the 1st stays in one month. Started by beat
(`periodic.start_job_everywhere` hourly with `local_day=1`, so only on the 1st where the program lives),
a run ends at once when this month's run already went through every account with nothing failed; by
hand (admin API, CLI) it runs any day and goes through every account: new members get this month's
message, nobody a second.

Pacing: every call takes a slot of the instance's shared Wix budget (`WixClient`); a spent budget is
waited out in place when a slot frees soon, else the batch ends with its progress and `wait_seconds`,
and the next batch goes on from the same account. A passing failure (429, 5xx, timeout) is tried again
in place (each call by the client; the member's whole step, which looks before it sends, here); one
that still fails ends the batch with its progress, stalled at that member (worker.jobs.runner: the job waits
and goes on from there, and fails only when batch after batch makes no progress). A member is never
recorded as failed for a failure that passes. `total` grows page by page (Wix's cursor paging gives
no total) and is exact when the job ends.
While the Wix loyalty program is not ACTIVE, nothing is sent and the job says why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis

from worker import keys
from worker.engine.program import Program, ProgramInvalid, parse_program
from worker.engine.storefront import DEFAULT_ID
from worker.jobs.runner import Batch, JobContext
from worker.store.progress import ProgressStore
from worker.wix.client import (
    WixApiError,
    WixClient,
    WixObject,
    WixRateLimited,
    WixTransientError,
    retry_in_place,
)

BATCH_SIZE = 100
INLINE_WAIT_SECONDS = 65.0  # a spent budget freeing within this long is waited for in place
CLOCK_MARGIN = timedelta(minutes=10)  # our clock against Wix's when looking for a sent message
MAX_MESSAGE_PAGES = 10  # pages of a conversation looked through for a sent message
MARK_TTL_SECONDS = 70 * 24 * 3600  # a month's marks outlive the month
CONVERSATION_TTL_SECONDS = 400 * 24 * 3600
SENDING, SENT = "sending", "sent"
TAG_PREFIX = "Monthly balance"

# The sentence before the call to action, by the template's language; English otherwise.
BALANCE_LINES = {
    "en": "Your balance this month: {balance} {points}.",
    "de": "Ihr Kontostand diesen Monat: {balance} {points}.",
}


# --- The month ---------------------------------------------------------------------------------------


def program_zone(client: redis.Redis, instance_id: str) -> ZoneInfo:
    """The timezone of the instance's program document; UTC without one (or with an unknown zone)."""
    stored = ProgressStore(client).program_document(instance_id)
    name = stored[1].get("timezone") if stored is not None else None
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    """`YYYY-MM` of the moment in the zone: 23:30 UTC on 31 March is already April in Berlin."""
    return moment.astimezone(zone).strftime("%Y-%m")


def _started_at(record: dict[str, Any], now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(record["startedAt"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return now


# --- Marks -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    state: str  # SENDING or SENT
    at: datetime
    message_id: str | None = None


class MonthMarks:
    """The members' marks for one instance and month."""

    def __init__(self, client: redis.Redis, instance_id: str, month: str) -> None:
        self._redis = client
        self._key = keys.monthly_messages_marks(instance_id, month)
        self._complete = keys.monthly_messages_complete(instance_id, month)

    def get(self, member_id: str) -> Mark | None:
        raw = self._redis.hget(self._key, member_id)
        if not raw:
            return None
        stored = json.loads(raw)  # type: ignore[arg-type]
        return Mark(stored["state"], datetime.fromisoformat(stored["at"]), stored.get("messageId"))

    def _set(self, member_id: str, mark: Mark) -> None:
        value = {"state": mark.state, "at": mark.at.isoformat(), "messageId": mark.message_id}
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, member_id, json.dumps(value))
            pipe.expire(self._key, MARK_TTL_SECONDS)
            pipe.execute()

    def sending(self, member_id: str, now: datetime) -> None:
        self._set(member_id, Mark(SENDING, now))

    def sent(self, member_id: str, message_id: str | None, now: datetime) -> None:
        self._set(member_id, Mark(SENT, now, message_id))

    def clear(self, member_id: str) -> None:
        self._redis.hdel(self._key, member_id)

    def complete(self) -> bool:
        return bool(self._redis.exists(self._complete))

    def mark_complete(self) -> None:
        self._redis.set(self._complete, "1", ex=MARK_TTL_SECONDS)


class Conversations:
    """Inbox conversation ids by member, asked of Wix once and kept."""

    def __init__(self, client: redis.Redis, wix: WixClient, instance_id: str) -> None:
        self._redis, self._wix, self.instance_id = client, wix, instance_id
        self._key = keys.inbox_conversations(instance_id)

    def of(self, member_id: str) -> str:
        known = self._redis.hget(self._key, member_id)
        if known:
            return str(known)
        conversation = self._wix.get_or_create_conversation(self.instance_id, {"memberId": member_id})
        conversation_id = conversation.get("id")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise WixTransientError("POST /inbox/v2/conversations: Wix answered without a conversation id")
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, member_id, conversation_id)
            pipe.expire(self._key, CONVERSATION_TTL_SECONDS)
            pipe.execute()
        return conversation_id

    def forget(self, member_id: str) -> None:
        self._redis.hdel(self._key, member_id)


# --- The message -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    """What every member gets this month, but for the balance."""

    tag: str
    points_name: str
    call_to_action: str
    line: str  # with {balance} and {points}

    def message(self, balance: int) -> dict[str, Any]:
        text = self.line.format(balance=balance, points=self.points_name)
        return {
            "direction": "BUSINESS_TO_PARTICIPANT",
            "visibility": "BUSINESS_AND_PARTICIPANT",
            "badges": [{"text": self.tag, "badgeVisibility": "BUSINESS"}],
            "content": {
                "previewText": text,
                "basic": {"items": [{"text": text}, {"text": self.call_to_action}]},
            },
        }


def month_tag(month: str) -> str:
    return f"{TAG_PREFIX} {month}"


def letter_for(client: redis.Redis, instance_id: str, wix_program: WixObject, month: str) -> Letter:
    """The month's letter: the Wix program's points name, the default template's call to action."""
    definition = wix_program.get("pointDefinition")
    custom_name = definition.get("customName") if isinstance(definition, dict) else None
    points_name = custom_name if isinstance(custom_name, str) and custom_name else "points"
    program = _program(client, instance_id)
    locale = program.template(DEFAULT_ID).defaultLocale
    line = BALANCE_LINES.get(locale.split("-")[0].lower(), BALANCE_LINES["en"])
    call_to_action = program.copy_for(DEFAULT_ID)["callToAction"]
    return Letter(month_tag(month), points_name, call_to_action, line)


def _program(client: redis.Redis, instance_id: str) -> Program:
    """Our program document (for the widget copy); the built-in copy without a usable one."""
    stored = ProgressStore(client).program_document(instance_id)
    if stored is not None:
        try:
            return parse_program(stored[1])
        except ProgramInvalid:
            pass
    return parse_program({})


def _balance(account: WixObject) -> int:
    points = account.get("points")
    balance = points.get("balance") if isinstance(points, dict) else None
    return int(balance) if isinstance(balance, int | float) and not isinstance(balance, bool) else 0


def _created(message: WixObject) -> datetime | None:
    raw = message.get("createdDate")
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Unverified(Exception):
    """Whether the month's message went out could not be told; nothing is sent."""


def find_sent(
    wix: WixClient, instance_id: str, conversation_id: str, tag: str, since: datetime
) -> str | None:
    """The id of our app's message tagged `tag` in the conversation, looking back to `since`; None if
    there is none. Raises `Unverified` when `MAX_MESSAGE_PAGES` pages did not reach back that far."""
    cursor: str | None = None
    for _ in range(MAX_MESSAGE_PAGES):
        messages, cursor = wix.list_messages(instance_id, conversation_id, cursor=cursor)
        for message in messages:
            sender = message.get("sender")
            badges = message.get("badges")
            ours = isinstance(sender, dict) and sender.get("appId") == wix.app_id
            tagged = isinstance(badges, list) and any(
                isinstance(badge, dict) and badge.get("text") == tag for badge in badges
            )
            if ours and tagged:
                return str(message.get("id") or "") or None
            created = _created(message)
            if created is not None and created < since:
                return None  # newest first: the rest are older still
        if cursor is None:
            return None
    raise Unverified(f"more than {MAX_MESSAGE_PAGES} pages of messages since {since.isoformat()}")


# --- One member --------------------------------------------------------------------------------------


def message_member(
    wix: WixClient,
    marks: MonthMarks,
    conversations: Conversations,
    member_id: str,
    balance: int,
    letter: Letter,
    now: datetime,
) -> bool:
    """Give the member this month's message once: True when it went out now (or an earlier attempt's
    was found in Wix), False when the member was already marked as messaged this month."""
    instance_id = conversations.instance_id
    mark = marks.get(member_id)
    if mark is not None and mark.state == SENT:
        return False
    conversation_id = conversations.of(member_id)
    if mark is not None:  # SENDING: an earlier attempt may have sent it
        found = find_sent(wix, instance_id, conversation_id, letter.tag, mark.at - CLOCK_MARGIN)
        if found is not None:
            marks.sent(member_id, found, now)
            return True
    marks.sending(member_id, now)
    message = letter.message(balance)
    try:
        try:
            sent = wix.send_message(instance_id, conversation_id, message)
        except WixApiError as exc:
            if exc.status != 404:
                raise
            conversations.forget(member_id)  # merged or gone: ask Wix for the member's conversation
            sent = wix.send_message(instance_id, conversations.of(member_id), message)
    except (WixApiError, WixRateLimited):
        marks.clear(member_id)  # refused, or never left: nothing was sent
        raise
    except WixTransientError as exc:
        if not exc.maybe_done:  # a 429, no connection: Wix did nothing, no need to look next time
            marks.clear(member_id)
        raise
    message_id = sent.get("id")
    marks.sent(member_id, message_id if isinstance(message_id, str) else None, now)
    return True


# --- The job kind ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where the job is: the Wix cursor of the current page (None: the first), how many of that page's
    accounts are done, how many accounts came before it (`tries` is no longer used: worker.jobs.runner counts
    the stalls; kept so that cursors written before still decode)."""

    page: str | None = None
    at: int = 0
    seen: int = 0
    tries: int = 0

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: Any) -> Position:
        if not raw or raw == "0":
            return cls()
        return cls(**json.loads(raw))


def monthly_messages(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """`monthly-messages`: one page of loyalty accounts, each member messaged once this month."""
    client, wix, instance_id = context.redis, context.wix(), record["instanceId"]
    position = Position.decode(record["cursor"])
    month = month_of(_started_at(record, now), program_zone(client, instance_id))
    marks = MonthMarks(client, instance_id, month)
    if position == Position() and record.get("startedBy") == "beat" and marks.complete():
        return Batch(0, 0, [], None, total=0)  # this month's run is done; beat's next ones need not scan
    try:
        wix_program = wix.get_loyalty_program(instance_id)
        if wix_program.get("status") != "ACTIVE":
            reason = f"the loyalty program is {wix_program.get('status')}: no balance messages sent"
            return Batch(0, 0, [reason], None)
        accounts, next_page = wix.query_loyalty_accounts(instance_id, cursor=position.page, limit=BATCH_SIZE)
    except WixRateLimited as exc:
        return Batch(0, 0, [], position.encode(), wait_seconds=exc.retry_after or 1.0)
    letter = letter_for(client, instance_id, wix_program, month)
    conversations = Conversations(client, wix, instance_id)
    total = position.seen + len(accounts)
    deadline = time.monotonic() + context.batch_seconds
    done = skipped = 0
    failures: list[str] = []
    index = position.at

    def stop(wait: float = 0.0, stalled: WixTransientError | None = None, member: str = "") -> Batch:
        cursor = replace(position, at=index, tries=0).encode()
        if stalled is None:
            return Batch(done, skipped, failures, cursor, total=total, wait_seconds=wait)
        reason, retry_after = f"member {member}: {stalled}", stalled.retry_after
        return Batch(done, skipped, failures, cursor, total, stalled=reason, retry_after=retry_after)

    while index < len(accounts):
        if time.monotonic() > deadline:  # keep the task well inside its time limit: go on in the next
            return stop()
        account = accounts[index]
        member_id = account.get("memberId")
        if not isinstance(member_id, str) or not member_id:
            skipped, index = skipped + 1, index + 1
            continue
        try:
            member = partial(
                message_member, wix, marks, conversations, member_id, _balance(account), letter, now
            )
            again = partial(retry_in_place, member, deadline=deadline, base=2 * wix.retry_base)
            sent = _with_inline_wait(again, deadline)
        except WixRateLimited as exc:
            return stop(exc.retry_after or 1.0)  # still spent: go on from this member later
        except WixTransientError as exc:
            return stop(stalled=exc, member=member_id)  # still failing: this member again, later
        except (WixApiError, Unverified) as exc:
            failures.append(f"member {member_id}: {exc}")
        else:
            done, skipped = (done + 1, skipped) if sent else (done, skipped + 1)
        index += 1
    if next_page is None:
        if not failures and not record["failed"]:
            marks.mark_complete()
        return Batch(done, skipped, failures, None, total=total)
    following = Position(page=next_page, seen=total).encode()
    return Batch(done, skipped, failures, following, total=total)


def _with_inline_wait(call: Callable[[], bool], deadline: float) -> bool:
    """`call()`, once more after sleeping when the budget is spent and a slot frees soon enough."""
    try:
        return call()
    except WixRateLimited as exc:
        wait = exc.retry_after or 1.0
        if wait > INLINE_WAIT_SECONDS or time.monotonic() + wait >= deadline:
            raise
        time.sleep(wait)  # a slot frees within the minute: wait for it here
        return call()
