"""The fake's own switches and read-back, under `/_fake/` (not Wix's API; never rate-limited,
faulted or logged as calls).

Seeding: `PUT /_fake/instances/{id}/program`, `POST /_fake/instances/{id}/orders`,
`PUT /_fake/instances/{id}/loyalty-app` (the Wix Loyalty Program app installed or not),
`POST /_fake/instances/{id}/accounts/{accountId}/adjust` (a points change made in Wix's dashboard),
`POST /_fake/instances/{id}/contacts`, `POST /_fake/instances/{id}/contacts/bulk`,
`POST /_fake/instances/{id}/members`, `POST /_fake/instances/{id}/member-tokens`,
`POST /_fake/instances/{id}/visitor-tokens`, `POST /_fake/instances/{id}/dashboard-tokens` (the
`instance` value of an app's dashboard page, a Wix user's token).
Read-back: `GET /_fake/instances/{id}` (everything), `GET /_fake/instances/{id}/{collection}`,
`GET /_fake/state`, `GET /_fake/calls` (`?instanceId=`, `?endpoint=`), `DELETE /_fake/calls`.
Switches: `POST|GET|DELETE /_fake/faults` (queued faults, or random ones at a `rate`),
`GET|PATCH /_fake/settings` (`rateLimitPerMinute`, `rateLimitWindowSeconds`, `requireContacts`, `webhookUrl`),
`POST /_fake/tokens/revoke`, `POST /_fake/reset`.
Also `GET /_fake/health` and `GET /_fake/public-key` (the PEM webhooks are signed with).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from worker.wix.fake import loyalty, loyalty_program
from worker.wix.fake.errors import Violations, invalid, json_object, not_found
from worker.wix.fake.members import member_object
from worker.wix.fake.oauth import fake_of
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID, contact_object
from worker.wix.fake.state import iso, new_id
from worker.wix.fake.traffic import FAULT_KINDS, Fault

router = APIRouter(prefix="/_fake", tags=["fake controls"])

COLLECTIONS = {
    "program",
    "contacts",
    "members",
    "orders",
    "accounts",
    "transactions",
    "coupons",
    "triggerReports",
    "ignoredTriggerReports",
    "canceledEvents",
    "conversations",
    "messages",
    "webhooks",
    "loyaltyRewards",
    "loyaltyCoupons",
}


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    fake = fake_of(request)
    return {"status": "ok", "appId": fake.settings.app_id, "publicKeyPath": fake.public_key_path}


@router.get("/public-key", response_class=PlainTextResponse)
async def public_key(request: Request) -> str:
    return fake_of(request).public_key_pem


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    fake_of(request).reset()
    return {"reset": True}


@router.get("/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return fake_of(request).settings.public()


@router.patch("/settings")
async def change_settings(request: Request) -> dict[str, Any]:
    """`{"rateLimitPerMinute": 200, "rateLimitWindowSeconds": 60, "requireContacts": false, "webhookUrl":
    "http://.../webhooks/wix"}`, any of them (`webhookUrl` null: the fake's own webhooks are kept, not
    posted; `rateLimitWindowSeconds`, Wix's minute unless a test shrinks it)."""
    fake, body = fake_of(request), await json_object(request)
    webhook_url = body.get("webhookUrl", fake.settings.webhook_url)
    if webhook_url is not None and (
        not isinstance(webhook_url, str) or not webhook_url.startswith(("http://", "https://"))
    ):
        raise invalid("webhookUrl", "an http(s) URL, or null", "FORMAT")
    limit = body.get("rateLimitPerMinute", fake.settings.rate_limit_per_minute)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise invalid("rateLimitPerMinute", "a whole number, 0 for no limit", "MIN")
    window = body.get("rateLimitWindowSeconds", fake.settings.rate_limit_window_seconds)
    if isinstance(window, bool) or not isinstance(window, int | float) or not 0 < window <= 3600:
        raise invalid("rateLimitWindowSeconds", "a number of seconds, more than 0 and at most 3600", "MIN")
    require = body.get("requireContacts", fake.settings.require_contacts)
    if not isinstance(require, bool):
        raise invalid("requireContacts", "true or false")
    fake.settings.rate_limit_per_minute = limit
    fake.settings.rate_limit_window_seconds = float(window)
    fake.settings.require_contacts = require
    fake.settings.webhook_url = webhook_url
    return fake.settings.public()


def _fault_from(body: dict[str, Any]) -> Fault:
    violations = Violations()
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        violations.add("count", "a whole number, at least 1", "MIN")
        count = 1
    status = body.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        violations.add("status", "429 or a 5xx", "FORMAT")
        status = None
    delay = body.get("delaySeconds", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        violations.add("delaySeconds", "a number of seconds, at least 0", "MIN")
        delay = 0
    if status is None and not delay:
        violations.add("status", "a fault needs a status, a delaySeconds, or both", "REQUIRED_FIELD")
    when = body.get("when", "before")
    if when not in ("before", "after"):
        violations.add("when", '"before" (wait, then handle) or "after" (handle, then wait)', "FORMAT")
    retry_after = body.get("retryAfter", 1)
    if retry_after is not None and not isinstance(retry_after, int | str):
        violations.add("retryAfter", "seconds, or null to send no Retry-After", "FORMAT")
    for name in ("pathPrefix", "method"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            violations.add(name, "a string", "FORMAT")
    violations.check()
    return Fault(
        remaining=count,
        status=status,
        delay_seconds=float(delay),
        delay_after=when == "after",
        path_prefix=body.get("pathPrefix") or "",
        method=body.get("method"),
        retry_after=None if retry_after is None else str(retry_after),
    )


def _random_faults_from(body: dict[str, Any]) -> dict[str, Any]:
    violations = Violations()
    rate = body.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        violations.add("rate", "a fraction of calls from 0 (off) to 1", "MIN_MAX")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        violations.add("seed", "a whole number", "FORMAT")
    kinds = body.get("kinds", list(FAULT_KINDS))
    if not isinstance(kinds, list) or not kinds or any(kind not in FAULT_KINDS for kind in kinds):
        violations.add("kinds", f"a list of {', '.join(FAULT_KINDS)}", "FORMAT")
    stall = body.get("stallSeconds", 0)
    if isinstance(stall, bool) or not isinstance(stall, int | float) or stall < 0:
        violations.add("stallSeconds", "seconds a timeout holds its answer before dropping it", "MIN")
    retry_after = body.get("retryAfter")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
        violations.add("retryAfter", "seconds for a 429's Retry-After, or null for none", "FORMAT")
    violations.check()
    return {
        "rate": float(rate or 0),
        "seed": seed,
        "kinds": tuple(dict.fromkeys(kinds)),
        "stall_seconds": float(stall),
        "retry_after": None if retry_after is None else str(retry_after),
    }


@router.post("/faults")
async def add_fault(request: Request) -> dict[str, Any]:
    """Either random faults, `{"rate": 0.3, "seed": 42, "kinds": ["429", "500", "timeout"],
    "stallSeconds": 0, "retryAfter": null}` (rate 0 turns them off; see `traffic.RandomFaults`), or
    a queued one, `{"count": N, "status": 429|5xx, "retryAfter": 1|null, "delaySeconds": D, "when":
    "before"|"after", "pathPrefix": "/stores/v2/coupons", "method": "POST"}`: the next N matching
    calls are delayed and/or answered `status`. Faults queue up in the order they were added, and go
    before random ones."""
    fake, body = fake_of(request), await json_object(request)
    if "rate" in body:
        fake.random_faults.configure(**_random_faults_from(body))
        return {"random": fake.random_faults.public()}
    fault = fake.faults.add(_fault_from(body))
    return {"fault": fault.public()}


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    """The queued faults, and the random ones (with what they did) while they are on."""
    fake = fake_of(request)
    answer: dict[str, Any] = {"faults": [fault.public() for fault in fake.faults.faults]}
    if fake.random_faults.rate > 0:
        answer["random"] = fake.random_faults.public()
    return answer


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    """Every fault off: the queued ones and the random ones."""
    fake_of(request).faults.clear()
    fake_of(request).random_faults.clear()
    return {"faults": []}


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request) -> dict[str, Any]:
    """`{}` revokes every token, `{"instanceId": ...}` one instance's: their next call is a 401."""
    body = await json_object(request)
    instance_id = body.get("instanceId")
    if instance_id is not None and not isinstance(instance_id, str):
        raise invalid("instanceId", "a string")
    return {"revoked": fake_of(request).revoke_tokens(instance_id)}


@router.post("/instances/{instance_id}/member-tokens")
async def member_token(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"memberId"}` → a token standing for a site member, as a site widget would get (§6.2)."""
    body = await json_object(request)
    member_id = body.get("memberId")
    if not isinstance(member_id, str) or not member_id:
        raise invalid("memberId", "memberId is required", "REQUIRED_FIELD")
    return {"token": fake_of(request).issue_token(instance_id, "MEMBER", member_id)}


@router.post("/instances/{instance_id}/visitor-tokens")
async def visitor_token(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"visitorId"}` (optional) → a token standing for an anonymous site visitor, as a site widget
    would get before anyone logs in (§6.2); token-info answers `subjectType: "VISITOR"`."""
    body = await json_object(request)
    visitor_id = body.get("visitorId") or new_id()
    if not isinstance(visitor_id, str):
        raise invalid("visitorId", "a string")
    return {
        "token": fake_of(request).issue_token(instance_id, "VISITOR", visitor_id),
        "visitorId": visitor_id,
    }


@router.post("/instances/{instance_id}/dashboard-tokens")
async def dashboard_token(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"userId", "appId"}` (each optional) → the `instance` value Wix's dashboard opens an app's page
    with, as a token (§6.2: pass it to Token Info): token-info answers `subjectType: "USER"` with the
    Wix user's id, `clientId` our app's id, or `appId`'s (another app's page on the same site)."""
    body = await json_object(request)
    user_id, app_id = body.get("userId") or new_id(), body.get("appId")
    if not isinstance(user_id, str):
        raise invalid("userId", "a string")
    if app_id is not None and (not isinstance(app_id, str) or not app_id):
        raise invalid("appId", "a non-empty string")
    token = fake_of(request).issue_token(instance_id, "USER", user_id, app_id=app_id)
    return {"instance": token, "userId": user_id}


@router.post("/instances/{instance_id}/members")
async def seed_member(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"id", "contactId", "loginEmail", "nickname"}` (each optional) → a site member (see `members`);
    the member's contact is added to the instance's contacts when it is not there yet."""
    fake, body = fake_of(request), await json_object(request)
    violations = Violations()
    fields = {
        "id": body.get("id") or new_id(),
        "contactId": body.get("contactId") or new_id(),
        "loginEmail": body.get("loginEmail", "janedoe@gmail.com"),
        "nickname": body.get("nickname", "Jane Doe"),
    }
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            violations.add(name, "a non-empty string", "FORMAT")
    violations.check()
    instance, now = fake.instance(instance_id), fake.clock()
    member = member_object(
        fields["id"],
        fields["contactId"],
        login_email=fields["loginEmail"],
        nickname=fields["nickname"],
        created=now,
    )
    instance.members[member["id"]] = member
    if member["contactId"] not in instance.contacts:
        first, _, last = fields["nickname"].partition(" ")
        instance.contacts[member["contactId"]] = contact_object(
            member["contactId"], email=fields["loginEmail"], first=first, last=last, created=now
        )
    return {"member": copy.deepcopy(member)}


@router.put("/instances/{instance_id}/program")
async def seed_program(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"name", "status": "ACTIVE"|"DRAFT"|"PAUSED", "pointDefinition"}`, merged into the program."""
    fake, body = fake_of(request), await json_object(request)
    program = fake.instance(instance_id).program
    program.update(copy.deepcopy(body))
    program["updatedDate"] = iso(fake.clock())
    return {"loyaltyProgram": copy.deepcopy(program)}


@router.put("/instances/{instance_id}/loyalty-app")
async def loyalty_app(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"installed": false}`: the site owner removes the Wix Loyalty Program app, so the program API
    answers 404; `{"installed": true}` installs it again, with a new DRAFT program."""
    fake, body = fake_of(request), await json_object(request)
    installed = body.get("installed")
    if not isinstance(installed, bool):
        raise invalid("installed", "true or false", "REQUIRED_FIELD")
    instance = fake.instance(instance_id)
    loyalty_program.set_loyalty_app(fake, instance, installed)
    return {"installed": instance.loyalty_app_installed, "loyaltyProgram": copy.deepcopy(instance.program)}


@router.post("/instances/{instance_id}/accounts/{account_id}/adjust")
async def dashboard_adjustment(instance_id: str, account_id: str, request: Request) -> dict[str, Any]:
    """`{"amount", "description"}`: the site owner adjusts points in the dashboard, so the transaction's
    `adjustInfo.appId` is the Wix Loyalty app's; answers `{"account", "transactionId"}`. No webhook is
    sent (post one as Wix would)."""
    fake, body = fake_of(request), await json_object(request)
    instance, amount, description = (
        fake.instance(instance_id),
        body.get("amount"),
        body.get("description", ""),
    )
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise invalid("amount", "a whole number, not 0")
    if account_id not in instance.accounts:
        raise not_found("Loyalty account", account_id)
    return loyalty.adjust(
        instance,
        instance.accounts[account_id],
        delta=amount,
        description=str(description),
        app_id=WIX_LOYALTY_APP_ID,
        now=iso(fake.clock()),
    )


@router.post("/instances/{instance_id}/orders")
async def seed_order(instance_id: str, request: Request) -> dict[str, Any]:
    """An order in Wix's shape (see `payloads.order_object`); the same id again replaces it."""
    fake, order = fake_of(request), await json_object(request)
    order.setdefault("id", new_id())
    if not isinstance(order["id"], str):
        raise invalid("id", "a string")
    fake.instance(instance_id).orders[order["id"]] = copy.deepcopy(order)
    return {"order": order}


@router.post("/instances/{instance_id}/contacts")
async def seed_contact(instance_id: str, request: Request) -> dict[str, Any]:
    """A contact in Wix's shape, or the short `{"id", "email", "first", "last"}`."""
    fake, body = fake_of(request), await json_object(request)
    contact_id = body.get("id") or new_id()
    if not isinstance(contact_id, str):
        raise invalid("id", "a string")
    if "info" in body or "primaryInfo" in body:
        contact = {**copy.deepcopy(body), "id": contact_id}
    else:
        contact = contact_object(
            contact_id,
            email=str(body.get("email", "janedoe@gmail.com")),
            first=str(body.get("first", "Jane")),
            last=str(body.get("last", "Doe")),
            created=fake.clock(),
        )
    fake.instance(instance_id).contacts[contact_id] = contact
    return {"contact": contact}


MAX_BULK_CONTACTS = 100_000


@router.post("/instances/{instance_id}/contacts/bulk")
async def seed_contacts(instance_id: str, request: Request) -> dict[str, Any]:
    """`{"count": N, "emailDomain": "example.com", "prefix": "contact"}` → N new contacts
    `contact-00001@example.com`, ... (numbered on from the instance's contacts), each created a
    millisecond after the one before; answers their ids in creation order and the new total."""
    fake, body = fake_of(request), await json_object(request)
    violations = Violations()
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK_CONTACTS:
        violations.add("count", f"a whole number from 1 to {MAX_BULK_CONTACTS}", "MIN_MAX")
        count = 0
    words = {"emailDomain": body.get("emailDomain", "example.com"), "prefix": body.get("prefix", "contact")}
    for name, value in words.items():
        if not isinstance(value, str) or not value:
            violations.add(name, "a non-empty string", "FORMAT")
    violations.check()
    domain, prefix = str(words["emailDomain"]), str(words["prefix"])
    contacts = fake.instance(instance_id).contacts
    start, now = len(contacts), fake.clock()
    ids: list[str] = []
    for index in range(start + 1, start + count + 1):
        contact_id = new_id()
        contacts[contact_id] = contact_object(
            contact_id,
            email=f"{prefix}-{index:05d}@{domain}",
            first=prefix.capitalize(),
            last=f"{index:05d}",
            created=now + (index - start - 1) / 1000,
        )
        ids.append(contact_id)
    return {"ids": ids, "total": len(contacts)}


@router.get("/instances/{instance_id}")
async def show_instance(instance_id: str, request: Request) -> dict[str, Any]:
    return copy.deepcopy(fake_of(request).peek(instance_id).snapshot())


@router.get("/instances/{instance_id}/{collection}")
async def show_collection(instance_id: str, collection: str, request: Request) -> dict[str, Any]:
    if collection not in COLLECTIONS:
        raise invalid("collection", f"one of {', '.join(sorted(COLLECTIONS))}")
    snapshot = fake_of(request).peek(instance_id).snapshot()
    return {collection: copy.deepcopy(snapshot[collection])}


@router.get("/state")
async def show_state(request: Request) -> dict[str, Any]:
    fake = fake_of(request)
    return {
        "settings": fake.settings.public(),
        "instances": {key: copy.deepcopy(state.snapshot()) for key, state in fake.instances.items()},
        "faults": [fault.public() for fault in fake.faults.faults],
        "randomFaults": fake.random_faults.public(),
        "rateLimited": dict(fake.limiter.refused),
    }


@router.get("/calls")
async def show_calls(request: Request) -> dict[str, Any]:
    """The call log (newest last) and counts per endpoint, e.g. `"POST /stores/v2/coupons": 3`."""
    params = request.query_params
    view = fake_of(request).calls.view(params.get("instanceId"), params.get("endpoint"))
    view["rateLimited"] = dict(fake_of(request).limiter.refused)
    return view


@router.delete("/calls")
async def clear_calls(request: Request) -> dict[str, Any]:
    fake_of(request).calls.clear()
    return {"total": 0}
