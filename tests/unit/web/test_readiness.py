"""`/readyz` when the broker is not the store's Redis: it checks both and names what failed."""

from __future__ import annotations

import fakeredis
import pytest
from fastapi.testclient import TestClient

from worker.runtime.event_publishers import RedisListPublisher
from worker.settings import Settings
from worker.web.app import create_app


@pytest.fixture
def broker_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def client(fake_async, fake_store, broker_server) -> TestClient:  # type: ignore[no-untyped-def]
    settings = Settings(redis_url="redis://store/0", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, async_redis=fake_async, store=fake_store)
    broker = fakeredis.FakeAsyncRedis(server=broker_server, decode_responses=True)
    app.state.event_publisher = RedisListPublisher(broker)  # a Redis broker on another server
    return TestClient(app)


class TestReadinessWithABrokerElsewhere:
    def test_ready_while_both_answer(self, client) -> None:
        assert client.get("/readyz").json() == {"status": "ready"}

    def test_the_broker_not_answering_is_a_503_naming_it(self, client, broker_server) -> None:
        """The store's Redis answers but the broker's does not: not ready, `failed` says which."""
        broker_server.connected = False
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert response.json()["error"]["details"] == {"failed": ["broker"]}
        assert response.json()["error"]["message"] == "the broker does not answer"

    def test_both_down_names_both(self, client, broker_server, fake_server) -> None:
        broker_server.connected = False
        fake_server.connected = False
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["details"] == {"failed": ["redis", "broker"]}


def test_one_redis_for_both_checks_it_once(fake_async, fake_store, fake_server) -> None:
    """The default (broker = store's Redis): no publisher, and Redis down is `failed: ["redis"]`."""
    settings = Settings(redis_url="redis://store/0", _env_file=None)  # type: ignore[call-arg]
    client = TestClient(create_app(settings, async_redis=fake_async, store=fake_store))
    assert client.app.state.event_publisher is None  # type: ignore[attr-defined]
    fake_server.connected = False
    assert client.get("/readyz").json()["error"]["details"] == {"failed": ["redis"]}
