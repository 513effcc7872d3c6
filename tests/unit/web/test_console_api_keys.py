"""The console's API keys page (`/dashboard/sites/{id}/api-keys`): the key shown on creation only, the
list by id, revoke; CSRF, another site's keys and a bad or unknown id refused with nothing changed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.unit.web.test_console import api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker.store import audit_log
from worker.store.api_keys import create_api_key, instance_for, list_api_keys

SITE = "site-a"
PAGE = f"/dashboard/sites/{SITE}/api-keys"


def opened(client: TestClient) -> tuple[str, str]:
    session, csrf = tokens(client.get("/dashboard/", params={"instance": signed()}).text)
    return session, csrf


def test_create_shows_the_key_once_and_revoke_refuses_it(api: TestClient, fake_store) -> None:  # noqa: F811
    session, csrf = opened(api)
    created = api.post(PAGE, data={"session": session, "csrf": csrf})
    assert created.status_code == 201
    found = re.search(r'id="new-key"[^>]*value="(wrw_[^"]+)"', created.text)
    assert found is not None
    key = found.group(1)
    assert instance_for(fake_store, key) == SITE

    listed = api.get(PAGE, params={"session": session})
    assert listed.status_code == 200 and key not in listed.text and f"{key[:12]}…" in listed.text

    revoked = api.post(f"{PAGE}/{key[:12]}/revoke", data={"session": session, "csrf": csrf})
    assert revoked.status_code == 200 and "is revoked" in revoked.text
    assert instance_for(fake_store, key) is None
    assert [e["action"] for e in audit_log.recent(fake_store, SITE)][:2] == [
        "api_key_revoked",
        "api_key_created",
    ]
    assert audit_log.recent(fake_store, SITE)[0]["who"] == "owner-1"


def test_without_csrf_nothing_is_created_or_revoked(api: TestClient, fake_store) -> None:  # noqa: F811
    key = create_api_key(fake_store, SITE)
    session, _ = opened(api)
    assert api.post(PAGE, data={"session": session}).status_code == 403
    assert api.post(f"{PAGE}/{key[:12]}/revoke", data={"session": session}).status_code == 403
    assert len(list_api_keys(fake_store, SITE)) == 1 and instance_for(fake_store, key) == SITE


def test_another_sites_keys_and_bad_ids_are_refused(api: TestClient, fake_store) -> None:  # noqa: F811
    other = create_api_key(fake_store, "site-b")
    session, csrf = opened(api)
    assert api.get("/dashboard/sites/site-b/api-keys", params={"session": session}).status_code == 403
    answer = api.post(
        f"/dashboard/sites/site-b/api-keys/{other[:12]}/revoke", data={"session": session, "csrf": csrf}
    )
    assert answer.status_code == 403
    unknown = api.post(f"{PAGE}/{other[:12]}/revoke", data={"session": session, "csrf": csrf})
    assert unknown.status_code == 404 and "no API key" in unknown.text
    bad = api.post(f"{PAGE}/not-a-key-id/revoke", data={"session": session, "csrf": csrf})
    assert bad.status_code == 422
    assert instance_for(fake_store, other) == "site-b"
