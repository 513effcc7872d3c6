"""Loyalty rewards (the catalog merchants set up in Wix Loyalty) and loyalty coupons (points redeemed for
a coupon), as `@wix/auto_sdk_loyalty_rewards` 1.0.33 and `@wix/auto_sdk_loyalty_coupons` 1.0.42 define them.

Rewards: `{id, name, active, type: COUPON_REWARD|DISCOUNT_AMOUNT, couponReward {percentage |
fixedAmount | freeShipping: {configsByTier: [{tierId, costInPoints, percentage | amount}]},
minimumSubtotal | scope {namespace, group}}, revision, createdDate, updatedDate}`; `GET
/loyalty-rewards/v1/rewards` → `{"rewards", "pagingMetadata"}`, `POST /loyalty-rewards/v1/rewards/query`
`{"query": {"filter", "sort", "cursorPaging"}}` → `{"rewards", "pagingMetadata"}`. Seeded with `POST
/_fake/instances/{id}/loyalty-rewards` (see `control_router`).

Redeeming, `POST /loyalty-coupons/v1/coupons` `{rewardId, loyaltyAccountId}` (app identity) or `POST
/loyalty-coupons/v1/coupons/redeem-my-coupon` `{rewardId}` (a member's token) → `{"coupon":
LoyaltyCoupon}`: the reward's cost for the account's tier (the config whose `tierId` is the account's
`tier.id`, else the base one, `tierId` null) leaves the balance in a `REDEEM` transaction (`amount` the
points redeemed, `redeemInfo {rewardId, rewardType, referenceEntityId}`), and a Coupons v2 coupon is
made (`worker.wix.fake.coupons`' store, its `appId` the Wix Loyalty app's). A LoyaltyCoupon is `{id,
accountId, memberIdDeprecated, memberId, transactionId, couponReference {couponId, code, name,
specification, deleted}, status: ACTIVE, rewardName, revision, createdDate, updatedDate}`. Like Wix's,
the call takes no idempotency key: a repeat redeems again (so a lost answer must be looked up, never
sent again blindly). Read back with `POST /loyalty-coupons/v1/coupons/query` (`{"query": {"filter",
"sort", "paging" | "cursorPaging"}}` → `{"loyaltyCoupons", "metadata"}`), `GET
/loyalty-coupons/v1/coupons/my-coupons` (a member's token) and `GET .../coupons/{loyaltyCouponId}`.

UNCONFIRMED choices (the packages declare no custom errors for these methods):
- a balance below the reward's cost: 400 applicationError `NOT_ENOUGH_POINTS`;
- an inactive reward, or a DISCOUNT_AMOUNT one (that is spent at checkout, not as a coupon): 400
  `REWARD_NOT_REDEEMABLE`; an unknown reward or account: 404 `NOT_FOUND`;
- the program not ACTIVE: 428 `FAILED_PRECONDITION` (as earn and adjust);
- the site without the Wix Loyalty app: the catalog answers 404, as the program does.
"""

from __future__ import annotations

import copy
import secrets
import string
from functools import cmp_to_key
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from worker.wix.fake.errors import (
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    Violations,
    WixError,
    invalid,
    json_object,
    not_found,
)
from worker.wix.fake.loyalty import record_transaction
from worker.wix.fake.oauth import Caller, CallerDep, fake_of
from worker.wix.fake.payloads import WIX_LOYALTY_APP_ID
from worker.wix.fake.query import (
    compare_keys,
    cursor_page,
    limit_of,
    matches,
    parse_filter,
    parse_sort,
    sort_key,
)
from worker.wix.fake.state import InstanceState, iso, new_id

router = APIRouter(tags=["loyalty rewards and coupons"])
control_router = APIRouter(prefix="/_fake", tags=["fake controls"])

NOT_ENOUGH_POINTS = "NOT_ENOUGH_POINTS"  # UNCONFIRMED: Wix declares no code
REWARD_NOT_REDEEMABLE = "REWARD_NOT_REDEEMABLE"  # UNCONFIRMED: Wix declares no code
DISCOUNTS = {"percentage": "percentage", "fixedAmount": "amount", "freeShipping": None}
SPEC_TYPES = {
    "percentage": "PERCENT_OFF_RATE",
    "fixedAmount": "MONEY_OFF_AMOUNT",
    "freeShipping": "FREE_SHIPPING",
}
CODE_ALPHABET = string.ascii_uppercase + string.digits


# --- Rewards ---------------------------------------------------------------------------------------------


def _discount(reward: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The coupon reward's discount kind and object (`percentage`, `fixedAmount` or `freeShipping`)."""
    coupon = reward.get("couponReward")
    if reward.get("type") != "COUPON_REWARD" or not isinstance(coupon, dict):
        return None
    for kind in DISCOUNTS:
        if isinstance(coupon.get(kind), dict):
            return kind, coupon[kind]
    return None


def tier_config(reward: dict[str, Any], tier_id: str | None) -> dict[str, Any] | None:
    """The reward's config for the tier (`tierId` equal), else the base one (`tierId` null)."""
    discount = _discount(reward)
    configs = discount[1].get("configsByTier") if discount else None
    if not isinstance(configs, list):
        return None
    by_tier = {config.get("tierId"): config for config in configs if isinstance(config, dict)}
    return by_tier.get(tier_id) or by_tier.get(None)


def _catalog(caller: Caller) -> dict[str, dict[str, Any]]:
    """The site's rewards, or the 404 of a site without the Loyalty app (UNCONFIRMED, as the program's)."""
    if not caller.instance.loyalty_app_installed:
        raise not_found("Loyalty program", caller.instance.instance_id)
    return caller.instance.loyalty_rewards


@router.get("/loyalty-rewards/v1/rewards")
async def list_rewards(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`?cursorPaging.limit=&cursorPaging.cursor=` → `{"rewards", "pagingMetadata"}`, oldest first."""
    params = request.query_params
    paging: dict[str, Any] = {"cursor": params.get("cursorPaging.cursor")}
    if params.get("cursorPaging.limit", "").isdigit():
        paging["limit"] = int(params["cursorPaging.limit"])
    rewards = [copy.deepcopy(reward) for reward in _catalog(caller).values()]
    page, metadata = cursor_page(rewards, paging)
    return {"rewards": page, "pagingMetadata": metadata}


def _query(body: dict[str, Any]) -> dict[str, Any]:
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise invalid("query", "query must be an object")
    return query


def _sorted(items: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
    sort = parse_sort(query.get("sort"), [{"fieldName": "createdDate", "order": "ASC"}], "query.sort")
    keyed: list[tuple[list[Any], dict[str, Any]]] = [(sort_key(item, sort), item) for item in items]

    def order(left: tuple[list[Any], dict[str, Any]], right: tuple[list[Any], dict[str, Any]]) -> int:
        return compare_keys(left[0], right[0], sort)

    keyed.sort(key=cmp_to_key(order))
    return [copy.deepcopy(item) for _, item in keyed]


@router.post("/loyalty-rewards/v1/rewards/query")
async def query_rewards(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {"filter", "sort", "cursorPaging"}}` → `{"rewards", "pagingMetadata"}`."""
    query = _query(await json_object(request))
    query_filter = parse_filter(query.get("filter"))
    found = [r for r in _catalog(caller).values() if matches(r, query_filter)]
    page, metadata = cursor_page(_sorted(found, query), query.get("cursorPaging"))
    return {"rewards": page, "pagingMetadata": metadata}


# --- Redeeming -------------------------------------------------------------------------------------------


def _specification(reward: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The Coupons v2 specification of the reward's coupon (`percentOffRate`, `moneyOffAmount` or
    `freeShipping`; the reward's `scope` or `minimumSubtotal`)."""
    discount = _discount(reward)
    assert discount is not None
    kind, coupon = discount[0], reward["couponReward"]
    spec: dict[str, Any] = {"name": reward.get("name") or "Loyalty reward"}
    if kind == "percentage":
        spec["percentOffRate"] = config.get("percentage", 0)
    elif kind == "fixedAmount":
        spec["moneyOffAmount"] = config.get("amount", 0)
    else:
        spec["freeShipping"] = True
    if kind != "freeShipping":
        if isinstance(coupon.get("scope"), dict):
            spec["scope"] = {"namespace": coupon["scope"].get("namespace", "stores")}
        else:
            spec["minimumSubtotal"] = coupon.get("minimumSubtotal", 0)
    spec["limitedToOneItem"] = bool(coupon.get("limitedToOneItem", False))
    return spec


def _new_code(instance: InstanceState) -> str:
    taken = {coupon["specification"]["code"] for coupon in instance.coupons.values()}
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
        if code not in taken:
            return code


def redeem(caller: Caller, reward_id: str, account: dict[str, Any]) -> dict[str, Any]:
    """Spend the account's points on the reward: a REDEEM transaction, a coupon, a LoyaltyCoupon."""
    instance, fake = caller.instance, caller.fake
    reward = _catalog(caller).get(reward_id)
    if reward is None:
        raise not_found("Reward", reward_id)
    if instance.program.get("status") != "ACTIVE":
        raise WixError(428, "Loyalty program is not active", "FAILED_PRECONDITION")
    tier = account.get("tier")
    config = tier_config(reward, tier.get("id") if isinstance(tier, dict) else None)
    if not reward.get("active") or config is None:
        raise WixError(400, "Reward cannot be redeemed", REWARD_NOT_REDEEMABLE, f"reward {reward_id}")
    cost = int(config.get("costInPoints") or 0)
    if account["points"]["balance"] < cost:
        raise WixError(
            400,
            "Not enough points",
            NOT_ENOUGH_POINTS,
            f"the reward costs {cost} points; the balance is {account['points']['balance']}",
            data={"costInPoints": cost, "balance": account["points"]["balance"]},
        )
    now_s = fake.clock()
    now, loyalty_coupon_id, coupon_id = iso(now_s), new_id(), new_id()
    account["points"]["balance"] -= cost
    account["points"]["redeemed"] = account["points"].get("redeemed", 0) + cost
    transaction = {
        "amount": cost,
        "transactionType": "REDEEM",
        "description": str(reward.get("name") or "")[:100],
        "redeemInfo": {
            "rewardId": reward_id,
            "rewardType": reward.get("type"),
            "referenceEntityId": loyalty_coupon_id,
        },
    }
    transaction_id = record_transaction(instance, account, transaction, now)["transactionId"]
    spec = {**_specification(reward, config), "code": _new_code(instance), "startTime": int(now_s * 1000)}
    discount_kind = next(k for k in DISCOUNTS if k in reward["couponReward"])
    spec["type"] = {"percentage": "PercentOff", "fixedAmount": "MoneyOff", "freeShipping": "FreeShipping"}[
        discount_kind
    ]
    spec["active"] = True
    instance.coupons[coupon_id] = {
        "id": coupon_id,
        "specification": spec,
        "dateCreated": int(now_s * 1000),
        "numberOfUsages": 0,
        "appId": WIX_LOYALTY_APP_ID,
    }
    reference_spec = {k: v for k, v in spec.items() if k not in ("code", "startTime", "active", "type")}
    reference_spec["type"] = SPEC_TYPES[discount_kind]
    loyalty_coupon = {
        "id": loyalty_coupon_id,
        "accountId": account["id"],
        "memberIdDeprecated": account.get("memberId", ""),
        "memberId": account.get("memberId"),
        "transactionId": transaction_id,
        "couponReference": {
            "couponId": coupon_id,
            "code": spec["code"],
            "name": spec["name"],
            "specification": reference_spec,
            "deleted": False,
        },
        "status": "ACTIVE",
        "rewardName": reward.get("name", ""),
        "revision": "1",
        "createdDate": now,
        "updatedDate": now,
    }
    instance.loyalty_coupons[loyalty_coupon_id] = loyalty_coupon
    return {"coupon": copy.deepcopy(loyalty_coupon)}


def _reward_id(body: dict[str, Any], violations: Violations) -> str:
    reward_id = body.get("rewardId")
    if not isinstance(reward_id, str) or not reward_id:
        violations.add("rewardId", "rewardId is required", "REQUIRED_FIELD")
        return ""
    return reward_id


@router.post("/loyalty-coupons/v1/coupons")
async def redeem_points_for_coupon(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{rewardId, loyaltyAccountId}` → `{"coupon"}` (see the module's doc); no idempotency key."""
    body = await json_object(request)
    violations = Violations()
    reward_id = _reward_id(body, violations)
    account_id = body.get("loyaltyAccountId")
    if not isinstance(account_id, str) or not account_id:
        violations.add("loyaltyAccountId", "loyaltyAccountId is required", "REQUIRED_FIELD")
    violations.check()
    account = caller.instance.accounts.get(str(account_id))
    if account is None:
        raise not_found("Loyalty account", str(account_id))
    return redeem(caller, reward_id, account)


async def authenticate_member(request: Request) -> tuple[Caller, dict[str, Any] | None]:
    """A site member's live token (MEMBER subject; also an app's, which has no current member here) and
    that member's loyalty account, if any."""
    fake = fake_of(request)
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else header.strip()
    grant = fake.tokens.get(token) if token else None
    if grant is None or not grant.active(fake.clock()):
        raise WixError(401, "Unauthorized", UNAUTHENTICATED, "the access token is missing or expired")
    if grant.subject_type != "MEMBER":
        raise WixError(403, "Forbidden", PERMISSION_DENIED, "this method needs a member identity")
    instance = fake.instance(grant.instance_id)
    account = next((a for a in instance.accounts.values() if a.get("memberId") == grant.subject_id), None)
    return Caller(fake, instance, grant), account


MemberDep = Annotated[tuple[Caller, dict[str, Any] | None], Depends(authenticate_member)]


@router.post("/loyalty-coupons/v1/coupons/redeem-my-coupon")
async def redeem_current_member_points_for_coupon(request: Request, member: MemberDep) -> dict[str, Any]:
    """`{rewardId}` with a member's token → `{"coupon"}`, from the member's own account."""
    body = await json_object(request)
    violations = Violations()
    reward_id = _reward_id(body, violations)
    violations.check()
    caller, account = member
    if account is None:
        raise not_found("Loyalty account", caller.grant.subject_id)
    return redeem(caller, reward_id, account)


@router.get("/loyalty-coupons/v1/coupons/my-coupons")
async def get_current_member_coupons(member: MemberDep) -> dict[str, Any]:
    """`{"loyaltyCoupons"}` of the member's account (none without one), oldest first."""
    caller, account = member
    found = [
        copy.deepcopy(c)
        for c in caller.instance.loyalty_coupons.values()
        if account is not None and c["accountId"] == account["id"]
    ]
    return {"loyaltyCoupons": found}


@router.post("/loyalty-coupons/v1/coupons/query")
async def query_loyalty_coupons(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {"filter", "sort", "paging" | "cursorPaging"}}` → `{"loyaltyCoupons", "metadata"}`."""
    query = _query(await json_object(request))
    query_filter = parse_filter(query.get("filter"))
    found = _sorted([c for c in caller.instance.loyalty_coupons.values() if matches(c, query_filter)], query)
    if isinstance(query.get("cursorPaging"), dict):
        page, cursor_metadata = cursor_page(found, query["cursorPaging"])
        return {
            "loyaltyCoupons": page,
            "metadata": {"count": len(page), "cursors": cursor_metadata["cursors"]},
        }
    paging: dict[str, Any] = query["paging"] if isinstance(query.get("paging"), dict) else {}
    limit = limit_of(paging.get("limit"), "query.paging.limit")
    offset = paging.get("offset") or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid("query.paging.offset", "must be a whole number, at least 0", "MIN")
    page = found[offset : offset + limit]
    return {"loyaltyCoupons": page, "metadata": {"count": len(page), "offset": offset, "total": len(found)}}


@router.get("/loyalty-coupons/v1/coupons/{loyalty_coupon_id}")
async def get_loyalty_coupon(loyalty_coupon_id: str, caller: CallerDep) -> dict[str, Any]:
    """`{"loyaltyCoupon"}` by id, or 404."""
    coupon = caller.instance.loyalty_coupons.get(loyalty_coupon_id)
    if coupon is None:
        raise not_found("Loyalty coupon", loyalty_coupon_id)
    return {"loyaltyCoupon": copy.deepcopy(coupon)}


# --- Seeding ---------------------------------------------------------------------------------------------


def reward_object(body: dict[str, Any], now: str) -> dict[str, Any]:
    """A reward in Wix's shape from the short `{"id", "name", "costInPoints", "percentage" | "amount" |
    "freeShipping", "minimumSubtotal", "active", "type"}`, or a whole reward (`couponReward` or
    `discountAmount` given) as it is."""
    violations = Violations()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        violations.add("name", "a non-empty string", "REQUIRED_FIELD")
    reward: dict[str, Any] = {
        "id": body.get("id") or new_id(),
        "name": name,
        "active": body.get("active", True),
        "revision": "1",
        "createdDate": now,
        "updatedDate": now,
    }
    if "couponReward" in body or "discountAmount" in body:
        reward.update(copy.deepcopy(body))
        reward.setdefault("type", "COUPON_REWARD" if "couponReward" in body else "DISCOUNT_AMOUNT")
        violations.check()
        return reward
    cost = body.get("costInPoints")
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        violations.add("costInPoints", "a whole number, at least 1", "MIN")
    violations.check()
    config: dict[str, Any] = {"tierId": None, "costInPoints": cost}
    if body.get("freeShipping"):
        coupon: dict[str, Any] = {"freeShipping": {"configsByTier": [config]}}
    elif "amount" in body:
        coupon = {"fixedAmount": {"configsByTier": [{**config, "amount": body["amount"]}]}}
    else:
        coupon = {"percentage": {"configsByTier": [{**config, "percentage": body.get("percentage", 10)}]}}
    if not body.get("freeShipping"):
        coupon["minimumSubtotal"] = body.get("minimumSubtotal", 0)
    reward.update({"type": "COUPON_REWARD", "couponReward": coupon})
    return reward


@control_router.post("/instances/{instance_id}/loyalty-rewards")
async def seed_reward(instance_id: str, request: Request) -> dict[str, Any]:
    """A loyalty reward as the merchant sets it up in Wix Loyalty (see `reward_object`); the same id again
    replaces it. Answers `{"reward"}`."""
    fake, body = fake_of(request), await json_object(request)
    reward = reward_object(body, iso(fake.clock()))
    fake.instance(instance_id).loyalty_rewards[reward["id"]] = reward
    return {"reward": copy.deepcopy(reward)}
