"""The fake Wix in process, behind a real WixClient (httpx MockTransport), for the install's Wix calls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.wix.client import WixClient
from worker.wix.fake import create_app as create_fake_wix
from worker.wix.fake.state import FakeSettings, FakeWix

APP_ID = "7d3f0c52-0000-4000-8000-0000000000a1"
APP_SECRET = "fake-secret"


@pytest.fixture
def fake_wix() -> FakeWix:
    return FakeWix(FakeSettings(app_id=APP_ID, app_secret=APP_SECRET))


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def wix(fake_wix, fake_store, calls) -> Iterator[WixClient]:
    fake_app = TestClient(create_fake_wix(fake_wix), base_url="https://www.wixapis.test")

    def through_the_fake(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        answer = fake_app.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    http = httpx.Client(base_url="https://www.wixapis.test", transport=httpx.MockTransport(through_the_fake))
    client = WixClient(http, fake_store, app_id=APP_ID, app_secret=APP_SECRET)
    yield client
    client.close()
