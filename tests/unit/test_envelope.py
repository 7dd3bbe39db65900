"""The CloudEvents envelope and the event contracts, both ways."""

from __future__ import annotations

import json

import pytest

from shared.events import InvalidEvent, decode, encode, new_event
from shared.events.contracts import CATALOG, EVENT_TYPES
from shared.events.examples import EXAMPLES


def _example(type_: str):
    agencies, data = EXAMPLES[type_]
    return new_event(
        type_, source="/agencies/TG/registry", subject="agg-1", agencies=agencies, data=data
    )


def test_every_catalog_type_has_a_valid_example():
    assert set(EXAMPLES) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == len(CATALOG)  # one version of each type so far


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_event_type_survives_encode_then_decode(type_):
    event = _example(type_)
    assert decode(encode(event)) == event


def test_structured_json_carries_the_required_cloudevents_attributes():
    body = json.loads(encode(_example("match.proposed")))
    assert body["specversion"] == "1.0"
    assert body["type"] == "match.proposed"
    assert body["source"] == "/agencies/TG/registry"
    assert body["subject"] == "agg-1"
    assert body["id"] and body["time"].endswith("Z")
    assert body["dataschema"] == "https://schemas.vir-exchange.org/events/match.proposed/v1.json"
    assert body["viragencies"] == "TG.ML"


def test_routing_key_is_the_type_then_the_agencies_concerned_in_order():
    assert _example("match.proposed").routing_key == "match.proposed.TG.ML"
    assert _example("volunteer.registered").routing_key == "volunteer.registered.TG"


def _mutated(**changes):
    body = json.loads(encode(_example("agreement.approved")))
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "body is not valid UTF-8"),
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_mutated(id=None), "missing CloudEvents attributes: id"),
        (_mutated(specversion="0.3"), "unsupported specversion"),
        (_mutated(type="agreement.signed"), "does not name agreement.signed"),
        (_mutated(dataschema="https://example.org/x.json"), "does not name"),
        (_mutated(viragencies="TG.mali"), "not ISO 3166 alpha-2 agency codes: mali"),
        (_mutated(viragencies=None), "must name the agencies"),
        (_mutated(time="yesterday"), "not an RFC 3339 timestamp"),
        (_mutated(data=[1]), "'data' must be a JSON object"),
        (_mutated(data={"agreement_id": "a"}), "agreement.approved v1 data is invalid"),
    ],
)
def test_decode_refuses_what_is_not_an_event_of_the_contract_with_a_reason(body, reason):
    with pytest.raises(InvalidEvent) as info:
        decode(body)
    assert reason in info.value.reason


def test_invalid_data_reports_field_errors():
    agencies, data = EXAMPLES["placement.published"]
    with pytest.raises(InvalidEvent) as info:
        new_event(
            "placement.published",
            source="/agencies/ML/registry",
            subject="pl-1",
            agencies=agencies,
            data={**data, "slots": -1, "end": "2017-01-01"},
        )
    errors = info.value.errors["data"]
    assert "slots" in errors and "end" in errors


def test_unknown_fields_are_refused_so_the_contract_cannot_drift_silently():
    agencies, data = EXAMPLES["volunteer.registered"]
    with pytest.raises(InvalidEvent) as info:
        new_event(
            "volunteer.registered",
            source="/agencies/TG/registry",
            subject="v",
            agencies=agencies,
            data={**data, "full_name": "Ama Mensah"},
        )
    assert "full_name" in info.value.errors["data"]
