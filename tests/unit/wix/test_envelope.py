"""Unwrapping Wix's three levels: claim `data` → envelope → inner `data` (+ `identity`)."""

from __future__ import annotations

import json

import pytest

from tests import wix_samples
from worker.wix.envelope import EnvelopeError, parse_envelope
from worker.wix.webhook_signing import envelope_claims


class TestParseEnvelope:
    @pytest.mark.parametrize("event_type", sorted(wix_samples.HANDLED))
    def test_every_handled_type_parses(self, event_type: str) -> None:
        """Wix's example payload of each type yields its type, instance and the inner data untouched."""
        payload = wix_samples.HANDLED[event_type]()
        envelope = parse_envelope(envelope_claims(event_type, "inst-1", payload), b"token")
        assert envelope.event_type == event_type
        assert envelope.instance_id == "inst-1"
        assert envelope.handled
        assert json.loads(envelope.data) == payload

    def test_the_event_id_is_the_inner_payload_id(self) -> None:
        """The dedupe key is the webhook event id, not the entity id."""
        payload = wix_samples.payment_status_updated(event_id="evt-42")
        envelope = parse_envelope(
            envelope_claims("wix.ecom.v1.order_payment_status_updated", "i", payload), b"token"
        )
        assert envelope.event_id == "evt-42"

    def test_identity_is_carried_as_json_text(self) -> None:
        """The envelope's identity string is passed on."""
        claims = envelope_claims(
            "wix.ecom.v1.order_approved",
            "i",
            wix_samples.order_approved(),
            identity={"identityType": "MEMBER"},
        )
        assert json.loads(parse_envelope(claims, b"t").identity or "") == {"identityType": "MEMBER"}

    def test_nested_objects_instead_of_strings_are_tolerated(self) -> None:
        """Some senders put objects where Wix documents strings; both read the same."""
        payload = wix_samples.order_approved()
        claims = {"data": {"eventType": "wix.ecom.v1.order_approved", "instanceId": "i", "data": payload}}
        envelope = parse_envelope(claims, b"t")
        assert envelope.event_id == payload["id"]
        assert json.loads(envelope.data) == payload

    def test_legacy_events_without_an_id_get_a_stable_id_from_the_token(self) -> None:
        """AppInstalled has no event id: the same token gives the same id, another token another."""
        claims = envelope_claims("AppInstalled", "i", wix_samples.app_installed())
        first = parse_envelope(claims, b"token-a").event_id
        assert first == parse_envelope(claims, b"token-a").event_id
        assert first != parse_envelope(claims, b"token-b").event_id

    def test_unhandled_types_are_marked(self) -> None:
        """A type outside DESIGN.md's table parses but is not handled."""
        envelope = parse_envelope(envelope_claims("wix.ecom.v1.order_updated", "i", {"id": "e"}), b"t")
        assert not envelope.handled

    def test_a_handled_domain_event_without_id_is_refused(self) -> None:
        """Without an event id a redelivery could not be recognised: not Wix's shape."""
        payload = wix_samples.order_approved()
        del payload["id"]
        with pytest.raises(EnvelopeError, match="id"):
            parse_envelope(envelope_claims("wix.ecom.v1.order_approved", "i", payload), b"t")

    @pytest.mark.parametrize("instance_id", ["a:b", "a}b", "{a}", "a b", "", "x" * 101])
    def test_an_instance_id_that_would_break_out_of_its_keys_is_refused(self, instance_id: str) -> None:
        """The instance id names the event's journal record and the site's keys: one with a `:` (the
        separator), a brace (a hash tag) or anything else outside the rule is not Wix's shape."""
        payload = wix_samples.order_approved()
        with pytest.raises(EnvelopeError, match="instanceId"):
            parse_envelope(envelope_claims("wix.ecom.v1.order_approved", instance_id, payload), b"t")

    @pytest.mark.parametrize("event_id", ["e}1", "e{1", "e\n1", "x" * 201])
    def test_an_event_id_that_would_break_out_of_its_key_is_refused(self, event_id: str) -> None:
        payload = wix_samples.order_approved(event_id=event_id)
        with pytest.raises(EnvelopeError, match="id"):
            parse_envelope(envelope_claims("wix.ecom.v1.order_approved", "inst-1", payload), b"t")

    def test_an_ignored_type_is_not_held_to_the_rule(self) -> None:
        """Nothing is written for a type we ignore, so its ids are not checked (a 400 would only make Wix
        deliver it again for two days)."""
        envelope = parse_envelope(envelope_claims("wix.ecom.v1.order_updated", "a:b", {"id": "e}"}), b"t")
        assert not envelope.handled
