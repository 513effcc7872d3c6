"""app.json's permissions cover every Wix call the client makes (wix-facts.md §4, §8)."""

from __future__ import annotations

import re
from pathlib import Path

import worker.wix.client
from worker.wixapp.definitions import DEFAULT_ROOT, read_json

# Wix answers these for the app itself: no permission to ask for.
NEEDS_NO_PERMISSION = {"/oauth2/token", "/oauth2/token-info"}


def template(path: str) -> str:
    """A path with each `{...}` (an id, or the f-string that puts one there) as `{}`."""
    return re.sub(r"\{[^{}]*(\([^()]*\))?[^{}]*\}", "{}", path)


def client_paths() -> set[str]:
    source = Path(worker.wix.client.__file__).read_text(encoding="utf-8")
    found = re.findall(r"f?\"(/(?:[a-z0-9-]+/v\d|oauth2)[^\"]*)\"", source)
    return {template(path) for path in found}


def test_every_wix_call_the_client_makes_has_its_permission() -> None:
    """A client call that no permission in wix-app/app.json lists is a 403 in production."""
    permissions = read_json(DEFAULT_ROOT / "app.json")["permissions"]
    covered = {template(call.split(" ", 1)[1]) for permission in permissions for call in permission["calls"]}
    paths = client_paths()
    assert "/loyalty-accounts/v1/accounts/{}/earn-points" in paths  # the scan finds f-string paths
    assert sorted(paths - covered - NEEDS_NO_PERMISSION) == []


def test_every_permission_is_for_a_route_wix_publishes() -> None:
    """Each call a permission lists is one of Wix's published routes (wix-facts.md §8), not a guess."""
    published = {
        "GET /loyalty-programs/v1/program",
        "GET /loyalty-programs/v1/program/premium-features",
        "POST /loyalty-accounts/v1/accounts/query",
        "POST /loyalty-transactions/v1/loyalty-transactions/query",
        "POST /loyalty-accounts/v1/accounts",
        "POST /loyalty-accounts/v1/accounts/{}/earn-points",
        "POST /loyalty-accounts/v1/accounts/{}/adjust-points",
        "POST /loyalty-programs/v1/program/activate",
        "POST /loyalty-programs/v1/program/pause",
        "PATCH /loyalty-programs/v1/program",
        "POST /loyalty-programs/v1/program/points-expiration/enable",
        "POST /loyalty-programs/v1/program/points-expiration/disable",
        "POST /stores/v2/coupons",
        "GET /stores/v2/coupons/{}",
        "POST /stores/v2/coupons/query",
        "GET /contacts/v4/contacts/{}",
        "POST /contacts/v4/contacts/query",
        "GET /members/v1/members/{}",
        "GET /ecom/v1/orders/{}",
        "POST /ecom/v1/orders/search",
        "GET /ecom/v1/payments/orders/{}",
        "POST /inbox/v2/conversations",
        "POST /inbox/v2/messages",
        "GET /inbox/v2/messages",
        "POST /automations/v1/events/report",
        "POST /apps/v1/scripts",
        "GET /apps/v1/scripts",
        "GET /loyalty-tiers/v1/tiers/program",
        "GET /stores-reader/v1/products/{}",
        "DELETE /stores/v2/coupons/{}",
        "GET /loyalty-rewards/v1/rewards",
        "POST /loyalty-coupons/v1/coupons",
        "POST /loyalty-coupons/v1/coupons/query",
    }  # fmt: skip  (each is in wix-facts.md's wix-routes.tsv, `:id` as `{}`; checked 2026-12-07)
    permissions = read_json(DEFAULT_ROOT / "app.json")["permissions"]
    calls = {template(call) for permission in permissions for call in permission["calls"]}
    assert sorted(calls - published) == []
