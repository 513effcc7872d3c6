"""Signing and posting webhooks as Wix does (wix-facts.md §1): the body is a compact RS256 JWT whose
`data` claim is the JSON envelope `{eventType, instanceId, data}`, signed with the app's private key.

Also where the fake keeps its key pair on disk: `send-webhook` signs with the private key the server
wrote, and the service verifies with the public key beside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.wix.webhook_signing import new_private_key, public_pem, sign_webhook

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
