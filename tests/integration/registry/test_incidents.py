"""Incidents: either agency reports one, its owner moves it on; the description and resolution
stay on the node where they were written, the other agency's node keeps the codes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.registry.handlers.peer_events import NotYet
from shared.db import outbox
from tests.support.registry import apply_event, confirmed_mobility, prepare_departure

pytestmark = pytest.mark.integration

ML = "/agencies/ML/registry"


@pytest.fixture
def mission(tg):
    mob = confirmed_mobility(tg)["mobility"]
    prepare_departure(tg, mob["id"])
    tg.call("POST", f"/api/v1/mobilities/{mob['id']}/start", json={"on": "2027-10-02"})
    return tg, mob


def _payloads(tg, type_):
    with tg.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == type_).order_by(outbox.c.seq)
        ).scalars()
        return list(rows)


def test_an_incident_is_reported_handed_over_and_only_its_owner_moves_it_on(mission):
    tg, mob = mission
    description = "Crise de paludisme, hospitalisée au CHU Gabriel Touré"
    reported = tg.call(
        "POST",
        f"/api/v1/mobilities/{mob['id']}/incidents",
        json={"on": "2027-12-04", "severity": "high", "category": "health", "owner": "ML"}
        | {"description": description},
    )
    assert reported.status_code == 201, reported.json
    incident = reported.json
    assert (incident["owner"], incident["status"], incident["description"]) == (
        "ML",
        "open",
        description,
    )
    [payload] = _payloads(tg, "mobility.incident_reported")
    data = json.loads(payload)["data"]
    assert (data["severity"], data["category"], data["owner"]) == ("high", "health", "ML")
    assert "paludisme" not in payload.lower()  # the description stays on this node

    # ML owns it: TG may not move it on; ML's update reaches TG's copy.
    path = f"/api/v1/incidents/{incident['id']}"
    refused = tg.call("POST", path, json={"on": "2027-12-05", "status": "in_progress"})
    assert refused.status_code == 403
    update = data | {"on": "2027-12-20", "status": "resolved", "severity": "medium", "version": 2}
    apply_event(tg, "mobility.incident_updated", update, source=ML)
    apply_event(tg, "mobility.incident_updated", update, source=ML)  # redelivered
    copy = tg.call("GET", path).json
    assert (copy["status"], copy["severity"], copy["resolved_on"]) == (
        "resolved",
        "medium",
        "2027-12-20",
    )
    assert tg.call("POST", path, json={"on": "2027-12-21", "status": "open"}).status_code == 403


def test_the_other_agencys_incident_arrives_as_codes_in_order(mission):
    tg, mob = mission
    reported = {
        "incident_id": "inc-ml-1",
        "mobility_id": mob["id"],
        "match_id": mob["match_id"],
        "agreement_id": mob["agreement_id"],
        "sending_agency": "TG",
        "host_agency": "ML",
        "reported_by": "ML",
        "on": "2027-11-10",
        "severity": "low",
        "category": "placement",
        "status": "open",
        "owner": "ML",
        "version": 1,
    }
    later = reported | {"status": "resolved", "on": "2027-11-20", "version": 3}
    with pytest.raises(NotYet):
        apply_event(tg, "mobility.incident_updated", later, source=ML)  # before its report
    apply_event(tg, "mobility.incident_reported", reported, source=ML)
    apply_event(tg, "mobility.incident_reported", reported, source=ML)
    with pytest.raises(NotYet):
        apply_event(tg, "mobility.incident_updated", later, source=ML)  # version 2 missing
    apply_event(
        tg, "mobility.incident_updated", later | {"status": "in_progress", "version": 2}, source=ML
    )
    apply_event(tg, "mobility.incident_updated", later, source=ML)
    [copy] = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/incidents").json
    assert (copy["id"], copy["status"], copy["description"]) == ("inc-ml-1", "resolved", None)
    # TG, not the owner, cannot close it again; the owner's own steps only come from ML.
    assert (
        tg.call("POST", "/api/v1/incidents/inc-ml-1", json={"on": "2027-11-21"}).status_code == 403
    )


def test_bad_codes_are_refused_with_field_errors(mission):
    tg, mob = mission
    bad = tg.call(
        "POST",
        f"/api/v1/mobilities/{mob['id']}/incidents",
        json={"on": "2027-12-04", "severity": "dramatic", "category": "weather"},
    )
    assert bad.status_code == 422 and {"severity", "category"} <= set(bad.json["errors"]["json"])
    other = tg.call(
        "POST",
        f"/api/v1/mobilities/{mob['id']}/incidents",
        json={"on": "2027-12-04", "severity": "low", "category": "other", "owner": "NE"},
    )
    assert other.status_code == 422
