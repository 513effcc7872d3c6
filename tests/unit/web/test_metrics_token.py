"""`METRICS_TOKEN`: with it set, a scrape of `/metrics` must bring it as a Bearer token; without it,
`/metrics` is public as before (behind the operator's proxy)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from worker.settings import Settings
from worker.web.app import create_app

TOKEN = "m" * 40


def _client(fake_async, fake_store, **settings: str) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(
        Settings(redis_url="redis://store/0", _env_file=None, **settings),  # type: ignore[call-arg]
        async_redis=fake_async,
        store=fake_store,
    )
    return TestClient(app)


def test_a_scrape_with_the_token_gets_the_metrics(fake_async, fake_store) -> None:  # type: ignore[no-untyped-def]
    client = _client(fake_async, fake_store, metrics_token=TOKEN)
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert "# HELP wix_webhooks" in answer.text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "a Bearer METRICS_TOKEN is required"),
        ("Basic " + TOKEN, "a Bearer METRICS_TOKEN is required"),
        ("Bearer not-the-token", "the metrics token is not valid"),
        ("Bearer " + TOKEN + "x", "the metrics token is not valid"),
    ],
)
def test_a_scrape_without_it_is_a_401_saying_why(fake_async, fake_store, header, message) -> None:  # type: ignore[no-untyped-def]
    client = _client(fake_async, fake_store, metrics_token=TOKEN)
    answer = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.json()["error"]["message"] == message
    assert "wix_webhooks" not in answer.text


def test_without_a_token_set_metrics_stay_public(fake_async, fake_store) -> None:  # type: ignore[no-untyped-def]
    assert _client(fake_async, fake_store).get("/metrics").status_code == 200
