"""`birthdays`: the points of a program's `on: birthday` rules, once a year per contact.

Beat starts it every hour for every site with a program (celeryconfig.py); a site whose program has no
birthday rule is done at once. Its first batch picks the local days to go through (the program's
timezone): today, and the days since the last day it finished, at most `CATCH_UP_DAYS` back (a day the
job did not run is caught up; a site's first run does today only). Each batch reads a hundred contacts'
birthdates (Wix's `info.birthdate`, "YYYY-MM-DD"; `WixClient.query_contact_birthdates`) and earns each
contact whose birthday is one of those days; February 29 is February 28 in the other years. The last
batch keeps the last day done, so the later runs of the day find nothing to do.

Each earn's idempotency key is the contact's and the year's (worker/loyalty/points_rules.py), and its
intent is written in the member's outbox before it is sent (worker/store/outbox.py): a batch run again
after a crash, or a day gone through twice, earns nothing twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from worker import keys
from worker.engine.program import ProgramInvalid
from worker.identifiers import identifier_problem
from worker.jobs.runner import Batch, JobContext
from worker.loyalty.earn_limits import limit_earns
from worker.loyalty.points_gate import points_wait_reason
from worker.loyalty.points_limits import Activity
from worker.loyalty.points_rules import PointsEarn, birthday_points, has_birthday_rule
from worker.rewards.activity_points import send_earns
from worker.store import outbox
from worker.store.member_status import status_of
from worker.store.progress import NoProgram, ProgressStore

BATCH_SIZE = 100
CATCH_UP_DAYS = 3  # how many days back a missed day is still caught up
LAST_DAY_TTL_SECONDS = 30 * 24 * 3600


def birthday_on(birthdate: str, day: date) -> bool:
    """Whether a contact born on `birthdate` ("YYYY-MM-DD") has their birthday on `day`; a February 29
    birthday is on February 28 in a year without one. A date Wix should not send is no birthday."""
    try:
        born = date.fromisoformat(birthdate)
    except (TypeError, ValueError):
        return False
    if (born.month, born.day) == (day.month, day.day):
        return True
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    return (born.month, born.day) == (2, 29) and (day.month, day.day) == (2, 28) and not leap


def days_to_go_through(last_done: str | None, today: date) -> list[date]:
    """Today, after the days missed since `last_done` (at most CATCH_UP_DAYS back); none when today is
    done already."""
    first = today
    if last_done is not None:
        first = max(date.fromisoformat(last_done) + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def _birthdate(contact: dict[str, Any]) -> str | None:
    info = contact.get("info")
    value = info.get("birthdate") if isinstance(info, dict) else None
    return value if isinstance(value, str) else None


def birthdays(context: JobContext, record: dict[str, Any], now: datetime) -> Batch:
    """One page of contacts: the birthday earns of the days the first batch picked."""
    client, instance_id = context.redis, record["instanceId"]
    try:
        program = ProgressStore(client).program(instance_id)
    except (NoProgram, ProgramInvalid):
        return Batch(0, 0, [], None)
    if not has_birthday_rule(program):
        return Batch(0, 0, [], None, total=0)
    if record["cursor"] in (None, "", "0"):  # the first batch (the runner starts a job at "0")
        last_done = client.get(keys.birthdays_last_day(instance_id))
        today = now.astimezone(program.zone).date()
        days = days_to_go_through(last_done if isinstance(last_done, str) else None, today)
        offset = 0
    else:
        position = json.loads(record["cursor"])
        days, offset = [date.fromisoformat(day) for day in position["days"]], int(position["offset"])
    if not days:
        return Batch(0, 0, [], None, total=0)
    contacts, total = context.wix().query_contact_birthdates(instance_id, offset=offset, limit=BATCH_SIZE)
    earns: list[PointsEarn] = []
    for contact in contacts:
        contact_id, birthdate = contact.get("id"), _birthdate(contact)
        if not isinstance(contact_id, str) or identifier_problem(contact_id) or birthdate is None:
            continue
        for day in days:
            if birthday_on(birthdate, day) and status_of(client, instance_id, contact_id) == "live":
                birthday = Activity(instance_id, datetime.combine(day, datetime.min.time(), program.zone))
                due = birthday_points(program, instance_id, contact_id, day.year)
                earns.extend(limit_earns(client, program, birthday, due)[0])  # caps, once per earn
    _send(context, instance_id, earns)
    done = len({earn.contact_id for earn in earns})
    next_offset = offset + len(contacts)
    if contacts and next_offset < total:
        cursor = json.dumps({"days": [day.isoformat() for day in days], "offset": next_offset})
        return Batch(done, len(contacts) - done, [], cursor, total=total)
    client.set(keys.birthdays_last_day(instance_id), days[-1].isoformat(), ex=LAST_DAY_TTL_SECONDS)
    return Batch(done, len(contacts) - done, [], None, total=total)


def _send(context: JobContext, instance_id: str, earns: list[PointsEarn]) -> None:
    """The intents first (a send lost on its way is relayed), then the sends; parked while points wait."""
    if not earns:
        return
    client = context.redis
    waiting = points_wait_reason(client, instance_id) is not None
    if not waiting:
        for earn in earns:
            member_outbox = keys.member_outbox(instance_id, earn.contact_id)
            outbox.put(client, member_outbox, [outbox.earn_intent(instance_id, asdict(earn))], time.time())
    by_contact: dict[str, list[PointsEarn]] = {}
    for earn in earns:
        by_contact.setdefault(earn.contact_id, []).append(earn)
    for contact_earns in by_contact.values():
        send_earns(client, context.dispatcher(), instance_id, contact_earns, duplicate=False, waiting=waiting)
