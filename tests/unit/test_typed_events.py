"""Typed events: every contract loads into its payload class, dates as dates, and back unchanged."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from shared.events import decode, encode, new_event
from shared.events.contracts import CATALOG, EVENT_TYPES, schema_for
from shared.events.envelope import Event
from shared.events.examples import EXAMPLES
from shared.events.payloads import PAYLOADS
from shared.events.typed import dump, typed


def _example(type_: str) -> Event:
    agencies, data = EXAMPLES[type_]
    return new_event(
        type_, source="/agencies/TG/registry", subject="agg-1", agencies=agencies, data=data
    )


@pytest.mark.parametrize("contract", CATALOG, ids=lambda c: f"{c.type}.v{c.version}")
def test_every_payload_class_has_exactly_its_contracts_fields(contract):
    classes = [(contract.schema, PAYLOADS[contract.schema])]
    while classes:
        schema, cls = classes.pop()
        assert [f.name for f in dataclasses.fields(cls)] == list(schema._declared_fields)
        for field in schema._declared_fields.values():
            nested = getattr(getattr(field, "inner", field), "nested", None)
            if nested is not None:
                classes.append((nested, PAYLOADS[nested]))


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_example_round_trips_through_its_typed_payload(type_):
    sent = _example(type_)
    received = decode(encode(sent))
    event = typed(received)
    assert type(event.data) is PAYLOADS[schema_for(type_, sent.version).__class__]
    assert dump(type_, sent.version, event.data) == dict(sent.data) == dict(received.data)
    # an event whose loaded data is not at hand (built by hand) gives the same payload
    bare = dataclasses.replace(received, loaded=None)
    assert typed(bare).data == event.data


def test_dates_arrive_as_dates_and_timestamps_as_aware_datetimes():
    volunteer = typed(decode(encode(_example("volunteer.registered")))).data
    assert volunteer.available_from == date(2017, 9, 1)
    assert isinstance(volunteer.registered_at, datetime)
    assert volunteer.registered_at.utcoffset() is not None
    assert volunteer.languages[0].code == "fr"
    terms = typed(decode(encode(_example("agreement.proposed")))).data
    assert (terms.start, terms.end) == (date(2017, 9, 1), date(2018, 12, 31))
    assert terms.quotas[0].volunteers == 4
    started = typed(_example("mobility.started")).data
    assert isinstance(started.on, date)


def test_the_envelope_attributes_are_those_of_the_decoded_event():
    received = decode(encode(_example("match.proposed")))
    event = typed(received)
    assert (event.id, event.type, event.source, event.agencies, event.version) == (
        received.id,
        received.type,
        received.source,
        received.agencies,
        received.version,
    )
    assert event.routing_key == "match.proposed.TG.ML"
