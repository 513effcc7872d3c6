"""The fake Wix as one FastAPI app: Wix's endpoints, the `/_fake/` controls, and the front door."""

from __future__ import annotations

from fastapi import FastAPI

from worker.wix.fake import (
    app_management,
    automations,
    contacts,
    control,
    coupon_deletion,
    coupons,
    inbox,
    loyalty,
    loyalty_program,
    loyalty_rewards,
    loyalty_tiers,
    members,
    oauth,
    order_transactions,
    orders,
    stores,
)
from worker.wix.fake.errors import install_error_handlers
from worker.wix.fake.front import WixFront
from worker.wix.fake.state import FakeWix


def create_app(fake: FakeWix) -> FastAPI:
    app = FastAPI(
        title="Fake Wix",
        description="A local stand-in for the Wix APIs the rewards service calls (wix-facts.md §4, §5.2).",
        docs_url="/_fake/docs",
        redoc_url=None,
        openapi_url="/_fake/openapi.json",
    )
    app.state.fake = fake
    modules = (
        oauth,
        loyalty,
        loyalty_program,
        loyalty_tiers,
        coupons,
        coupon_deletion,
        orders,
        order_transactions,
        contacts,
        members,
        automations,
        inbox,
        app_management,
        loyalty_rewards,
        stores,
    )
    routers = [module.router for module in modules]
    for router in [
        *routers,
        control.router,
        app_management.control_router,
        loyalty_tiers.control_router,
        loyalty_rewards.control_router,
        order_transactions.control_router,
        stores.control_router,
    ]:
        app.include_router(router)
    install_error_handlers(app)
    # The routers' own routes, for naming each call's endpoint ("GET /ecom/v1/orders/{order_id}").
    wix_routes = [route for router in routers for route in router.routes]
    app.add_middleware(WixFront, fake=fake, routes=wix_routes)
    return app
