"""Loyalty accounts and the loyalty program (wix-facts.md §4.2, §3.4, §3.5; accounts.service.json).

Accounts answer as `{"account": {id, contactId, memberId (when the contact is a seeded site member),
points {balance, earned, redeemed, adjusted}, rewardAvailable, createdDate, updatedDate,
lastActivityDate, revision}}`, `revision` a string that grows by one with every change. There is no
`latestTransaction`: no published build of `@wix/loyalty` has it (wix-facts.md §8). Earn and adjust
answer `{"account", "transactionId"}` (`EarnPointsResponse`, `AdjustPointsResponse`).

Transactions (`@wix/auto_sdk_loyalty_transactions` 1.0.40 `LoyaltyTransaction`): `{id, accountId,
amount, transactionType (EARN|ADJUST|...), description, idempotencyKey (earn only), createdDate,
earnInfo {appId} | adjustInfo {appId, amountBefore, amountAfter}}`, read with `GET
/loyalty-transactions/v1/loyalty-transactions/{id}` and `POST .../loyalty-transactions/query`
(`{"query": {"filter", "sort", "cursorPaging"}}` → `{"loyaltyTransactions", "pagingMetadata"}`, oldest
first unless sorted).

UNCONFIRMED choices (Wix documents no custom errors for these methods):
- a second account for a contact: 400 with an applicationError `LOYALTY_ACCOUNT_ALREADY_EXISTS`,
  deliberately not a 409 (wix-facts.md §8: no error is declared for it; look the account up);
- earn-points without a description, or with an empty one: 400 (`EarnPointsRequest.description` has
  minLength 1 in `@wix/loyalty`); adjust-points with an empty one: 400 (the same);
- earn-points again with an `idempotencyKey` already used on the account: 200 with the first call's
  answer, nothing earned (whatever the amount this time);
- adjust-points with a `revision` that is not the account's: 409 `ABORTED`; without one: 400;
- a balance that would go below zero: 400;
- writes while the program is not ACTIVE: 428 `FAILED_PRECONDITION`;
- fetch-by takes `?contactId=` or `?memberId=`.

The program (seed 003) is worker.wix.fake.loyalty_program.
"""

from __future__ import annotations

import copy
from functools import cmp_to_key
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import (
    ABORTED,
    FAILED_PRECONDITION,
    NOT_FOUND,
    Violations,
    WixError,
    invalid,
    json_object,
    not_found,
)
from worker.wix.fake.loyalty_tiers import announce, recalculate
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.query import compare_keys, cursor_page, matches, parse_filter, parse_sort, sort_key
from worker.wix.fake.state import InstanceState, iso, new_id

router = APIRouter(tags=["loyalty"])

MAX_POINTS = 9_999_999
MAX_DESCRIPTION = 100
MAX_IDEMPOTENCY_KEY = 128
LOYALTY_ACCOUNT_ALREADY_EXISTS = "LOYALTY_ACCOUNT_ALREADY_EXISTS"  # UNCONFIRMED: Wix declares no code


def _require_active_program(instance: InstanceState) -> None:
    if instance.program.get("status") != "ACTIVE":
        raise WixError(
            428,
            "Loyalty program is not active",
            FAILED_PRECONDITION,
            "the site's loyalty program is not ACTIVE",
        )


def _account(instance: InstanceState, account_id: str) -> dict[str, Any]:
    account = instance.accounts.get(account_id)
    if account is None:
        raise not_found("Loyalty account", account_id)
    return account


def _answer(account: dict[str, Any]) -> dict[str, Any]:
    return {"account": copy.deepcopy(account)}


def record_transaction(
    instance: InstanceState, account: dict[str, Any], transaction: dict[str, Any], now: str
) -> dict[str, Any]:
    """Keep a transaction in Wix's published shape and move the account on; answers
    `{"account", "transactionId"}` as earn and adjust do."""
    account["revision"] = str(int(account["revision"]) + 1)
    account["updatedDate"] = now
    account["lastActivityDate"] = now
    instance.transactions.append(
        {"id": new_id(), "accountId": account["id"], "createdDate": now, **copy.deepcopy(transaction)}
    )
    recalculate(instance, account, now)  # the account's `tier`, while the site's tiers are ACTIVE
    return {"account": copy.deepcopy(account), "transactionId": instance.transactions[-1]["id"]}


def _optional_description(body: dict[str, Any], violations: Violations, *, required: bool = False) -> str:
    """1 to 100 characters when given (`@wix/loyalty`: minLength 1, maxLength 100); `required` for earn."""
    description = body.get("description")
    if description is None and not required:
        return ""
    if not isinstance(description, str) or not 1 <= len(description) <= MAX_DESCRIPTION:
        violations.add("description", f"1 to {MAX_DESCRIPTION} characters", "MIN_MAX_LENGTH")
        return ""
    return description


def _points(value: Any, field: str, violations: Violations, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_POINTS:
        violations.add(field, f"must be a whole number from {minimum} to {MAX_POINTS}", "MIN_MAX")
        return 0
    return int(value)


def _signed_points(value: Any, violations: Violations) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or abs(value) > MAX_POINTS:
        violations.add(
            "amount", f"must be a whole number, not 0, from -{MAX_POINTS} to {MAX_POINTS}", "MIN_MAX"
        )
        return 0
    return int(value)


@router.post("/loyalty-accounts/v1/accounts")
async def create_account(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"contactId"}` → a new account with revision "1"; one account per contact."""
    body = await json_object(request)
    contact_id = body.get("contactId")
    if not isinstance(contact_id, str) or not contact_id:
        raise invalid("contactId", "contactId is required", "REQUIRED_FIELD")
    instance = caller.instance
    _require_active_program(instance)
    if caller.fake.settings.require_contacts and contact_id not in instance.contacts:
        raise WixError(404, "Contact not found", NOT_FOUND, f"no contact {contact_id} on this site")
    if instance.account_for_contact(contact_id) is not None:
        raise WixError(
            400,
            "Loyalty account already exists",
            LOYALTY_ACCOUNT_ALREADY_EXISTS,
            f"the contact {contact_id} already has a loyalty account",
        )
    now = iso(caller.fake.clock())
    account: dict[str, Any] = {
        "id": new_id(),
        "contactId": contact_id,
        "points": {"balance": 0, "earned": 0, "redeemed": 0, "adjusted": 0},
        "rewardAvailable": False,
        "createdDate": now,
        "updatedDate": now,
        "revision": "1",
    }
    # A site member's account carries the member id, as Wix's does (a contact is a member at most once).
    member = next((m for m in instance.members.values() if m.get("contactId") == contact_id), None)
    if member is not None:
        account["memberId"] = member["id"]
    instance.accounts[account["id"]] = account
    return _answer(account)


@router.get("/loyalty-accounts/v1/accounts/fetch-by")
async def get_account_by_secondary_id(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`?contactId=` (or `?memberId=`) → that contact's account, or 404."""
    params = request.query_params
    contact_id = params.get("contactId") or params.get("contact_id") or params.get("id.contactId")
    member_id = params.get("memberId") or params.get("member_id") or params.get("id.memberId")
    if not contact_id and not member_id:
        raise invalid("id", "one of contactId or memberId is required", "REQUIRED_FIELD")
    for account in caller.instance.accounts.values():
        if (contact_id and account["contactId"] == contact_id) or (
            member_id and account.get("memberId") == member_id
        ):
            return _answer(account)
    raise not_found("Loyalty account", str(contact_id or member_id))


@router.post("/loyalty-accounts/v1/accounts/query")
async def query_accounts(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {"filter", "cursorPaging"}}` → `{"loyaltyAccounts", "pagingMetadata"}`, oldest first."""
    body = await json_object(request)
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise invalid("query", "query must be an object")
    query_filter = parse_filter(query.get("filter"))
    found = [account for account in caller.instance.accounts.values() if matches(account, query_filter)]
    page, metadata = cursor_page([copy.deepcopy(account) for account in found], query.get("cursorPaging"))
    return {"loyaltyAccounts": page, "pagingMetadata": metadata}


@router.get("/loyalty-accounts/v1/accounts/{account_id}")
async def get_account(account_id: str, caller: CallerDep) -> dict[str, Any]:
    """The account by id, or 404."""
    return _answer(_account(caller.instance, account_id))


@router.post("/loyalty-accounts/v1/accounts/{account_id}/earn-points")
async def earn_points(account_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{amount, description, appId, idempotencyKey}` → `{account, transactionId}`; a key already used
    on this account answers as the first call did, earning nothing."""
    body = await json_object(request)
    violations = Violations()
    amount = _points(body.get("amount"), "amount", violations, minimum=1)
    description = _optional_description(body, violations, required=True)
    for name in ("appId", "idempotencyKey"):
        if not isinstance(body.get(name), str) or not body[name]:
            violations.add(name, f"{name} is required", "REQUIRED_FIELD")
    key = body.get("idempotencyKey")
    if isinstance(key, str) and len(key) > MAX_IDEMPOTENCY_KEY:
        violations.add("idempotencyKey", f"at most {MAX_IDEMPOTENCY_KEY} characters", "MAX_LENGTH")
    violations.check()
    account = _account(caller.instance, account_id)
    earlier = caller.instance.earn_results.get((account_id, str(key)))
    if earlier is not None:
        return copy.deepcopy(earlier)
    _require_active_program(caller.instance)
    account["points"]["balance"] += amount
    account["points"]["earned"] += amount
    transaction = {
        "amount": amount,
        "transactionType": "EARN",
        "description": description,
        "idempotencyKey": key,
        "earnInfo": {"appId": body["appId"]},
    }
    answer = record_transaction(caller.instance, account, transaction, iso(caller.fake.clock()))
    caller.instance.earn_results[(account_id, str(key))] = copy.deepcopy(answer)
    announce(caller.fake, caller.instance, account_id)
    return answer


@router.post("/loyalty-accounts/v1/accounts/{account_id}/adjust-points")
async def adjust_points(account_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{amount | balance, revision, description}` → `{account, transactionId}`; a stale revision is a 409."""
    body = await json_object(request)
    violations = Violations()
    has_amount, has_balance = body.get("amount") is not None, body.get("balance") is not None
    if has_amount == has_balance:
        violations.add("amount", "exactly one of amount or balance is required", "ONE_OF")
    amount = _signed_points(body.get("amount"), violations) if has_amount else 0
    balance = _points(body.get("balance"), "balance", violations, minimum=0) if has_balance else 0
    description = _optional_description(body, violations)
    revision = body.get("revision")
    if isinstance(revision, int) and not isinstance(revision, bool):
        revision = str(revision)
    if not isinstance(revision, str) or not revision:
        violations.add("revision", "the account's current revision is required", "REQUIRED_FIELD")
    violations.check()
    account = _account(caller.instance, account_id)
    _require_active_program(caller.instance)
    if revision != account["revision"]:
        raise WixError(
            409,
            "Revision mismatch",
            ABORTED,
            f"revision {revision} is not the account's current revision {account['revision']}",
        )
    answer = adjust(
        caller.instance,
        account,
        delta=amount if has_amount else balance - account["points"]["balance"],
        description=description,
        app_id=caller.grant.app_id,
        now=iso(caller.fake.clock()),
    )
    announce(caller.fake, caller.instance, account_id)
    return answer


def adjust(
    instance: InstanceState, account: dict[str, Any], *, delta: int, description: str, app_id: str, now: str
) -> dict[str, Any]:
    """Adjust the balance by `delta` as the app `app_id` (ours, or the Wix Loyalty app's for a change made
    in the dashboard); a 400 below zero. Answers `{"account", "transactionId"}`."""
    before = account["points"]["balance"]
    if before + delta < 0:
        raise invalid("amount", "the balance cannot go below zero", "MIN", {"threshold": 0})
    account["points"]["balance"] += delta
    account["points"]["adjusted"] += delta
    transaction = {
        "amount": delta,
        "transactionType": "ADJUST",
        "description": description,
        "adjustInfo": {"appId": app_id, "amountBefore": before, "amountAfter": before + delta},
    }
    return record_transaction(instance, account, transaction, now)


@router.post("/loyalty-transactions/v1/loyalty-transactions/query")
async def query_transactions(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {"filter", "sort", "cursorPaging"}}` → `{"loyaltyTransactions", "pagingMetadata"}`."""
    body = await json_object(request)
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise invalid("query", "query must be an object")
    query_filter = parse_filter(query.get("filter"))
    sort = parse_sort(query.get("sort"), [{"fieldName": "createdDate", "order": "ASC"}], "query.sort")
    # Transactions made in one millisecond keep the order they were made in (read in the sort's direction).
    later_first = sort[0]["order"] == "DESC"
    keyed: list[tuple[list[Any], dict[str, Any]]] = [
        ([*sort_key(t, sort)[:-1], -index if later_first else index], t)
        for index, t in enumerate(caller.instance.transactions)
        if matches(t, query_filter)
    ]

    def order(left: tuple[list[Any], dict[str, Any]], right: tuple[list[Any], dict[str, Any]]) -> int:
        return compare_keys(left[0], right[0], sort)

    keyed.sort(key=cmp_to_key(order))
    page, metadata = cursor_page([copy.deepcopy(t) for _, t in keyed], query.get("cursorPaging"))
    return {"loyaltyTransactions": page, "pagingMetadata": metadata}


@router.get("/loyalty-transactions/v1/loyalty-transactions/{transaction_id}")
async def get_transaction(transaction_id: str, caller: CallerDep) -> dict[str, Any]:
    """`{"loyaltyTransaction": {...}}` by id, or 404."""
    for transaction in caller.instance.transactions:
        if transaction["id"] == transaction_id:
            return {"loyaltyTransaction": copy.deepcopy(transaction)}
    raise not_found("Loyalty transaction", transaction_id)
