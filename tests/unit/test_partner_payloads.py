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
