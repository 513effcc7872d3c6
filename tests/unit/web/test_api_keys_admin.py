"""`/admin/v1/instances/{id}/api-keys`: create shows the key once, list shows ids only, revoke refuses the
key at once with a clear 401 and writes the instance's audit log (fakeredis; real HTTP in the browser
test tests/browser/test_console_api_keys.py)."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.store import audit_log
from worker.web.app import create_app

ADMIN = {"authorization": "Bearer admin-secret"}
PROGRESS = "/v1/members/c1/progress"


@pytest.fixture
def client(fake_async, fake_store, public_key_pem) -> TestClient:
    settings = Settings(
        redis_url="redis://unused", wix_public_key=public_key_pem, admin_token="admin-secret", _env_file=None
    )  # type: ignore[call-arg]
    return TestClient(
        create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    )


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def accepted(client: TestClient, key: str) -> bool:
    """Whether the records API lets the key in (the member is unknown, so an accepted key gets a 404)."""
    status = client.get(PROGRESS, headers=bearer(key)).status_code
    assert status in (401, 404)
    return status == 404


def test_create_list_revoke(client: TestClient, fake_store) -> None:
    created = client.post("/admin/v1/instances/inst-1/api-keys", headers=ADMIN)
    assert created.status_code == 201
    key, key_id = created.json()["apiKey"], created.json()["id"]
    assert key.startswith(key_id) and len(key) > 40
    assert accepted(client, key)

    listed = client.get("/admin/v1/instances/inst-1/api-keys", headers=ADMIN)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["apiKeys"]] == [key_id]
    assert listed.json()["apiKeys"][0]["revokedAt"] is None
    assert key not in listed.text

    revoked = client.delete(f"/admin/v1/instances/inst-1/api-keys/{key_id}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    refused = client.get(PROGRESS, headers=bearer(key))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the API key was revoked"
    again = client.get("/admin/v1/instances/inst-1/api-keys", headers=ADMIN).json()["apiKeys"]
    assert again[0]["revokedAt"] == revoked.json()["revokedAt"]

    entries = audit_log.recent(fake_store, "inst-1")
    assert [(e["action"], e["details"]) for e in entries] == [
        ("api_key_revoked", {"id": key_id}),
        ("api_key_created", {"id": key_id}),
    ]
    assert key not in str(entries)


def test_revoking_one_key_leaves_the_others(client: TestClient) -> None:
    first, second = (client.post("/admin/v1/instances/inst-1/api-keys", headers=ADMIN).json() for _ in "12")
    assert (
        client.delete(f"/admin/v1/instances/inst-1/api-keys/{first['id']}", headers=ADMIN).status_code == 200
    )
    assert accepted(client, second["apiKey"])


def test_a_key_of_another_instance_or_a_bad_id_is_refused(client: TestClient) -> None:
    other = client.post("/admin/v1/instances/inst-2/api-keys", headers=ADMIN).json()
    missing = client.delete(f"/admin/v1/instances/inst-1/api-keys/{other['id']}", headers=ADMIN)
    assert missing.status_code == 404 and other["id"] in missing.json()["error"]["message"]
    assert accepted(client, other["apiKey"])
    bad = client.delete("/admin/v1/instances/inst-1/api-keys/wrw_{abc}:x", headers=ADMIN)
    assert bad.status_code == 422
    assert client.get("/admin/v1/instances/inst-1/api-keys").status_code == 401


def test_an_unknown_key_is_told_apart_from_a_revoked_one(client: TestClient) -> None:
    refused = client.get(PROGRESS, headers=bearer("wrw_" + "x" * 43))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the API key is not valid"


def test_a_key_made_before_ids_is_listed_once_used_and_can_be_revoked(client: TestClient, fake_store) -> None:
    """Its record (by the key's SHA-256, as then) has no id: it is listed the first time it is used."""
    from worker import keys as redis_keys

    older = "wrw_" + "o" * 43
    fake_store.hset(
        redis_keys.api_key(hashlib.sha256(older.encode()).hexdigest()),
        mapping={"instanceId": "inst-1", "createdAt": "2026-01-01"},
    )
    assert client.get("/admin/v1/instances/inst-1/api-keys", headers=ADMIN).json()["apiKeys"] == []
    assert accepted(client, older)
    listed = client.get("/admin/v1/instances/inst-1/api-keys", headers=ADMIN).json()["apiKeys"]
    assert [k["id"] for k in listed] == [older[:12]]
    assert (
        client.delete(f"/admin/v1/instances/inst-1/api-keys/{older[:12]}", headers=ADMIN).status_code == 200
    )
    assert not accepted(client, older)
