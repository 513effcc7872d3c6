"""Standard Webhooks signing and verification, checked with the spec's published test vectors.

The vectors are those of the reference libraries in github.com/standard-webhooks/standard-webhooks
(commit b2fa7b8): `libraries/python/tests/test_webhooks.py` (`test_sign_function`: secret
`whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp 1614265330,
payload `{"test": 2432232314}` → `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`; the same vector is in
the Go, JavaScript, C# and Java libraries' tests), and the same file's scenarios: a wrong signature
(`...J1OA=`), several signatures of which one matches, a `v2` entry skipped, the secret with and without
`whsec_`, unpadded secrets, and timestamps one second past the five-minute tolerance either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from worker.sync.standard_webhooks import StandardWebhook, WebhookVerificationError, decode_secret

SECRET = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
PAYLOAD = b'{"test": 2432232314}'
TIMESTAMP = 1614265330
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = EXPECTED, timestamp: int = TIMESTAMP, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def reference_signature(secret: str, timestamp: int) -> str:
    """How the Python library's tests build a valid header (`PayloadForTesting`)."""
    content = f"{MSG_ID}.{timestamp}.".encode() + PAYLOAD
    return (
        "v1,"
        + base64.b64encode(hmac.new(base64.b64decode(secret), content, hashlib.sha256).digest()).decode()
    )


class TestPublishedVector:
    def test_sign_gives_the_published_signature(self) -> None:
        """`test_sign_function`: the spec's secret, id, timestamp and payload sign to the published value."""
        assert StandardWebhook("whsec_" + SECRET).sign(MSG_ID, TIMESTAMP, PAYLOAD) == EXPECTED

    def test_the_published_signature_verifies_at_its_time(self) -> None:
        """The published header verifies at its own timestamp and answers the message id."""
        assert StandardWebhook("whsec_" + SECRET).verify(PAYLOAD, headers(), now=TIMESTAMP) == MSG_ID

    def test_the_secret_works_with_and_without_its_prefix(self) -> None:
        """`test_signature_verification_with_and_without_prefix`."""
        assert StandardWebhook(SECRET).verify(PAYLOAD, headers(), now=TIMESTAMP) == MSG_ID

    def test_a_wrong_signature_is_refused(self) -> None:
        """`test_invalid_signature_raises_error`: the last character changed."""
        wrong = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
        with pytest.raises(WebhookVerificationError) as caught:
            StandardWebhook(SECRET).verify(PAYLOAD, headers(wrong), now=TIMESTAMP)
        assert caught.value.reason == "no_matching_signature"

    def test_one_matching_signature_among_several_is_enough(self) -> None:
        """`test_multi_sig_payload_is_valid`: secret rotation sends several; other versions are skipped."""
        several = " ".join(
            [
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                EXPECTED,
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            ]
        )
        assert StandardWebhook(SECRET).verify(PAYLOAD, headers(several), now=TIMESTAMP) == MSG_ID

    def test_a_right_signature_under_another_version_is_refused(self) -> None:
        """Java's `withWrongVersion`: `v2,<the right bytes>` is not a v1 signature."""
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(SECRET).verify(PAYLOAD, headers("v2," + EXPECTED[3:]), now=TIMESTAMP)

    @pytest.mark.parametrize(
        ("secret", "padded"),
        [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS="),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr=="),
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr=="),
        ],
    )
    def test_unpadded_secrets_are_read(self, secret: str, padded: str) -> None:
        """`test_signature_verification_with_unpadded_secret`: no, one and two padding characters."""
        signed = headers(reference_signature(padded, TIMESTAMP))
        assert StandardWebhook(secret).verify(PAYLOAD, signed, now=TIMESTAMP) == MSG_ID


class TestTimestamps:
    @pytest.mark.parametrize(("offset", "reason"), [(-301, "timestamp_too_old"), (301, "timestamp_too_new")])
    def test_one_second_past_the_tolerance_is_refused(self, offset: int, reason: str) -> None:
        """`test_old_timestamp_fails` / `test_new_timestamp_fails`: five minutes and a second away."""
        webhook = StandardWebhook(SECRET)
        signed = headers(reference_signature(SECRET, TIMESTAMP + offset), TIMESTAMP + offset)
        with pytest.raises(WebhookVerificationError) as caught:
            webhook.verify(PAYLOAD, signed, now=TIMESTAMP)
        assert caught.value.reason == reason

    @pytest.mark.parametrize("offset", [-300, 300])
    def test_exactly_five_minutes_away_is_accepted(self, offset: int) -> None:
        """The tolerance is inclusive on both sides."""
        signed = headers(reference_signature(SECRET, TIMESTAMP + offset), TIMESTAMP + offset)
        assert StandardWebhook(SECRET).verify(PAYLOAD, signed, now=TIMESTAMP) == MSG_ID

    @pytest.mark.parametrize("stamp", ["hello", "1614265330.5", "-1614265330", ""])
    def test_a_timestamp_that_is_not_whole_seconds_is_refused(self, stamp: str) -> None:
        """`test_invalid_timestamp_raises_error`: an integer Unix time or nothing."""
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(SECRET).verify(PAYLOAD, {**headers(), "webhook-timestamp": stamp}, now=TIMESTAMP)


class TestHeaders:
    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_a_missing_header_is_refused(self, missing: str) -> None:
        """`test_missing_id_raises_error` and its siblings."""
        incomplete = {name: value for name, value in headers().items() if name != missing}
        with pytest.raises(WebhookVerificationError) as caught:
            StandardWebhook(SECRET).verify(PAYLOAD, incomplete, now=TIMESTAMP)
        assert caught.value.reason == "missing_headers"

    def test_header_names_match_whatever_their_case(self) -> None:
        """Java's `withMixedCaseHeaders`."""
        mixed = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TIMESTAMP), "webhook-SIGNATURE": EXPECTED}
        assert StandardWebhook(SECRET).verify(PAYLOAD, mixed, now=TIMESTAMP) == MSG_ID

    @pytest.mark.parametrize("signature", ["invalid_signature", "v1,invalid_signature", "v1,", "v1"])
    def test_malformed_signatures_are_refused_not_crashed_on(self, signature: str) -> None:
        """Java's `withInvalidSignatureFormat` / `withInvalidSignatureValue`: one error, no other."""
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(SECRET).verify(PAYLOAD, headers(signature), now=TIMESTAMP)

    def test_a_changed_body_is_refused(self) -> None:
        """The body is signed byte for byte: one space more and the signature no longer matches."""
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(SECRET).verify(PAYLOAD + b" ", headers(), now=TIMESTAMP)

    def test_headers_sign_what_verify_accepts(self) -> None:
        """A message signed by `headers()` verifies with the same secret and not with another."""
        body = b'{"type":"loyalty.points_updated"}'
        signed = StandardWebhook(SECRET).headers("msg_1", body, now=TIMESTAMP)
        assert StandardWebhook(SECRET).verify(body, signed, now=TIMESTAMP + 10) == "msg_1"
        other = StandardWebhook(base64.b64encode(b"another secret of 24 byte").decode())
        with pytest.raises(WebhookVerificationError):
            other.verify(body, signed, now=TIMESTAMP)


class TestSecrets:
    @pytest.mark.parametrize("secret", ["", "whsec_", b""])
    def test_an_empty_secret_is_refused(self, secret: str | bytes) -> None:
        """`test_empty_secret_raises_error`."""
        with pytest.raises(ValueError, match="empty"):
            StandardWebhook(secret)

    def test_a_secret_that_is_not_base64_is_refused(self) -> None:
        """A clear error rather than a key made of whatever decodes."""
        with pytest.raises(ValueError, match="base64"):
            decode_secret("whsec_not base64!")

    def test_the_secret_is_not_in_the_repr(self) -> None:
        """Secrets never reach logs through a repr."""
        assert SECRET not in repr(StandardWebhook(SECRET))
