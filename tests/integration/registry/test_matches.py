"""Match proposals on a registry node: peer events in, this agency's decisions out, the ledger,
and the host agency's dossier access under a confirmed match."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.registry.adapters.orm import DossierAccess
from services.registry.handlers import Node
from services.registry.handlers.peer_events import handle
from shared.events import new_event
from tests.support.infra import wait_until
from tests.support.registry import PILOT_TERMS, volunteer_payload

pytestmark = pytest.mark.integration
MATCHING = "/network/matching"


def _apply(node, type_, data, source=MATCHING):
    event = new_event(
        type_, source=source, subject=data["match_id"], agencies=["TG", "ML"], data=data
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event, Node(node.agency))


def _proposal(match_id, agreement_id, volunteer_id, placement_id="pl-ml-1"):
    return {
        "match_id": match_id,
        "agreement_id": agreement_id,
        "volunteer_id": volunteer_id,
        "placement_id": placement_id,
        "sending_agency": "TG",
        "host_agency": "ML",
        "score": 0.8,
        "criteria": [{"criterion": "skills", "weight": 0.5, "value": 1.0, "explanation": "1/1"}],
    }


def _settled(proposal, reason=None):
    keys = (
        "match_id",
        "agreement_id",
        "volunteer_id",
        "placement_id",
        "sending_agency",
        "host_agency",
    )
    return {k: proposal[k] for k in keys} | ({"reason": reason} if reason else {})


def _decision(proposal, agency, reason=None):
    keys = ("match_id", "agreement_id", "volunteer_id", "placement_id")
    return (
        {k: proposal[k] for k in keys} | {"agency": agency} | ({"reason": reason} if reason else {})
    )


@pytest.fixture
def setup(tg):
    volunteer = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(1)).json
    other = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(2)).json
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json
    return tg, volunteer, other, agreement


def test_a_proposal_accepted_by_both_and_confirmed_moves_the_ledger(setup):
    tg, volunteer, _other, agreement = setup
    proposal = _proposal("m-1", agreement["id"], volunteer["id"])
    _apply(tg, "match.proposed", proposal)
    awaiting = tg.call("GET", "/api/v1/matches?awaiting_us=true").json
    assert [m["id"] for m in awaiting] == ["m-1"] and awaiting[0]["criteria"][0][
        "criterion"
    ] == "skills"
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "proposed"
    # Matching made that move itself: it is not announced back (a candidate either way).
    assert tg.outbox_count("volunteer.updated") == 0

    accepted = tg.call("POST", "/api/v1/matches/m-1/accept")
    assert (
        accepted.status_code == 200 and accepted.json["decisions"]["TG"]["decision"] == "accepted"
    )
    assert tg.call("POST", "/api/v1/matches/m-1/accept").status_code == 200  # same decision again
    assert tg.outbox_count("match.accepted") == 1
    assert tg.call("GET", "/api/v1/matches?awaiting_us=true").json == []

    _apply(tg, "match.accepted", _decision(proposal, "ML"), source="/agencies/ML/registry")
    _apply(tg, "match.confirmed", _settled(proposal))
    _apply(tg, "match.confirmed", _settled(proposal))  # a redelivery changes nothing
    match = tg.call("GET", "/api/v1/matches/m-1").json
    assert match["status"] == "confirmed" and set(match["decisions"]) == {"TG", "ML"}
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "matched"
    assert tg.outbox_count("volunteer.updated") == 1  # matched: no longer a candidate, announced

    ledger = tg.call("GET", f"/api/v1/agreements/{agreement['id']}/ledger").json
    tg_ml = next(d for d in ledger["directions"] if d["sending"] == "TG")
    ml_tg = next(d for d in ledger["directions"] if d["sending"] == "ML")
    assert (tg_ml["quota"], tg_ml["confirmed"], tg_ml["remaining"]) == (4, 1, 3)
    assert (ml_tg["quota"], ml_tg["confirmed"]) == (2, 0)
    assert ledger["balance"] == 1 and ledger["within_tolerance"] is True


def test_a_decline_frees_the_volunteer_and_cannot_be_reversed(setup):
    tg, _volunteer, other, agreement = setup
    proposal = _proposal("m-2", agreement["id"], other["id"])
    _apply(tg, "match.proposed", proposal)
    _apply(
        tg,
        "match.declined",
        _decision(proposal, "ML", "dates"),
        source="/agencies/ML/registry",
    )
    match = tg.call("GET", "/api/v1/matches/m-2").json
    assert match["status"] == "declined" and match["status_reason"] == "dates"
    assert tg.call("GET", f"/api/v1/volunteers/{other['id']}").json["status"] == "available"
    late = tg.call("POST", "/api/v1/matches/m-2/accept")
    assert late.status_code == 409


def test_our_decline_needs_a_reason_and_is_sent_once(setup):
    tg, volunteer, _other, agreement = setup
    _apply(tg, "match.proposed", _proposal("m-3", agreement["id"], volunteer["id"]))
    assert tg.call("POST", "/api/v1/matches/m-3/decline", json={}).status_code == 422
    free_text = {"reason": "volunteer unavailable"}
    assert tg.call("POST", "/api/v1/matches/m-3/decline", json=free_text).status_code == 422
    r = tg.call(
        "POST",
        "/api/v1/matches/m-3/decline",
        json={"reason": "volunteer_unavailable", "note": "Ama is ill until May"},
    )
    assert r.status_code == 200 and r.json["status"] == "declined"
    assert r.json["status_reason"] == "volunteer_unavailable"
    assert r.json["decisions"]["TG"]["note"] == "Ama is ill until May"  # kept on this node
    assert tg.outbox_count("match.declined") == 1
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "available"


def test_the_host_agency_node_reads_a_dossier_only_under_a_confirmed_match_and_is_logged(setup):
    tg, volunteer, other, agreement = setup
    proposal = _proposal("m-4", agreement["id"], volunteer["id"])
    _apply(tg, "match.proposed", proposal)
    path = f"/api/v1/volunteers/{volunteer['id']}/dossier"
    assert tg.call("GET", path, who="node@ML").status_code == 403  # proposed is not enough
    assert tg.call("POST", "/api/v1/matches/m-4/accept").status_code == 200
    _apply(tg, "match.confirmed", _settled(proposal))

    r = tg.call("GET", path, who="node@ML")
    assert r.status_code == 200
    assert (
        r.json["match_id"] == "m-4" and r.json["volunteer"]["last_name"] == volunteer["last_name"]
    )
    assert (
        tg.call("GET", f"/api/v1/volunteers/{other['id']}/dossier", who="node@ML").status_code
        == 403
    )
    assert tg.call("GET", path, who="node").status_code == 403  # TG hosts no match of it
    assert tg.call("GET", path, who="staff@ML").status_code == 403
    with tg.engine.connect() as conn:
        reads = conn.execute(select(func.count()).select_from(DossierAccess)).scalar_one()
        row = conn.execute(select(DossierAccess)).first()
    assert reads == 1 and row.reader_agency == "ML" and row.match_id == "m-4"


def test_contact_details_go_only_to_this_agencys_own_services(setup):
    tg, volunteer, _other, _agreement = setup
    path = f"/api/v1/volunteers/{volunteer['id']}/contact"
    own = tg.call("GET", path, who="node")
    assert own.status_code == 200 and own.json["email"] == volunteer["email"]
    fields = {"id", "first_name", "last_name", "email", "phone", "preferred_language"}
    assert set(own.json) == fields
    assert tg.call("GET", path, who="node@ML").status_code == 403
    assert tg.call("GET", path, who="partner").status_code == 403


def test_a_cancellation_arriving_after_the_next_proposal_leaves_the_volunteer_proposed(setup):
    # Matching moved the volunteer to another place: the new proposal and the cancellation of the
    # old one travel independently, and here the cancellation arrives last.
    tg, volunteer, _other, agreement = setup
    first = _proposal("m-3", agreement["id"], volunteer["id"], "pl-ml-1")
    second = _proposal("m-4", agreement["id"], volunteer["id"], "pl-ml-2")
    _apply(tg, "match.proposed", first)
    _apply(tg, "match.proposed", second)
    _apply(tg, "match.cancelled", _settled(first, "superseded"))
    assert tg.call("GET", "/api/v1/matches/m-3").json["status"] == "cancelled"
    assert tg.call("GET", "/api/v1/matches/m-4").json["status"] == "proposed"
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "proposed"
    # Once the last proposal holding the volunteer ends, the volunteer is available again.
    _apply(tg, "match.cancelled", _settled(second, "superseded"))
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "available"


def test_a_cancellation_overtaking_its_proposal_is_retried_then_applied(setup):
    # A fault delayed the proposal on this node (it waits for a retry) and matching's later
    # cancellation arrived first: it is retried, not dead-lettered, and applies once the
    # proposal is there.
    from services.registry.handlers.peer_events import NotYet

    tg, volunteer, _other, agreement = setup
    proposal = _proposal("m-5", agreement["id"], volunteer["id"])
    with pytest.raises(NotYet):
        _apply(tg, "match.cancelled", _settled(proposal, "superseded"))
    assert tg.call("GET", "/api/v1/matches/m-5").status_code == 404
    _apply(tg, "match.proposed", proposal)
    _apply(tg, "match.cancelled", _settled(proposal, "superseded"))
    assert tg.call("GET", "/api/v1/matches/m-5").json["status"] == "cancelled"
    assert tg.call("GET", f"/api/v1/volunteers/{volunteer['id']}").json["status"] == "available"


def test_our_acceptance_and_the_peers_landing_at_once_are_both_kept(setup):
    # The peer's acceptance is being applied (its transaction open) when our staff accept: ours
    # must wait for it, not overwrite it with the decisions read before it committed.
    import threading

    from sqlalchemy import text

    tg, volunteer, _other, agreement = setup
    proposal = _proposal("m-5", agreement["id"], volunteer["id"])
    _apply(tg, "match.proposed", proposal)
    peer = new_event(
        "match.accepted",
        source="/agencies/ML/registry",
        subject="m-5",
        agencies=["TG", "ML"],
        data=_decision(proposal, "ML"),
    )
    ours: dict = {}
    with tg.runtime.sessions.begin() as session:
        handle(session, peer, Node("TG"))
        session.flush()
        thread = threading.Thread(
            target=lambda: ours.update(r=tg.call("POST", "/api/v1/matches/m-5/accept"))
        )
        thread.start()

        def waiting_on_our_lock() -> bool:
            with tg.engine.connect() as conn:
                blocked = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            return blocked > 0 or not thread.is_alive()

        wait_until(waiting_on_our_lock, 30, what="our acceptance to wait or finish")
    thread.join(30)
    assert ours["r"].status_code == 200
    decisions = tg.call("GET", "/api/v1/matches/m-5").json["decisions"]
    assert {k: v["decision"] for k, v in decisions.items()} == {"TG": "accepted", "ML": "accepted"}
