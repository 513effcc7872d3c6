"""The broker's tests: `real_redis` here is the broker's Redis (Celery's queues), never the store, so it
stays the single Redis when `WRW_TEST_STORE=cluster` puts the store on a cluster."""

from __future__ import annotations

import pytest


@pytest.fixture
def real_redis(request: pytest.FixtureRequest) -> object:
    return request.getfixturevalue("single_redis")
