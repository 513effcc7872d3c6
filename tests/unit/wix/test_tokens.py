"""Webhook token verification: RS256 with the app's key, nothing else."""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.wix.tokens import (
    InvalidToken,
    KeyFormatError,
    TokenVerifier,
    base64url_segment,
    load_public_key,
)
from worker.wix.webhook_signing import envelope_claims, new_private_key, public_pem, sign_webhook


@pytest.fixture
def verifier(public_key_pem: str) -> TokenVerifier:
    return TokenVerifier(load_public_key(public_key_pem), leeway=60)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict[str, object]:
    return envelope_claims("wix.ecom.v1.order_approved", "inst-1", {"id": "evt-1"})


class TestVerify:
    def test_a_token_signed_with_the_app_key_is_accepted(self, verifier, private_key) -> None:
        """A Wix-shaped RS256 token signed with the app's key yields its claims."""
        token = sign_webhook(private_key, "wix.ecom.v1.order_approved", "inst-1", {"id": "evt-1"})
        claims = verifier.verify(token)
        assert json.loads(claims["data"])["instanceId"] == "inst-1"

    @pytest.mark.parametrize("token", [b"", b"not-a-jwt", b"a.b", b"a.b.c", "ünïcode.x.y".encode()])
    def test_missing_or_malformed_tokens_are_refused(self, verifier, token: bytes) -> None:
        """Empty bodies and strings that are not JWTs are refused."""
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(token)
        assert refused.value.reason in {"missing", "malformed"}

    def test_an_expired_token_is_refused(self, verifier, private_key) -> None:
        """A token past `exp` plus the leeway is refused as expired."""
        past = int(time.time()) - 3600
        token = sign_webhook(private_key, "t", "i", {"id": "e"}, issued_at=past, lifetime=300)
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(token)
        assert refused.value.reason == "expired"

    def test_a_token_just_expired_within_the_leeway_is_accepted(self, verifier, private_key) -> None:
        """Clocks drift: 30 s past `exp` is still inside the 60 s leeway."""
        token = sign_webhook(
            private_key, "t", "i", {"id": "e"}, issued_at=int(time.time()) - 330, lifetime=300
        )
        assert verifier.verify(token)["data"]

    def test_a_token_issued_in_the_future_is_refused(self, verifier, private_key) -> None:
        """`iat` an hour ahead is not a token Wix signed just now."""
        token = sign_webhook(private_key, "t", "i", {"id": "e"}, issued_at=int(time.time()) + 3600)
        with pytest.raises(InvalidToken):
            verifier.verify(token)

    def test_alg_none_is_refused(self, verifier) -> None:
        """An unsigned token (`alg: none`) is refused."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(_claims()).encode())
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(f"{header}.{payload}.")
        assert refused.value.reason in {"bad_algorithm", "malformed"}

    def test_hs256_signed_with_the_public_key_as_secret_is_refused(self, verifier, public_key_pem) -> None:
        """The key-confusion attack: HMAC with the public PEM as the secret."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(_claims()).encode())
        import hashlib
        import hmac

        signature = hmac.new(public_key_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(f"{header}.{payload}.{_b64(signature)}")
        assert refused.value.reason == "bad_algorithm"

    def test_a_token_signed_by_a_foreign_key_is_refused(self, verifier) -> None:
        """RS256 with another key is not Wix."""
        token = sign_webhook(new_private_key(), "t", "i", {"id": "e"})
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(token)
        assert refused.value.reason == "bad_signature"

    def test_a_tampered_payload_is_refused(self, verifier, private_key) -> None:
        """Changing one claim after signing breaks the signature."""
        header, _, signature = sign_webhook(private_key, "t", "inst-1", {"id": "e"}).split(".")
        forged = _b64(json.dumps(envelope_claims("t", "inst-2", {"id": "e"})).encode())
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(f"{header}.{forged}.{signature}")
        assert refused.value.reason == "bad_signature"

    @pytest.mark.parametrize("junk", ["!!!!", "ab cd", "abc$", "a"])
    def test_segments_that_are_not_base64url_are_refused(self, verifier, private_key, junk: str) -> None:
        """Non-alphabet junk in a segment is refused even before the signature check."""
        header, payload, signature = sign_webhook(private_key, "t", "i", {"id": "e"}).split(".")
        with pytest.raises(InvalidToken):
            verifier.verify(f"{header}.{payload}.{signature}{junk}")

    def test_rs512_is_refused(self, verifier, private_key) -> None:
        """Only RS256: another RSA algorithm with the right key is still refused."""
        token = jwt.encode(_claims(), private_key, algorithm="RS512")
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(token)
        assert refused.value.reason == "bad_algorithm"


class TestKeyFormats:
    def test_pem(self, public_key_pem, private_key) -> None:
        """A multi-line PEM loads and verifies."""
        token = sign_webhook(private_key, "t", "i", {"id": "e"})
        assert TokenVerifier(load_public_key(public_key_pem)).verify(token)

    def test_escaped_newlines(self, public_key_pem, private_key) -> None:
        """A PEM with `\\n` escapes, as .env files store it, loads."""
        escaped = public_key_pem.replace("\n", "\\n")
        token = sign_webhook(private_key, "t", "i", {"id": "e"})
        assert TokenVerifier(load_public_key(escaped)).verify(token)

    def test_base64_pem(self, public_key_pem, private_key) -> None:
        """A base64-encoded PEM on one line (what @wix/sdk accepts) loads."""
        encoded = base64.b64encode(public_key_pem.encode()).decode()
        token = sign_webhook(private_key, "t", "i", {"id": "e"})
        assert TokenVerifier(load_public_key(encoded)).verify(token)

    @pytest.mark.parametrize(
        "text", ["", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
    )
    def test_garbage_is_a_clear_error(self, text: str) -> None:
        """Something that is not a key says so."""
        with pytest.raises(KeyFormatError):
            load_public_key(text)

    def test_a_non_rsa_key_is_refused(self) -> None:
        """An EC key is not the app's RSA key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        with pytest.raises(KeyFormatError):
            load_public_key(pem)

    def test_public_pem_round_trips(self) -> None:
        """The signing helper's PEM is what load_public_key reads."""
        key = new_private_key()
        assert load_public_key(public_pem(key)).public_numbers() == key.public_key().public_numbers()


class TestSegmentDecoding:
    @given(st.binary(max_size=64))
    def test_every_canonical_spelling_decodes_to_its_bytes(self, data: bytes) -> None:
        """What any base64url encoder writes (no padding) reads back as the same bytes."""
        assert base64url_segment(_b64(data).encode()) == data

    @given(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ", max_size=24)
    )
    def test_only_the_one_canonical_spelling_is_accepted(self, text: str) -> None:
        """A segment is accepted exactly when re-encoding its bytes gives it back: no padding, no spare
        bits set, no character outside base64url (the check PyJWT makes, done without re-encoding)."""
        segment = text.encode()
        try:
            canonical = _b64(base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))).encode()
        except ValueError:
            canonical = None
        expected = canonical == segment and re.fullmatch(rb"[A-Za-z0-9_-]*", segment) is not None
        assert (base64url_segment(segment) is not None) == expected
