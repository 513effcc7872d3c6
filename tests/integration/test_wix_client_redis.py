"""The Wix client's shared state against real Redis, from several OS processes at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.conftest import ROOT
from worker import keys

INSTANCE = "inst-shared"

ACQUIRER = """
import json, sys, time
from worker.infra.redis_client import sync_client
from worker.wix.rate_limit import RateLimiter

url, instance, start_at, attempts = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
limiter = RateLimiter(sync_client(url))
while time.time() < start_at:
    time.sleep(0.005)
print(json.dumps({"admitted": sum(limiter.try_acquire(instance) == 0 for _ in range(attempts))}))
"""

CALLER = """
import json, sys, time
import httpx
from worker.infra.redis_client import sync_client
from worker.wix.client import WixClient

url, base_url, instance, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
http = httpx.Client(base_url=base_url)
client = WixClient(http, sync_client(url), app_id="app-1", app_secret="app-secret")
while time.time() < start_at:
    time.sleep(0.005)
print(json.dumps({"contact": client.get_contact(instance, "c1")["id"]}))
"""


def run_all(processes: list[subprocess.Popen[str]], timeout: float = 60) -> list[dict[str, object]]:
    """Each process's JSON line; every process still running at the end is killed."""
    try:
        outputs = []
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            assert process.returncode == 0, err
            outputs.append(json.loads(out))
        return outputs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def start(args: list[str], redis_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-c", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_rate_limit_holds_across_processes(real_redis, redis_url) -> None:
    """Two processes each try 150 calls for one instance in the same second: 200 pass in all."""
    start_at = f"{time.time() + 3:.3f}"
    processes = [start([ACQUIRER, redis_url, INSTANCE, start_at, "150"], redis_url) for _ in range(2)]
    admitted = [output["admitted"] for output in run_all(processes)]
    assert sum(admitted) == 200  # type: ignore[arg-type]
    assert real_redis.zcard(keys.wix_rate(INSTANCE)) == 200


class StubWix(BaseHTTPRequestHandler):
    """Issues one token per `/oauth2/token` (slowly, to widen the race) and serves a contact to it."""

    # Class-level: the server answers each request from its own thread and handler instance.
    lock = threading.Lock()
    token_requests = 0
    contact_requests = 0
    issued: set[str] = set()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path != "/oauth2/token":
            return self._reply(404, {})
        with StubWix.lock:
            StubWix.token_requests += 1
            token = f"token-{StubWix.token_requests}"
            StubWix.issued.add(token)
        time.sleep(0.5)
        self._reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 14400})

    def do_GET(self) -> None:
        with StubWix.lock:
            StubWix.contact_requests += 1
        if self.headers.get("authorization") not in StubWix.issued:
            return self._reply(401, {})
        self._reply(200, {"contact": {"id": "c1"}})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub_wix() -> Iterator[str]:
    StubWix.token_requests = StubWix.contact_requests = 0
    StubWix.issued = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubWix)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_one_process_fetches_the_token_while_the_others_wait(real_redis, redis_url, stub_wix) -> None:
    """Five processes need the instance's token at once: one fetches it, all five use it."""
    start_at = f"{time.time() + 3:.3f}"
    processes = [start([CALLER, redis_url, stub_wix, INSTANCE, start_at], redis_url) for _ in range(5)]
    assert [output["contact"] for output in run_all(processes)] == ["c1"] * 5
    assert StubWix.token_requests == 1
    assert StubWix.contact_requests == 5
