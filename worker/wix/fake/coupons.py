"""Wix Coupons v2 (wix-facts.md §4.3; coupons.service.json).

Create answers `{"id"}`; get answers `{"coupon": {id, specification, dateCreated, expired,
numberOfUsages, appId}}` with the epoch-millisecond times as strings (int64 in JSON), and `type`
derived from the behaviour; query takes Stores v2's `{"query": {"filter": "<JSON string>", "paging":
{"limit", "offset"}}}` and answers `{"coupons", "totalResults"}`.

UNCONFIRMED choice: a code already used on the site is a 400 with an applicationError
`COUPON_CODE_ALREADY_EXISTS`, deliberately not a 409: Wix declares no error for it (wix-facts.md §8;
`@wix/marketing` declares none), so a client must look the code up rather than trust the status. Codes
compare case-sensitively, as wix-facts.md advises. A `freeShipping` coupon with a `scope` is refused.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import Violations, WixError, invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.query import limit_of, matches, parse_filter
from worker.wix.fake.state import new_id

router = APIRouter(tags=["coupons"])

BEHAVIOURS = {
    "moneyOffAmount": "MoneyOff",
    "percentOffRate": "PercentOff",
    "freeShipping": "FreeShipping",
    "fixedPriceAmount": "FixedPriceAmount",
    "buyXGetY": "BuyXGetY",
}
NAMESPACES = {"stores", "bookings", "events", "pricingPlans"}
MAX_NAME, MAX_CODE = 80, 20
COUPON_CODE_ALREADY_EXISTS = "COUPON_CODE_ALREADY_EXISTS"  # UNCONFIRMED: Wix declares no code


def _millis(value: Any, field: str, violations: Violations, *, required: bool) -> int | None:
    """Epoch milliseconds given as a number or a string of digits."""
    if value is None:
        if required:
            violations.add(field, f"{field} is required (epoch milliseconds)", "REQUIRED_FIELD")
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    violations.add(field, "must be epoch milliseconds", "FORMAT")
    return None


def _text(spec: dict[str, Any], name: str, limit: int, violations: Violations) -> None:
    value = spec.get(name)
    if not isinstance(value, str) or not value:
        violations.add(f"specification.{name}", f"{name} is required", "REQUIRED_FIELD")
    elif len(value) > limit:
        violations.add(f"specification.{name}", f"at most {limit} characters", "MAX_LENGTH")


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    """The specification to store, with its times as integers; a 400 listing every violation."""
    spec = body.get("specification")
    if not isinstance(spec, dict):
        raise invalid("specification", "specification is required", "REQUIRED_FIELD")
    spec = copy.deepcopy(spec)
    spec.pop("type", None)  # read-only
    violations = Violations()
    _text(spec, "name", MAX_NAME, violations)
    _text(spec, "code", MAX_CODE, violations)
    spec["startTime"] = _millis(spec.get("startTime"), "specification.startTime", violations, required=True)
    expiration = _millis(
        spec.get("expirationTime"), "specification.expirationTime", violations, required=False
    )
    if expiration is None:
        spec.pop("expirationTime", None)
    else:
        spec["expirationTime"] = expiration
    behaviours = [name for name in BEHAVIOURS if spec.get(name) not in (None, False)]
    if len(behaviours) != 1:
        violations.add("specification", f"exactly one of {', '.join(BEHAVIOURS)} is required", "ONE_OF")
    rate = spec.get("percentOffRate")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 100
    ):
        violations.add("specification.percentOffRate", "must be more than 0 and at most 100", "MIN_MAX")
    free_shipping = behaviours == ["freeShipping"]
    has_scope, has_minimum = "scope" in spec, "minimumSubtotal" in spec
    if free_shipping and has_scope:
        violations.add("specification.scope", "a freeShipping coupon takes no scope", "CUSTOM")
    if not free_shipping and has_scope == has_minimum:
        violations.add("specification", "exactly one of scope or minimumSubtotal is required", "ONE_OF")
    scope = spec.get("scope")
    if has_scope and (not isinstance(scope, dict) or scope.get("namespace") not in NAMESPACES):
        violations.add("specification.scope.namespace", f"one of {sorted(NAMESPACES)}", "FORMAT")
    for name in ("usageLimit", "limitPerCustomer"):
        value = spec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            violations.add(f"specification.{name}", "must be a positive whole number", "MIN")
    violations.check()
    spec.setdefault("limitedToOneItem", False)
    spec.setdefault("active", True)
    spec["type"] = BEHAVIOURS[behaviours[0]]
    return spec


def render(coupon: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A stored coupon as Wix answers it: int64 fields as strings, `expired` as of now."""
    spec = copy.deepcopy(coupon["specification"])
    spec["startTime"] = str(spec["startTime"])
    if "expirationTime" in spec:
        spec["expirationTime"] = str(spec["expirationTime"])
    expiration = coupon["specification"].get("expirationTime")
    return {
        "id": coupon["id"],
        "specification": spec,
        "dateCreated": str(coupon["dateCreated"]),
        "expired": expiration is not None and expiration < now_ms,
        "numberOfUsages": coupon["numberOfUsages"],
        "appId": coupon["appId"],
    }


@router.post("/stores/v2/coupons")
async def create_coupon(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"specification": {...}}` → `{"id"}`; the code must be new on the site."""
    spec = _validated(await json_object(request))
    coupons = caller.instance.coupons
    if any(coupon["specification"]["code"] == spec["code"] for coupon in coupons.values()):
        raise WixError(
            400,
            "Coupon code already exists",
            COUPON_CODE_ALREADY_EXISTS,
            f"a coupon with the code {spec['code']} already exists",
            data={"code": spec["code"]},
        )
    coupon_id = new_id()
    coupons[coupon_id] = {
        "id": coupon_id,
        "specification": spec,
        "dateCreated": int(caller.fake.clock() * 1000),
        "numberOfUsages": 0,
        "appId": caller.grant.app_id,
    }
    return {"id": coupon_id}


@router.post("/stores/v2/coupons/query")
async def query_coupons(request: Request, caller: CallerDep) -> dict[str, Any]:
    """`{"query": {"filter", "paging": {"limit", "offset"}}}` → `{"coupons", "totalResults"}`."""
    body = await json_object(request)
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise invalid("query", "query must be an object")
    query_filter = parse_filter(query.get("filter"))
    paging: dict[str, Any] = query["paging"] if isinstance(query.get("paging"), dict) else {}
    limit = limit_of(paging.get("limit"), "query.paging.limit")
    offset = paging.get("offset") or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid("query.paging.offset", "must be a whole number, at least 0", "MIN")
    now_ms = int(caller.fake.clock() * 1000)
    found = [
        rendered
        for rendered in (render(coupon, now_ms) for coupon in caller.instance.coupons.values())
        if matches(rendered, query_filter)
    ]
    return {"coupons": found[offset : offset + limit], "totalResults": len(found)}


@router.get("/stores/v2/coupons/{coupon_id}")
async def get_coupon(coupon_id: str, caller: CallerDep) -> dict[str, Any]:
    """`{"coupon": {...}}` by id, or 404."""
    coupon = caller.instance.coupons.get(coupon_id)
    if coupon is None:
        raise not_found("Coupon", coupon_id)
    return {"coupon": render(coupon, int(caller.fake.clock() * 1000))}
