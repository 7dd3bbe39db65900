"""What partners receive (webhooks and vir.public): allowed fields only, no reason, no contact,
and a subject that never names a volunteer."""

from __future__ import annotations

import json

import pytest

from services.notifications.domain.partner_payloads import ALLOWED, public_payload
from shared.events import new_event
from shared.events.examples import EXAMPLES


@pytest.mark.parametrize("type_", sorted(ALLOWED))
def test_a_partner_payload_names_no_volunteer_and_carries_no_reason(type_):
    agencies, data = EXAMPLES[type_]
    source = "/network/matching" if type_.startswith("match.") else "/agencies/TG/registry"
    subject = data.get("volunteer_id") or "x"
    event = new_event(type_, source=source, subject=subject, agencies=agencies, data=data)
    payload = public_payload(event)
    assert payload is not None
    assert "reason" not in payload["data"]
    assert "volunteer_id" not in payload["data"]
    assert payload.get("subject") != data.get("volunteer_id")
    if type_.startswith("volunteer."):
        assert "subject" not in payload  # a volunteer's id never reaches a partner
        assert "vol-" not in json.dumps(payload)
    else:
        assert payload["subject"] in payload["data"].values()


def test_the_network_instance_is_bound_to_exactly_the_types_partners_get_a_payload_for():
    """The network's notifications queue is bound to PARTNER_TYPES (shared topology); a type
    given a partner payload but not bound would never reach partners, and one bound without a
    payload would be received only to be dropped."""
    from shared.messaging.topology import PARTNER_TYPES, notifications_consumer, topic_matches

    assert set(ALLOWED) == PARTNER_TYPES
    bindings = notifications_consumer().bindings
    for type_ in PARTNER_TYPES:
        assert any(topic_matches(b, f"{type_}.TG.ML") for b in bindings), type_
