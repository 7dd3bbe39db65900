"""Mobilities: a confirmed match opens one on both nodes; start, follow-up reports, completion
(only with the start, mid-term and end reports) or interruption; the ledger counts them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.registry.handlers import Node
from services.registry.handlers.peer_events import handle
from shared.db import outbox
from shared.events import new_event
from shared.messaging.consumer import PermanentError
from tests.support.registry import PILOT_TERMS, prepare_departure, volunteer_payload

pytestmark = pytest.mark.integration


def _apply(node, type_, data, source="/network/matching", subject=None):
    event = new_event(
        type_,
        source=source,
        subject=subject or data.get("match_id") or data["mobility_id"],
        agencies=["TG", "ML"],
        data=data,
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event, Node(node.agency))
    return event


@pytest.fixture
def confirmed(tg):
    return _confirm(tg)


def _confirm(tg):
    volunteer = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(1)).json
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json
    match = {
        "match_id": "m-77",
        "agreement_id": agreement["id"],
        "volunteer_id": volunteer["id"],
        "placement_id": "pl-ml-1",
        "sending_agency": "TG",
        "host_agency": "ML",
    }
    _apply(tg, "match.proposed", {**match, "score": 0.8, "criteria": []})
    assert tg.call("POST", "/api/v1/matches/m-77/accept").status_code == 200
    _apply(tg, "match.confirmed", match)
    _apply(tg, "match.confirmed", match)  # redelivered: still one mobility
    return tg, volunteer, agreement


def _ledger(tg, agreement_id):
    directions = tg.call("GET", f"/api/v1/agreements/{agreement_id}/ledger").json["directions"]
    return next(d for d in directions if d["sending"] == "TG")


def _events(tg, type_):
    with tg.engine.connect() as conn:
        return [
            json.loads(p)["data"]
            for p in conn.execute(
                select(outbox.c.payload).where(outbox.c.event_type == type_)
            ).scalars()
        ]


def test_a_mission_runs_from_departure_to_completion_with_its_reports(confirmed):
    tg, volunteer, agreement = confirmed
    mobilities = tg.call("GET", "/api/v1/mobilities").json
    assert len(mobilities) == 1 and mobilities[0]["status"] == "pre_departure"
    mob = mobilities[0]["id"]
    assert (
        tg.call("POST", f"/api/v1/mobilities/{mob}/complete", json={"on": "2028-07-31"}).status_code
        == 409
    )

    prepare_departure(tg, mob)
    started = tg.call("POST", f"/api/v1/mobilities/{mob}/start", json={"on": "2027-10-02"})
    assert started.status_code == 200 and started.json["status"] == "in_mission"
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "deployed"
    assert (_ledger(tg, agreement["id"])["started"], _ledger(tg, agreement["id"])["completed"]) == (
        1,
        0,
    )

    for kind, on in (("start", "2027-10-10"), ("mid_term", "2028-02-15")):
        r = tg.call(
            "POST",
            f"/api/v1/mobilities/{mob}/reports",
            json={"kind": kind, "on": on, "summary": "Ama va bien."},
        )
        assert r.status_code == 200
    missing = tg.call("POST", f"/api/v1/mobilities/{mob}/complete", json={"on": "2028-07-31"})
    assert missing.status_code == 409 and "end" in missing.json["message"]
    tg.call("POST", f"/api/v1/mobilities/{mob}/reports", json={"kind": "end", "on": "2028-07-25"})
    done = tg.call("POST", f"/api/v1/mobilities/{mob}/complete", json={"on": "2028-07-31"})
    assert done.status_code == 200 and done.json["status"] == "completed"
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "completed"
    assert _ledger(tg, agreement["id"])["completed"] == 1
    reports = _events(tg, "mobility.report_submitted")
    assert [r["kind"] for r in reports] == ["start", "mid_term", "end"]
    assert all("summary" not in r for r in reports)  # free text stays on the node
    assert len(_events(tg, "mobility.completed")) == 1


def test_the_other_agencys_steps_are_applied_to_this_nodes_copy(confirmed):
    tg, volunteer, agreement = confirmed
    mob = tg.call("GET", "/api/v1/mobilities").json[0]
    step = {k: mob[k] for k in ("match_id", "agreement_id", "sending_agency", "host_agency")} | {
        "mobility_id": mob["id"]
    }
    # The departure is the sending agency's step: ML's claim of it is refused, TG records it.
    with pytest.raises(PermanentError, match="sending agency TG"):
        _apply(tg, "mobility.started", {**step, "on": "2027-10-03"}, source="/agencies/ML/registry")
    prepare_departure(tg, mob["id"])
    tg.call("POST", f"/api/v1/mobilities/{mob['id']}/start", json={"on": "2027-10-03"})
    report = {
        "mobility_id": mob["id"],
        "agreement_id": mob["agreement_id"],
        "kind": "incident",
        "submitted_by": "ML",
        "on": "2027-11-01",
    }
    _apply(tg, "mobility.report_submitted", report, source="/agencies/ML/registry")
    _apply(tg, "mobility.report_submitted", report, source="/agencies/ML/registry")
    copy = tg.call("GET", f"/api/v1/mobilities/{mob['id']}").json
    assert copy["status"] == "in_mission" and copy["started_on"] == "2027-10-03"
    assert [r["kind"] for r in copy["reports"]] == ["incident"]
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "deployed"
    _apply(
        tg,
        "mobility.interrupted",
        {**step, "on": "2027-12-01", "reason": "health"},
        source="/agencies/ML/registry",
    )
    assert tg.call("GET", f"/api/v1/mobilities/{mob['id']}").json["status"] == "interrupted"
    late = tg.call("POST", f"/api/v1/mobilities/{mob['id']}/complete", json={"on": "2028-07-31"})
    assert late.status_code == 409


def test_bad_input_is_refused_with_field_errors(confirmed):
    tg, _volunteer, _agreement = confirmed
    mob = tg.call("GET", "/api/v1/mobilities").json[0]["id"]
    bad = tg.call(
        "POST", f"/api/v1/mobilities/{mob}/reports", json={"kind": "weekly", "on": "yesterday"}
    )
    assert bad.status_code == 422 and {"kind", "on"} <= set(bad.json["errors"]["json"])
    assert (
        tg.call(
            "POST",
            f"/api/v1/mobilities/{mob}/interrupt",
            json={"on": "2027-10-02", "reason": "boredom"},
        ).status_code
        == 422
    )
    assert (
        tg.call("POST", "/api/v1/mobilities/mob-nope/start", json={"on": "2027-10-02"}).status_code
        == 404
    )


def test_departure_waits_for_the_mandatory_checklist_items_and_names_the_first_open(confirmed):
    tg, volunteer, _agreement = confirmed
    mob = tg.call("GET", "/api/v1/mobilities").json[0]
    assert [(i["code"], i["mandatory"], i["done"]) for i in mob["checklist"]] == [
        ("contract", True, False),
        ("insurance", True, False),
        ("visa", False, False),
        ("travel_booked", True, False),
        ("pre_departure_training", True, False),
        ("medical_check", False, False),
    ]
    assert mob["checklist"][0]["label_fr"] == "Contrat de volontariat signé"
    path = f"/api/v1/mobilities/{mob['id']}"
    refused = tg.call("POST", f"{path}/start", json={"on": "2027-10-02"})
    assert refused.status_code == 409 and "contract" in refused.json["message"]
    assert refused.json["errors"]["json"] == {"checklist": [refused.json["message"]]}
    for code in ("contract", "insurance", "travel_booked"):
        r = tg.call("POST", f"{path}/checklist/{code}", json={"on": "2027-09-01"})
        assert r.status_code == 200
    refused = tg.call("POST", f"{path}/start", json={"on": "2027-10-02"})
    assert refused.status_code == 409 and "pre_departure_training" in refused.json["message"]
    undone = tg.call(
        "POST", f"{path}/checklist/insurance", json={"on": "2027-09-02", "done": False}
    )
    assert [i["done"] for i in undone.json["checklist"]][:2] == [True, False]
    assert (
        tg.call("POST", f"{path}/checklist/passport", json={"on": "2027-09-02"}).status_code == 422
    )
    prepare_departure(tg, mob["id"])
    assert tg.call("POST", f"{path}/start", json={"on": "2027-10-02"}).status_code == 200
    late = tg.call("POST", f"{path}/checklist/visa", json={"on": "2027-10-03"})
    assert late.status_code == 409
    updates = _events(tg, "mobility.checklist_updated")
    assert [u["version"] for u in updates] == [1, 2, 3, 4, 5, 6]
    assert all(set(i) == {"code", "mandatory", "done"} for u in updates for i in u["items"])


def test_an_agency_sets_its_own_checklist_for_the_mobilities_it_opens_next(tg):
    own = [
        {"code": "contract"},
        {"code": "police_record", "label_en": "Police record", "label_fr": "Casier judiciaire"},
        {"code": "visa", "mandatory": False},
    ]
    assert tg.call("PUT", "/api/v1/agency/checklist", json={"items": own}).status_code == 403
    saved = tg.call("PUT", "/api/v1/agency/checklist", json={"items": own}, who="admin")
    assert saved.status_code == 200, saved.json
    assert [i["code"] for i in tg.call("GET", "/api/v1/agency/checklist").json["items"]] == [
        "contract",
        "police_record",
        "visa",
    ]
    unlabelled = {"items": [{"code": "police_record"}]}
    assert tg.call("PUT", "/api/v1/agency/checklist", json=unlabelled, who="admin").status_code == (
        422
    )
    _confirm(tg)
    [mob] = tg.call("GET", "/api/v1/mobilities").json
    assert [(i["code"], i["mandatory"], i["label_en"]) for i in mob["checklist"]] == [
        ("contract", True, "Volunteering contract signed"),
        ("police_record", True, "Police record"),
        ("visa", False, "Visa or residence permit"),
    ]
    refused = tg.call("POST", f"/api/v1/mobilities/{mob['id']}/start", json={"on": "2027-10-02"})
    assert refused.status_code == 409 and "contract" in refused.json["message"]
