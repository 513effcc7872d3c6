"""Verifying the JWTs Wix signs: RS256 only, with the app's public key loaded once.

PyJWT does the verification. Its check that each segment is base64url walks the token one byte at a
time in Python, which is most of the cost of a decode on a Wix-sized token (~100 µs of ~40 µs
otherwise); `_FastSegmentJWS` makes the same checks with one `bytes.translate` and a look at the last
character instead of encoding the decoded bytes again, and `_OrjsonPayloadJWT` parses the claims (3 KB of
JSON holding JSON strings) with orjson, a third of `json.loads`'s time (`make bench` shows each stage).
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import timedelta
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.api_jws import PyJWS
from jwt.api_jwt import PyJWT

ALGORITHMS = ["RS256"]
# A token without `exp` is taken for this long after its `iat`: Wix retries a webhook for about 47 hours.
MAX_AGE = timedelta(hours=48)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {character: value for value, character in enumerate(_ALPHABET)}
# The bits of a segment's last character that fall past its last byte, by the segment's length mod 4:
# the encoder writes them as zeros, so a spelling with any of them set is not the canonical one.
_SPARE_BITS = {0: 0, 2: 0b1111, 3: 0b11}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def base64url_segment(segment: bytes) -> bytes | None:
    """The bytes a JWT segment encodes, or None unless it is canonical unpadded base64url (RFC 7515 §2):
    one spelling per value, so a token cannot be re-spelt into a different-looking valid one."""
    spare = _SPARE_BITS.get(len(segment) % 4)
    if spare is None or segment.translate(None, _ALPHABET):  # a character outside base64url
        return None
    if spare and _SEXTET[segment[-1]] & spare:
        return None
    padded = segment.translate(_TO_STANDARD) + b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(padded, strict_mode=True)  # strict: faster, and checks again


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by the key we hold."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class KeyFormatError(ValueError):
    """The configured public key is not a PEM RSA public key in any accepted spelling."""


def load_public_key(text: str) -> RSAPublicKey:
    """Load an RSA public key given as PEM, as PEM with `\\n` escapes, or as base64 of the PEM."""
    candidate = text.strip().strip('"').strip("'")
    if "\\n" in candidate:
        candidate = candidate.replace("\\r\\n", "\n").replace("\\n", "\n")
    if "-----BEGIN" not in candidate:
        try:
            candidate = base64.b64decode("".join(candidate.split()), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise KeyFormatError("the Wix public key is neither PEM nor base64-encoded PEM") from exc
    try:
        key = load_pem_public_key(candidate.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeyFormatError("the Wix public key is not a valid PEM public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise KeyFormatError("the Wix public key is not an RSA key")
    return key


class _FastSegmentJWS(PyJWS):
    """PyJWS with the segment checks of PyJWT 2.15 (GHSA-hxm8-2xgr-2p9m), done by a regex, and one
    more: no `=` padding (RFC 7515 §2 base64url has none). So a token has one spelling only, and a
    legacy webhook, whose event id is the token's hash, cannot be sent again as a new event with `==`
    appended to its signature."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        try:
            decoded = base64url_segment(segment)
        except (TypeError, binascii.Error) as err:
            raise jwt.DecodeError(f"Invalid {name} padding") from err
        if decoded is None:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


class _OrjsonPayloadJWT(PyJWT):
    """PyJWT with the claims parsed by orjson (the hook PyJWT offers for decoding the payload)."""

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = orjson.loads(decoded["payload"])
        except orjson.JSONDecodeError as exc:
            raise jwt.DecodeError(f"Invalid payload string: {exc}") from exc
        if not isinstance(payload, dict):
            raise jwt.DecodeError("Invalid payload string: must be a json object")
        return payload


def _reason_for(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not_yet_valid"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad_signature"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "bad_algorithm"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong_audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong_issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "missing_claim"
    return "malformed"


class TokenVerifier:
    """Verifies Wix-signed tokens against one public key, parsed once at start."""

    def __init__(self, public_key: RSAPublicKey, *, leeway: int = 60) -> None:
        self._key = public_key
        self._leeway = leeway
        self._decoder = _OrjsonPayloadJWT()
        self._decoder._jws = _FastSegmentJWS(options=self._decoder._get_sig_options())

    def verify(
        self,
        token: str | bytes,
        *,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        """The verified claims of `token`, or `InvalidToken` saying why not."""
        if not token:
            raise InvalidToken("missing", "no token in the request body")
        options: dict[str, Any] = {"verify_aud": audience is not None}
        try:
            claims: dict[str, Any] = self._decoder.decode(
                token,
                self._key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=issuer,
                leeway=self._leeway,
                options=options,  # type: ignore[arg-type]  # PyJWT types options as a TypedDict
            )
        except jwt.PyJWTError as exc:
            reason = _reason_for(exc)
            raise InvalidToken(reason, f"the token is not valid: {exc}") from None
        except (ValueError, TypeError, UnicodeError):
            raise InvalidToken("malformed", "the token is not valid: not a JWT") from None
        if "exp" not in claims:
            # PyJWT checks exp and iat when present; a token without exp is good for MAX_AGE after iat.
            issued = claims.get("iat")
            if not isinstance(issued, int | float) or isinstance(issued, bool):
                raise InvalidToken("missing_claim", "the token is not valid: it has neither exp nor iat")
            if issued < time.time() - MAX_AGE.total_seconds() - self._leeway:
                raise InvalidToken(
                    "expired", f"the token is not valid: it has no exp and is older than {MAX_AGE}"
                )
        return claims
