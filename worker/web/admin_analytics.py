"""The operators' analytics of one site (`Bearer ADMIN_TOKEN`): the counts of the last 7, 30 or 90 days
(worker/analytics/overview.py), as JSON or the daily series as CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from worker.analytics.overview import overview
from worker.analytics.series_csv import series_csv
from worker.web.admin import Admin, InstanceIdPath

router = APIRouter(prefix="/admin/v1", tags=["admin"])


@router.get(
    "/instances/{instance_id}/analytics",
    summary="The site's counts per day and in total, per streak and challenge, and the funnel",
    description="`days` is 7, 30 or 90 (another number answers 422). Days are UTC days.",
)
def get_analytics(instance_id: InstanceIdPath, request: Request, _: Admin, days: int = 7) -> dict[str, Any]:
    return overview(request.app.state.store, instance_id, days, datetime.now(UTC))


@router.get(
    "/instances/{instance_id}/analytics.csv",
    summary="The site's daily series as CSV (a header row, one row per day)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_analytics_csv(instance_id: InstanceIdPath, request: Request, _: Admin, days: int = 7) -> Response:
    answer = overview(request.app.state.store, instance_id, days, datetime.now(UTC))
    filename = f"analytics-{instance_id}-{answer['from']}-{answer['to']}.csv"
    return Response(
        series_csv(answer),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
