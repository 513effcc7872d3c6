"""Signing webhooks the way Wix does (wix-facts.md §1): for tests, benchmarks and the local fake Wix."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def envelope_claims(
    event_type: str,
    instance_id: str,
    payload: dict[str, Any],
    *,
    identity: dict[str, Any] | None = None,
    issued_at: int | None = None,
    lifetime: int = 300,
) -> dict[str, Any]:
    """The JWT claims of a webhook: `data` is a JSON string holding the envelope, whose `data` and
    `identity` are JSON strings too."""
    envelope: dict[str, Any] = {
        "eventType": event_type,
        "instanceId": instance_id,
        "data": json.dumps(payload),
    }
    if identity is not None:
        envelope["identity"] = json.dumps(identity)
    now = int(time.time()) if issued_at is None else issued_at
    return {"data": json.dumps(envelope), "iat": now, "exp": now + lifetime}


def sign_webhook(
    private_key: rsa.RSAPrivateKey,
    event_type: str,
    instance_id: str,
    payload: dict[str, Any],
    **options: Any,
) -> str:
    claims = envelope_claims(event_type, instance_id, payload, **options)
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": "wix-app-key"})
