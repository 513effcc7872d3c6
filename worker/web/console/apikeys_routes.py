"""`/dashboard/sites/{id}/api-keys`: the site's API keys (worker/console/api_keys.py decides).

- `GET .../api-keys`: the keys by id (never a key), a form to create one, a Revoke (confirmed) per key;
- `POST .../api-keys`: a new key, shown on the answer only;
- `POST .../api-keys/{key_id}/revoke`: the key refused from now on.
Both POSTs are CSRF-checked, the site checked against the session, and written to the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from worker.console import api_keys as domain
from worker.console.sessions import Session
from worker.web.console.pages import ConsoleRoute, page, posted, session_of, site_for

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)


def _page(request: Request, session: Session, site: str, outcome: domain.Outcome) -> Response:
    response = page(request, "api_keys.html", session, site, outcome=outcome)
    response.status_code = outcome.status
    return response


@router.get("/sites/{instance_id}/api-keys")
def api_keys(instance_id: str, request: Request) -> Response:
    session = session_of(request)
    site = site_for(request, session, instance_id)
    return _page(request, session, site, domain.shown(request.app.state.store, site))


@router.post("/sites/{instance_id}/api-keys")
async def create_api_key(instance_id: str, request: Request) -> Response:
    session = await posted(request)
    site = site_for(request, session, instance_id)
    return _page(request, session, site, domain.create(request.app.state.store, site, session.who))


@router.post("/sites/{instance_id}/api-keys/{key_id}/revoke")
async def revoke_api_key(instance_id: str, key_id: str, request: Request) -> Response:
    session = await posted(request)
    site = site_for(request, session, instance_id)
    return _page(request, session, site, domain.revoke(request.app.state.store, site, key_id, session.who))
