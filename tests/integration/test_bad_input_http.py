"""Bad input over real HTTP: schemathesis over the app's own OpenAPI (every feature configured) finds
no 5xx; bodies are refused before they are read; the access log carries no query string."""

from __future__ import annotations

import copy
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.integration.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    FakeWixProcess,
    Process,
    apply_program_with_key,
    service_stack,
    wait_for,
    wait_for_answer,
)
from worker.dev.programs import BASE_PROGRAM
from worker.infra.embedded_redis import free_port

INSTANCE = "6b1e6a2c-0000-4000-8000-00000000ba01"
EXAMPLES_PER_ROUTE = 25
# DESIGN.md "Status codes", with the successes and 304 (the widget's ETags), 405 (a method a path lacks).
CONTRACT_STATUSES = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 413, 422}


@pytest.fixture(scope="module")
def service(fake_wix: FakeWixProcess, module_redis_url: str) -> Iterator[tuple[Process, str, dict[str, str]]]:
    """The web process with every feature configured (Wix key and app against the fake Wix, admin
    token, points sync, widget sessions), a program and an API key."""
    env = fake_wix.env(
        module_redis_url,
        WIDGET_TOKEN_SECRET="integration-widget-secret-32-bytes-long",
        EXTERNAL_SYNC_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    with service_stack(env, workers=0) as receiver:
        assert receiver.web is not None
        key = apply_program_with_key(receiver.base_url, INSTANCE, copy.deepcopy(BASE_PROGRAM))
        yield receiver.web, receiver.base_url, key


def credentials(path: str, api_key: dict[str, str]) -> dict[str, str]:
    """The credential a route takes: the admin token, an API key, or none (signed bodies, public)."""
    if path.startswith("/admin/"):
        return ADMIN
    if path.startswith(("/schema/", "/v1/members/")):
        return api_key
    return {}


class TestSchemathesis:
    @pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    def test_no_route_answers_5xx(self, service, mode) -> None:
        """Every operation of /openapi.json, 25 generated requests each, valid or invalid (fixed seed):
        no 5xx, only the contract's status codes, and every error answer is JSON in the error shape."""
        _, base, api_key = service
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES_PER_ROUTE,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def exercise(case: Any) -> None:
                response = case.call(base_url=base, headers=credentials(case.path, api_key), timeout=10)
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code in CONTRACT_STATUSES, response.text[:300]
                if response.status_code >= 400 and case.path.startswith("/wix/actions/"):
                    assert set(response.json()["applicationError"]) == {"code", "description", "data"}
                elif response.status_code >= 400:
                    assert set(response.json()["error"]) == {"code", "message", "details"}

            try:
                exercise()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in the operation can be made invalid
            except Exception as exc:  # collect every route's failure, then report them together
                failures.append(f"{operation.label}: {exc}")
        assert not failures, "\n\n".join(failures)


def raw_request(base: str, head: str, body: bytes = b"", *, wait: float = 5) -> bytes:
    """Send `head` (and `body`) over a socket, then read what the server answers within `wait` s."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        connection.sendall(head.encode() + body)
        answer = b""
        deadline = time.monotonic() + wait
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


class TestBodiesOverHttp:
    def test_an_unauthenticated_body_is_not_awaited(self, service) -> None:
        """A PUT without the admin token is answered 401 while its declared 900 KB body is never sent."""
        _, base, _ = service
        head = (
            f"PUT /admin/v1/instances/{INSTANCE}/program HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
        )
        started = time.monotonic()
        answer = raw_request(base, head)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert time.monotonic() - started < 3

    @pytest.mark.parametrize(
        "path", [f"/admin/v1/instances/{INSTANCE}/program", "/sync/v1/points", "/widget/v1/session"]
    )
    def test_a_30_mb_declared_body_is_413_before_it_is_sent(self, service, path) -> None:
        """Content-Length of 30 MB: 413 at once, whatever the route and whatever the credentials."""
        _, base, _ = service
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 30000000\r\n\r\n"
        answer = raw_request(base, head)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

    def test_a_chunked_30_mb_body_is_cut_off(self, service) -> None:
        """A chunked body to a signed route is refused with 413 once it passes 1 MiB."""
        _, base, _ = service

        def chunks() -> Iterator[bytes]:
            for _ in range(30 * 16):
                yield b" " * 65536

        try:
            answer = httpx.post(f"{base}/sync/v1/points", content=chunks(), timeout=10)
        except httpx.HTTPError:
            pytest.fail("the server should answer 413, not drop the connection")
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_large"


class TestAccessLog:
    def test_requests_are_not_logged_one_line_each(self, service) -> None:
        """At LOG_LEVEL=INFO (the default) a request writes no access log line."""
        web, base, _ = service
        answer = httpx.get(f"{base}/admin/v1/instances/{INSTANCE}/program?probe=quiet", timeout=5)
        assert answer.status_code == 401
        time.sleep(1)  # the line, if any, is written before the answer: a second for the pipe to carry it
        assert not web.saw("?[redacted]")
        assert not web.saw(f"/admin/v1/instances/{INSTANCE}/program")

    def test_a_token_in_the_query_string_is_not_logged(
        self, fake_wix: FakeWixProcess, module_redis_url
    ) -> None:
        """At LOG_LEVEL=DEBUG, where the access log is on, `?token=<ADMIN_TOKEN>` is 401 and the access
        log line shows `?[redacted]`, not the token."""
        with service_stack(fake_wix.env(module_redis_url, LOG_LEVEL="DEBUG"), workers=0) as stack:
            web = stack.web
            assert web is not None
            url = f"{stack.base_url}/admin/v1/instances/{INSTANCE}/program?token={ADMIN_TOKEN}"
            assert httpx.get(url, timeout=5).status_code == 401
            wait_for(lambda: web.saw("?[redacted]"), 5, "the access log line")
            assert not web.saw(ADMIN_TOKEN)


class TestFlower:
    def test_flower_listens_on_loopback_only(self, module_redis_url) -> None:
        """`python -m worker flower` answers on 127.0.0.1 and listens on no other interface."""
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": module_redis_url,
            "FLOWER_PORT": str(port),
            "FLOWER_BASIC_AUTH": "ops:flower-secret",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("FLOWER_ADDRESS", None)
        flower = Process([sys.executable, "-m", "worker", "flower"], env)
        try:
            wait_for_answer(flower, "Flower", f"http://127.0.0.1:{port}/", 40, status=401)
            listening = {
                connection.laddr.ip
                for connection in psutil.Process(flower.popen.pid).net_connections(kind="inet")
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
            }
            assert listening == {"127.0.0.1"}
        finally:
            flower.stop()
