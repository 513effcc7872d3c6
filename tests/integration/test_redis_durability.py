"""The service says plainly when its Redis would lose queued events (DESIGN.md: AOF, noeviction)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from worker.infra.embedded_redis import EmbeddedRedis, free_port
from worker.infra.redis_health import describe_durability_problems
from worker.settings import Settings
from worker.web.app import create_app


def _problems(persistent: bool) -> list[str]:
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-durability-")), persistent=persistent)
    server.start()
    try:
        return describe_durability_problems(redis.Redis(port=server.port, decode_responses=True))
    finally:
        server.stop()


def test_the_embedded_redis_of_make_run_is_durable() -> None:
    """The embedded server `make run` starts has AOF and noeviction: nothing to report."""
    assert _problems(persistent=True) == []


def test_a_redis_without_aof_is_reported() -> None:
    """Without AOF the report names the setting and how to fix it."""
    [problem] = _problems(persistent=False)
    assert "appendonly yes" in problem


def test_an_evicting_redis_is_reported(tmp_path: Path) -> None:
    """An eviction policy other than noeviction is named (on a server of its own: the shared test Redis's
    policy is not the test's to change while other tests run against it)."""
    server = EmbeddedRedis(tmp_path / "redis", persistent=True)
    server.start()
    try:
        client = redis.Redis(port=server.port, decode_responses=True)
        client.config_set("maxmemory-policy", "allkeys-lru")
        problems = describe_durability_problems(client)
        client.close()
    finally:
        server.stop()
    assert any("allkeys-lru" in problem and "noeviction" in problem for problem in problems)


class TestABrokerOfItsOwn:
    """BROKER_URL naming another Redis than the store's: the tasks of queued events wait there until they
    ran, so the receiver checks that server at start as it checks the store, and names it."""

    @staticmethod
    def _start_warnings(caplog: pytest.LogCaptureFixture, store_url: str, broker_url: str) -> list[str]:
        app = create_app(Settings(redis_url=store_url, broker_url=broker_url))  # type: ignore[call-arg]
        with caplog.at_level(logging.WARNING, logger="worker.web.app"), TestClient(app):
            pass  # the lifespan ran: start-up, then shut-down
        return [r.getMessage() for r in caplog.records if r.name == "worker.web.app"]

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> Iterator[str]:
        """A durable store (AOF on): what is named at start is the broker only."""
        store = EmbeddedRedis(tmp_path / "store", persistent=True)
        yield store.start()
        store.stop()

    @staticmethod
    @contextmanager
    def _broker(path: Path, *, persistent: bool) -> Iterator[str]:
        broker = EmbeddedRedis(path, persistent=persistent)
        try:
            yield broker.start()
        finally:
            broker.stop()

    def test_a_broker_without_aof_is_named_at_start(
        self, caplog: pytest.LogCaptureFixture, tmp_path: Path, store_url: str
    ) -> None:
        with self._broker(tmp_path / "broker", persistent=False) as broker_url:
            warnings = self._start_warnings(caplog, store_url, broker_url)
        [problem] = [w for w in warnings if "AOF" in w]  # the store is durable: only the broker is named
        assert problem.startswith("the broker's Redis (BROKER_URL) runs without AOF")
        assert "appendonly yes" in problem

    def test_a_durable_broker_and_store_give_no_warning(
        self, caplog: pytest.LogCaptureFixture, tmp_path: Path, store_url: str
    ) -> None:
        with self._broker(tmp_path / "broker", persistent=True) as broker_url:
            warnings = self._start_warnings(caplog, store_url, broker_url)
        assert not [w for w in warnings if "Redis" in w]

    def test_a_broker_that_does_not_answer_is_named(
        self, caplog: pytest.LogCaptureFixture, store_url: str
    ) -> None:
        warnings = self._start_warnings(caplog, store_url, f"redis://127.0.0.1:{free_port()}/0")
        assert any(w.startswith("the broker's Redis (BROKER_URL) does not answer at start") for w in warnings)
