"""Deleting a Wix Coupons v2 coupon: `DELETE /stores/v2/coupons/{id}` (`@wix/marketing_coupons`
`_delete`, answering an empty `DeleteCouponResponse`); an unknown id is a 404, as `GET` answers it.

A deleted coupon is gone: `get` answers 404, `query` no longer lists it, an order can no longer use it.
Used to revoke a reward's coupon when its order is cancelled (worker/rewards/reversal.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from worker.wix.fake.errors import not_found
from worker.wix.fake.oauth import CallerDep

router = APIRouter(tags=["coupons"])


@router.delete("/stores/v2/coupons/{coupon_id}")
async def delete_coupon(coupon_id: str, caller: CallerDep) -> dict[str, Any]:
    """`{}` once deleted; 404 for a coupon the site does not have (or no longer has)."""
    if caller.instance.coupons.pop(coupon_id, None) is None:
        raise not_found("Coupon", coupon_id)
    return {}
