"""Signing and posting webhooks as Wix does (wix-facts.md §1): the body is a compact RS256 JWT whose
`data` claim is the JSON envelope `{eventType, instanceId, data}`, signed with the app's private key.

Also where the fake keeps its key pair on disk: `send-webhook` signs with the private key the server
wrote, and the service verifies with the public key beside it.

The fake sends some webhooks itself, after a change our app makes through its API (a `program_updated`
after each program change, worker.wix.fake.loyalty_program): `emit` keeps each in the instance's
`webhooks` (read back at `/_fake/instances/{id}/webhooks`) and, when the fake has a `webhookUrl`
(`PATCH /_fake/settings`, or `--webhook-url`), posts it there after the answer, as Wix delivers
webhooks apart from the call that caused them; an answer other than 200 is delivered again a few
times (Wix retries for ~47 h, wix-facts.md §2).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.wix.fake.state import FakeWix, InstanceState
from worker.wix.webhook_signing import new_private_key, public_pem, sign_webhook

DELIVERY_ATTEMPTS = 3
DELIVERY_BACKOFF_SECONDS = 0.5

DEFAULT_KEY_DIR = Path("var/fake-wix")
DEFAULT_PRIVATE_KEY = DEFAULT_KEY_DIR / "private-key.pem"


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The key in `path`; a new one, written there (mode 600), when the file does not exist."""
    if path.exists():
        return load_private_key(path)
    key = new_private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(path, pem)
    return key


def write_public_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(public_pem(key), encoding="ascii")


def post_webhook(
    url: str,
    private_key: rsa.RSAPrivateKey,
    event_type: str,
    instance_id: str,
    payload: dict[str, Any],
    *,
    timeout: float = 10.0,
) -> httpx.Response:
    """Sign the event as Wix does and POST it; the receiver's answer is returned, whatever it is."""
    token = sign_webhook(private_key, event_type, instance_id, payload)
    return httpx.post(url, content=token, headers={"content-type": "text/plain"}, timeout=timeout)


def emit(fake: FakeWix, instance: InstanceState, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Sign a webhook as Wix would (identity: our app) and keep it in the instance's `webhooks`;
    answers the record that `deliver` fills in (`url`, `attempts`, `status`, `error`)."""
    identity = {"identityType": "APP", "appId": fake.settings.app_id}
    token = sign_webhook(fake.private_key, event_type, instance.instance_id, payload, identity=identity)
    record: dict[str, Any] = {
        "eventType": event_type,
        "eventId": payload.get("id"),
        "payload": payload,
        "url": fake.settings.webhook_url,
        "attempts": 0,
        "status": None,
        "token": token,
    }
    instance.webhooks.append(record)
    return record


async def deliver(record: dict[str, Any], *, timeout: float = 5.0) -> None:
    """POST the record's signed webhook to its `url` until it is answered 200, `DELIVERY_ATTEMPTS`
    times at most; what happened is kept in the record."""
    url = record.get("url")
    if not url:
        return
    async with httpx.AsyncClient(timeout=timeout) as client:
        for attempt in range(DELIVERY_ATTEMPTS):
            if attempt:
                await asyncio.sleep(DELIVERY_BACKOFF_SECONDS * 2 ** (attempt - 1))
            record["attempts"] = attempt + 1
            try:
                answer = await client.post(
                    url, content=record["token"], headers={"content-type": "text/plain"}
                )
            except httpx.HTTPError as exc:
                record["status"], record["error"] = None, type(exc).__name__
                continue
            record["status"] = answer.status_code
            record.pop("error", None)
            if answer.status_code == 200:
                return
