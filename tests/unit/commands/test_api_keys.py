"""`python -m worker api-keys create|list|revoke` against a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from worker.cli import main
from worker.settings import get_settings
from worker.store import audit_log
from worker.store.api_keys import instance_for


@pytest.fixture(autouse=True)
def redis_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, redis_url: str, real_redis
) -> Iterator[None]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    if isinstance(real_redis, RedisCluster):  # the CLI's store is `real_redis`'s cluster
        monkeypatch.setenv("STORE_URL", request.getfixturevalue("redis_cluster").url)
        monkeypatch.setenv("STORE_CLUSTER", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_create_list_revoke(real_redis, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-keys", "create", "--instance", "site-a"]) == 0
    key = capsys.readouterr().out.strip()
    assert instance_for(real_redis, key) == "site-a"

    assert main(["api-keys", "list", "--instance", "site-a"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out)
    assert [entry["id"] for entry in listed] == [key[:12]] and key not in out

    assert main(["api-keys", "revoke", key[:12], "--instance", "site-a"]) == 0
    assert json.loads(capsys.readouterr().out)["revokedAt"]
    assert instance_for(real_redis, key) is None
    assert audit_log.recent(real_redis, "site-a")[0]["action"] == "api_key_revoked"


def test_revoking_an_unknown_key_or_with_a_bad_instance_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-keys", "revoke", "wrw_nothere", "--instance", "site-a"]) == 1
    assert "no API key" in capsys.readouterr().err
    assert main(["api-keys", "list", "--instance", "bad:{id}"]) == 2
    assert "not an instance id" in capsys.readouterr().err
