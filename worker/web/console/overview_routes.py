"""The console's Overview page (worker/console/overview.py decides what it shows).

- `GET /dashboard/sites/{id}/overview?days=7|30|90`: the totals as cards, the daily charts, the funnel,
  the streaks and challenges compared, each chart with its table.
- `GET /dashboard/sites/{id}/overview.csv?days=7|30|90`: the daily series as CSV, for the session's site
  (the admin API's `analytics.csv` needs ADMIN_TOKEN; a merchant has a session only).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from worker.console import overview
from worker.web.console.pages import ConsoleRoute, now, page, session_of, site_for

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)


@router.get("/sites/{instance_id}/overview")
async def overview_page(instance_id: str, request: Request, days: str | None = None) -> Response:
    session = session_of(request)
    site, counted = site_for(request, session, instance_id), overview.days_of(days)
    shown = await run_in_threadpool(overview.page, request.app.state.store, site, counted, now())
    return page(request, "overview.html", session, site, overview=shown)


@router.get("/sites/{instance_id}/overview.csv")
async def overview_csv(instance_id: str, request: Request, days: str | None = None) -> Response:
    session = session_of(request)
    site, counted = site_for(request, session, instance_id), overview.days_of(days)
    text, name = await run_in_threadpool(overview.csv_of, request.app.state.store, site, counted, now())
    disposition = f'attachment; filename="{name}"'
    return Response(text, media_type="text/csv; charset=utf-8", headers={"content-disposition": disposition})
