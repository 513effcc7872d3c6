"""The member's Wix loyalty tier and what the next one needs, from the account and the site's tiers program.

Tiers are Wix's (a premium feature, `@wix/loyalty` tiers): `GET /loyalty-tiers/v1/tiers/program` answers
the tiers (`tierDefinition.name`, `requiredPoints`) and the settings (`status`, `rollingWindow`,
`baseTierDefinition`); the account's `tier {id, points}` says where the member is (no `id`: the base
tier; `points`: earned and adjusted over the rolling window). The program is kept in Redis for
`TIERS_TTL_SECONDS` per site, so shoppers opening the widget do not spend the site's Wix budget.

A site without tiers (none set up, or the status not ACTIVE) has no tier to show: `tier_progress` is
None, without an error.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from worker import keys
from worker.wix.client import WixApiError, WixClient

TIERS_TTL_SECONDS = 300


def fetch_tiers_program(wix: WixClient, instance_id: str) -> dict[str, Any] | None:
    """`{"tiers", "programSettings"}`, or None when Wix refuses for good: the site has no loyalty program
    (404), or our app may not read its tiers (403). Either is kept like an answer, so a site where tiers
    cannot be read costs one Wix call per `TIERS_TTL_SECONDS`, not one per shopper."""
    try:
        return wix.get_tiers_program(instance_id)
    except WixApiError as exc:
        if exc.status in (403, 404):
            return None
        raise


def cached_tiers_program(
    wix: WixClient, instance_id: str, cache: redis.Redis | None
) -> dict[str, Any] | None:
    """`fetch_tiers_program`, kept for `TIERS_TTL_SECONDS` (None included). Wix errors propagate."""
    key = keys.loyalty_tiers_copy(instance_id)
    if cache is not None:
        kept = cache.get(key)
        if kept is not None:
            return json.loads(kept)  # type: ignore[arg-type,no-any-return]
    program = fetch_tiers_program(wix, instance_id)
    if cache is not None:
        cache.set(key, json.dumps(program), ex=TIERS_TTL_SECONDS)
    return program


def active_tiers(program: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The program's tiers, lowest `requiredPoints` first; none unless the program is ACTIVE."""
    if not isinstance(program, dict):
        return []
    settings = program.get("programSettings")
    if not isinstance(settings, dict) or settings.get("status") != "ACTIVE":
        return []
    tiers = [t for t in program.get("tiers") or [] if isinstance(t, dict) and isinstance(t.get("id"), str)]
    return sorted(tiers, key=lambda tier: _required(tier))


def _required(tier: dict[str, Any]) -> int:
    required = tier.get("requiredPoints")
    return required if isinstance(required, int) and not isinstance(required, bool) else 0


def tier_name(program: dict[str, Any] | None, tier_id: str | None) -> str:
    """The tier's name (the base tier's for None); "" when the program does not name it."""
    if tier_id is None:
        settings = (program or {}).get("programSettings") or {}
        base = settings.get("baseTierDefinition") or {}
        return str(base.get("name") or "")
    for tier in (program or {}).get("tiers") or []:
        if isinstance(tier, dict) and tier.get("id") == tier_id:
            return str((tier.get("tierDefinition") or {}).get("name") or "")
    return ""


def required_points(program: dict[str, Any] | None, tier_id: str | None) -> int:
    """The points the tier needs (0 for the base tier or a tier the program no longer has)."""
    for tier in (program or {}).get("tiers") or []:
        if tier_id is not None and isinstance(tier, dict) and tier.get("id") == tier_id:
            return _required(tier)
    return 0


def tier_progress(program: dict[str, Any] | None, account: dict[str, Any] | None) -> dict[str, Any] | None:
    """`{"id", "name", "points", "next": {"id", "name", "requiredPoints", "pointsNeeded"} | None}` for
    the account in the program (`id` None: the base tier; `next` None: the top tier); None when the site
    has no ACTIVE tiers or the account carries no tier."""
    tiers = active_tiers(program)
    tier = (account or {}).get("tier")
    if not tiers or not isinstance(tier, dict):
        return None
    tier_id = tier.get("id") if isinstance(tier.get("id"), str) else None
    points = _required({"requiredPoints": tier.get("points")})  # an int, 0 when Wix sends none
    above = [t for t in tiers if _required(t) > max(points, required_points(program, tier_id))]
    upcoming = above[0] if above else None
    return {
        "id": tier_id,
        "name": tier_name(program, tier_id),
        "points": points,
        "next": {
            "id": upcoming["id"],
            "name": tier_name(program, upcoming["id"]),
            "requiredPoints": _required(upcoming),
            "pointsNeeded": _required(upcoming) - points,
        }
        if upcoming is not None
        else None,
    }
