"""RabbitMQ for the tests: a vhost of their own on the server at 127.0.0.1:5672 (skipped, saying why, when
there is none), and a TCP proxy that can stop passing bytes, to catch a process between two steps."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Process, wait_for
from worker.infra.embedded_redis import free_port

HOST, PORT = "127.0.0.1", 5672


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh vhost for guest, deleted afterwards: its broker URL (amqp://guest:guest@127.0.0.1:5672/vhost)."""
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
    except OSError:
        pytest.skip(f"RabbitMQ is not reachable at {HOST}:{PORT} (start one to run the RabbitMQ tests)")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on PATH: the RabbitMQ tests make a vhost of their own with it")
    vhost = f"wrw-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


class TcpProxy:
    """Forwards a loopback port to RabbitMQ; `hold()` stops passing what clients send (nothing they
    publish arrives), as a network that went quiet."""

    def __init__(self) -> None:
        self.port = free_port()
        self.holding = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.holding.set()

    def release(self) -> None:
        self.holding.clear()

    def cut(self) -> None:
        """Close every connection made through the proxy (a broker that dropped its clients); new ones
        are still accepted."""
        for sock in self._sockets[1:]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, PORT), timeout=5)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not (outbound and self.holding.is_set()):
                    target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


def kill_a_receiver_awaiting_its_confirm(
    broker_url: str,
    start_receiver: Callable[[str], tuple[Process, str]],
    token: str,
    journaled: Callable[[], bool],
) -> None:
    """Start a receiver (`start_receiver(its broker URL)` → its process and base URL) whose RabbitMQ goes
    quiet behind a `TcpProxy`, post `token` to it, and SIGKILL it once `journaled()`: the event is left
    journaled `queued` in the store and published nowhere."""
    proxy = TcpProxy()
    try:
        web, base_url = start_receiver(broker_url.replace(f":{PORT}/", f":{proxy.port}/"))
        try:
            proxy.hold()
            poster = threading.Thread(target=_post_unanswered, args=(base_url, token))
            poster.start()
            wait_for(journaled, 5, "the receiver to journal the event")
            web.kill_group()
            poster.join(15)
        finally:
            web.stop()
    finally:
        proxy.close()


def _post_unanswered(base_url: str, token: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed before it answers
        httpx.post(f"{base_url}/webhooks/wix", content=token, timeout=10)


class TlsProxy:
    """RabbitMQ over TLS, as a managed RabbitMQ offers it (`amqps://`): a loopback port that ends TLS with
    `certificate` and `key` and forwards the bytes to the server at 127.0.0.1:5672 (asyncio, in a thread of
    its own)."""

    def __init__(self, certificate: Path, key: Path) -> None:
        self.port = free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        self._loop = asyncio.new_event_loop()
        self._writers: list[asyncio.StreamWriter] = []
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(context, started), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the TLS proxy did not start within 10 s")

    def _run(self, context: ssl.SSLContext, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._forward, "127.0.0.1", self.port, ssl=context)
        )
        started.set()
        self._loop.run_forever()
        # Stopped: every connection closed, its pumps ended, then the loop itself.
        self._server.close()
        for writer in self._writers:
            writer.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        upstream_reader, upstream_writer = await asyncio.open_connection(HOST, PORT)
        self._writers.append(upstream_writer)
        await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _pump(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    with contextlib.suppress(OSError, ConnectionError, RuntimeError):
        target.close()
