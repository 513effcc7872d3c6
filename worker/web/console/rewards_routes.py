"""The Rewards page (thin: worker/console/rewards.py decides).

- `GET /dashboard/sites/{id}/rewards?status=&kind=&item=&milestone=&from=&to=&cursor=&limit=`: every
  reward log of the site, newest first, filtered and paged; a bad filter answers 422 with the page, the
  field named.
- `GET .../rewards.csv?...`: the filtered list as CSV (streamed, capped at CSV_MAX_ROWS rows).
- `POST .../rewards/{contactId}/{rewardLogId}/send-again`: a failed reward sent again (CSRF-checked,
  audited, once however often posted); the page again, with what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from worker.console import rewards
from worker.console.sessions import Refused, Session
from worker.rewards.resend import Outcome
from worker.store.reward_listing import KINDS, STATUSES, RewardFilters
from worker.web.console.pages import ConsoleRoute, page, posted_form, session_of, site_for

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)

SEND_AGAIN_STATUS = {"sent": 200, "not_failed": 200, "not_found": 404, "manual": 409}


def rewards_page(
    request: Request, session: Session, site: str, params: Mapping[str, str], outcome: Outcome | None = None
) -> Response:
    """The page for the query in `params`: its rows and next-page link, or (422) the filter that is wrong."""
    store = request.app.state.store
    try:
        query = rewards.parse_query(params)
        problem: rewards.BadFilter | None = None
    except rewards.BadFilter as exc:
        query, problem = rewards.Query(RewardFilters(), given=dict(params)), exc
    listed = rewards.listing(store, site, query) if problem is None else None
    filters = {k: v for k, v in query.given.items() if k in rewards.FILTER_FIELDS}
    response = page(
        request,
        "rewards.html",
        session,
        site,
        query=query,
        problem=problem,
        rows=[rewards.shown(r) for r in listed.reward_logs] if listed else [],
        next_query=urlencode({**filters, "cursor": listed.next.text()}) if listed and listed.next else "",
        filter_query=urlencode(filters),
        choices=rewards.choices(store, site),
        statuses=[(s, s) for s in STATUSES],
        kinds=[(k, k) for k in KINDS],
        outcome=outcome,
    )
    response.status_code = 422 if problem else SEND_AGAIN_STATUS[outcome.result] if outcome else 200
    return response


@router.get("/sites/{instance_id}/rewards")
def rewards_list(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    return rewards_page(request, session, site_for(request, session, instance_id), request.query_params)


@router.get("/sites/{instance_id}/rewards.csv")
def rewards_csv(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    site = site_for(request, session, instance_id)
    try:
        query = rewards.parse_query(request.query_params)
    except rewards.BadFilter as exc:
        raise Refused(422, str(exc)) from None
    lines = rewards.csv_lines(request.app.state.store, site, query)
    disposition = {"content-disposition": f'attachment; filename="rewards-{site}.csv"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=disposition)


@router.post("/sites/{instance_id}/rewards/{contact_id}/{reward_log_id}/send-again")
async def send_again(instance_id: str, contact_id: str, reward_log_id: str, request: Request) -> Response:
    session, form = await posted_form(request)
    site, state = site_for(request, session, instance_id), request.app.state
    outcome = await run_in_threadpool(
        rewards.send_again, state.store, state.follow_ups, site, contact_id, reward_log_id, session.who
    )
    return rewards_page(request, session, site, form, outcome)
