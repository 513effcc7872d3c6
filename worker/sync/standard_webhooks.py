"""Signing and verifying webhooks in the Standard Webhooks format (standardwebhooks.com, spec 1.0.0).

The symmetric scheme only, as `spec/standard-webhooks.md` of github.com/standard-webhooks/standard-webhooks
defines it:

- the secret is `whsec_` + base64 of random bytes (the prefix is optional on the way in, and unpadded
  base64 is accepted, as the reference libraries do);
- the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, signed with HMAC-SHA256;
- `webhook-signature` is a space-separated list of `v1,<base64 signature>`: any one that matches is
  enough (secret rotation), entries of other versions (`v1a`, ...) are skipped;
- `webhook-timestamp` is an integer Unix time in seconds, refused when more than five minutes away
  from now in either direction;
- signatures are compared in constant time.

Written here rather than taken from the `standardwebhooks` package: its `verify` works on decoded text,
answers a malformed signature entry with a `ValueError` or `binascii.Error` instead of its own error, and
reads fractional timestamps; this module verifies the raw bytes and every failure is one exception
with a reason code. Its behaviour is checked against the spec libraries' published vectors
(tests/unit/sync/test_standard_webhooks.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Literal

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
TOLERANCE_SECONDS = 5 * 60
SIGNATURE_VERSION = "v1"
MAX_TIMESTAMP_DIGITS = 15

Reason = Literal[
    "missing_headers",
    "invalid_timestamp",
    "timestamp_too_old",
    "timestamp_too_new",
    "no_matching_signature",
]

_MESSAGES: dict[Reason, str] = {
    "missing_headers": "webhook-id, webhook-timestamp and webhook-signature are all required",
    "invalid_timestamp": "webhook-timestamp is not an integer Unix time in seconds",
    "timestamp_too_old": f"webhook-timestamp is more than {TOLERANCE_SECONDS} seconds in the past",
    "timestamp_too_new": f"webhook-timestamp is more than {TOLERANCE_SECONDS} seconds in the future",
    "no_matching_signature": "no v1 signature in webhook-signature matches the body",
}


class WebhookVerificationError(Exception):
    """The message is not authentic, or not fresh; `reason` says which check failed."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason: Reason = reason


def decode_secret(secret: str | bytes) -> bytes:
    """The key bytes of a `whsec_` secret (or raw bytes as they are); ValueError when unusable."""
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.strip().removeprefix(SECRET_PREFIX)
        try:
            # Unpadded base64 is accepted, as the reference libraries accept it.
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True) if text else b""
        except binascii.Error:
            raise ValueError("the webhook secret is not base64 after its whsec_ prefix") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


class StandardWebhook:
    """Signs and verifies messages with one shared secret. The secret never appears in a repr."""

    def __init__(self, secret: str | bytes, *, tolerance_seconds: int = TOLERANCE_SECONDS) -> None:
        self._key = decode_secret(secret)
        self._tolerance = tolerance_seconds

    def __repr__(self) -> str:
        return "StandardWebhook(secret=<hidden>)"

    def _digest(self, msg_id: str, timestamp: int | str, body: bytes) -> bytes:
        content = f"{msg_id}.{timestamp}.".encode() + body
        return hmac.new(self._key, content, hashlib.sha256).digest()

    def sign(self, msg_id: str, timestamp: int, body: bytes | str) -> str:
        """The `v1,<base64>` signature of the message."""
        data = body.encode() if isinstance(body, str) else body
        return f"{SIGNATURE_VERSION},{base64.b64encode(self._digest(msg_id, timestamp, data)).decode()}"

    def headers(self, msg_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
        """The three headers to send with `body`, signed at `now` (default: the clock)."""
        timestamp = int(time.time() if now is None else now)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.sign(msg_id, timestamp, body),
        }

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> str:
        """Check the headers against the raw body; answers the `webhook-id`. Header names are matched
        whatever their case. Raises `WebhookVerificationError`."""
        lowered = {name.lower(): value for name, value in headers.items()}
        msg_id = lowered.get("webhook-id", "")
        stamp = lowered.get("webhook-timestamp", "").strip()
        signatures = lowered.get("webhook-signature", "")
        if not (msg_id and stamp and signatures):
            raise WebhookVerificationError("missing_headers")
        # Unix seconds have 10 digits; a longer stamp is refused before int() (which refuses over 4,300).
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > MAX_TIMESTAMP_DIGITS:
            raise WebhookVerificationError("invalid_timestamp")
        timestamp = int(stamp)
        current = time.time() if now is None else now
        if timestamp < current - self._tolerance:
            raise WebhookVerificationError("timestamp_too_old")
        if timestamp > current + self._tolerance:
            raise WebhookVerificationError("timestamp_too_new")
        expected = self._digest(msg_id, stamp, body)
        for entry in signatures.split(" "):
            version, _, encoded = entry.partition(",")
            if version != SIGNATURE_VERSION or not encoded:
                continue
            try:
                candidate = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                continue
            if hmac.compare_digest(expected, candidate):
                return msg_id
        raise WebhookVerificationError("no_matching_signature")
