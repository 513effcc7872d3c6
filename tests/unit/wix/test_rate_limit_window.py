"""The rate limit's window: Wix's minute by default, on both sides; shorter only when a test says so.

The integration test of two workers sharing the budget (tests/integration/test_rewards_against_fake_wix.py)
shrinks both windows to prove in seconds what holds over a minute; these tests pin the real numbers and
show each side honours a shorter window.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import time_machine
from fastapi.testclient import TestClient

from tests.clock import CALENDAR_INSTANTS
from tests.unit.wix.test_fake_wix import APP_ID, APP_SECRET, INSTANCE, Clock, auth
from worker.settings import Settings
from worker.wix.client import WixClient
from worker.wix.fake import FakeSettings, FakeWix, create_app
from worker.wix.rate_limit import WINDOW_SECONDS, WIX_REQUESTS_PER_MINUTE


def settings(**values: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        wix_app_id=APP_ID,
        wix_app_secret=APP_SECRET,
        wix_api_base="https://www.wixapis.test",
        **values,
    )


class TestTheService:
    def test_by_default_it_counts_wixs_200_a_minute_with_a_second_to_spare(
        self, fake_store: fakeredis.FakeRedis
    ) -> None:
        """Unset, the window is 61 s and the budget 200: the 201st call waits most of a minute. (The
        clock stands still, so the wait does not depend on how fast a busy machine makes 200 calls.)"""
        assert (WINDOW_SECONDS, WIX_REQUESTS_PER_MINUTE) == (61.0, 200)
        client = WixClient.from_settings(settings(), fake_store)
        try:
            limiter = client._limiter  # what every call of this client takes a slot from
            with time_machine.travel(CALENDAR_INSTANTS["thursday"], tick=False):
                assert [limiter.try_acquire(INSTANCE) for _ in range(200)] == [0.0] * 200
                assert 60.0 < limiter.try_acquire(INSTANCE) <= WINDOW_SECONDS
        finally:
            client.close()

    def test_a_shorter_window_frees_a_slot_sooner(self, fake_store: fakeredis.FakeRedis) -> None:
        """WIX_RATE_LIMIT_WINDOW_SECONDS=2 with a budget of 3: the fourth call waits at most 2 s."""
        client = WixClient.from_settings(
            settings(wix_rate_limit_per_minute=3, wix_rate_limit_window_seconds=2), fake_store
        )
        try:
            limiter = client._limiter
            assert [limiter.try_acquire(INSTANCE) for _ in range(3)] == [0.0] * 3
            assert 1.0 < limiter.try_acquire(INSTANCE) <= 2.0
        finally:
            client.close()

    @pytest.mark.parametrize("window", ["0", "-1", "3601"])
    def test_a_window_out_of_range_is_refused(self, window: str) -> None:
        with pytest.raises(ValueError, match="wix_rate_limit_window_seconds"):
            settings(wix_rate_limit_window_seconds=window)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(private_key: Any, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key, clock=clock))) as test:
        yield test


def program(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/loyalty-programs/v1/program", headers=headers).status_code


class TestTheFake:
    def test_by_default_it_counts_a_minute(self, client: TestClient, clock: Clock) -> None:
        """Wix's window is 60 s: a refused call is admitted again only once the minute has passed."""
        assert client.get("/_fake/settings").json()["rateLimitWindowSeconds"] == 60
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 2})
        headers = auth(client)
        assert [program(client, headers), program(client, headers)] == [200, 200]
        refused = client.get("/loyalty-programs/v1/program", headers=headers)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        clock.advance(59)
        assert program(client, headers) == 429
        clock.advance(1)
        assert program(client, headers) == 200

    def test_a_shorter_window_frees_a_slot_sooner_until_reset(self, client: TestClient, clock: Clock) -> None:
        """rateLimitWindowSeconds 5: the refused call goes through 5 s later; a reset brings back 60."""
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 2, "rateLimitWindowSeconds": 5})
        headers = auth(client)
        assert [program(client, headers), program(client, headers)] == [200, 200]
        refused = client.get("/loyalty-programs/v1/program", headers=headers)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
        clock.advance(5)
        assert program(client, headers) == 200
        client.post("/_fake/reset")
        assert client.get("/_fake/settings").json()["rateLimitWindowSeconds"] == 60

    @pytest.mark.parametrize("window", [0, -1, 3601, "5", True, None])
    def test_a_window_out_of_range_is_refused(self, client: TestClient, window: Any) -> None:
        answer = client.patch("/_fake/settings", json={"rateLimitWindowSeconds": window})
        assert answer.status_code == 400
        assert "rateLimitWindowSeconds" in answer.text
        assert client.get("/_fake/settings").json()["rateLimitWindowSeconds"] == 60
