"""Matching on PostgreSQL: read model from events, the pilot plan, declines, withdrawals, expiry,
and two-party confirmation exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.matching.handlers import handle
from services.matching.planning import plan_dirty
from shared.db import outbox
from shared.events import new_event

pytestmark = pytest.mark.integration
TTL = timedelta(days=14)  # as the `matching` fixture (conftest.py)


def _apply(node, type_, data, agencies, source):
    event = new_event(
        type_,
        source=source,
        subject=data.get("match_id")
        or data.get("volunteer_id")
        or data.get("placement_id")
        or data["agreement_id"],
        agencies=agencies,
        data=data,
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event)
    return event


def _events(node, type_):
    with node.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == type_).order_by(outbox.c.seq)
        ).scalars()
        return [json.loads(r)["data"] for r in rows]


def _volunteer(node, vid, agency, countries=()):
    _apply(
        node,
        "volunteer.registered",
        {
            "volunteer_id": vid,
            "agency": agency,
            "status": "available",
            "skills": ["public health"],
            "domains": ["health"],
            "languages": [{"code": "fr", "level": "native"}],
            "education_level": "master",
            "available_from": "2027-01-01",
            "available_until": "2028-12-31",
            "preferred_countries": list(countries),
            "registered_at": "2026-06-01T00:00:00+00:00",
        },
        [agency],
        f"/agencies/{agency}/registry",
    )


def _placement(node, pid, agency):
    _apply(
        node,
        "placement.published",
        {
            "placement_id": pid,
            "agency": agency,
            "host_organisation_id": f"org-{pid}",
            "host_organisation_name": "Centre de santé",
            "city": "Sikasso",
            "title": "Animateur santé",
            "domain": "health",
            "required_skills": ["public health"],
            "required_languages": [{"code": "fr", "level": "B2"}],
            "start": "2027-03-01",
            "end": "2027-12-01",
            "slots": 1,
            "status": "open",
        },
        [agency],
        f"/agencies/{agency}/registry",
    )


def _agreement(node, tolerance=2, agreement_id="agr-1", parties=("TG", "ML"), quotas=(4, 2)):
    from datetime import date

    from services.registry.domain.agreements import Quota, Terms

    first, second = parties
    terms = Terms(
        agreement_id,
        parties,
        date(2027, 1, 1),
        date(2028, 12, 31),
        (Quota(first, second, quotas[0]), Quota(second, first, quotas[1])),
        tolerance,
        ("health",),
    )
    data = {
        "agreement_id": agreement_id,
        "parties": list(parties),
        "start": "2027-01-01",
        "end": "2028-12-31",
        "quotas": [
            {"sending": first, "host": second, "volunteers": quotas[0]},
            {"sending": second, "host": first, "volunteers": quotas[1]},
        ],
        "balance_tolerance": tolerance,
        "fields_of_cooperation": ["health"],
        "terms_hash": terms.hash(),
        "revision": 1,
    }
    _apply(node, "agreement.proposed", data, list(parties), f"/agencies/{first}/registry")
    _apply(
        node,
        "agreement.approved",
        {
            "agreement_id": agreement_id,
            "agency": second,
            "terms_hash": terms.hash(),
            "revision": 1,
        },
        list(parties),
        f"/agencies/{second}/registry",
    )


def _pilot(node, n_tg=6, n_ml=3, tolerance=2):
    _agreement(node, tolerance)
    for i in range(n_tg):
        _volunteer(node, f"vol-tg-{i}", "TG")
    for i in range(n_ml):
        _volunteer(node, f"vol-ml-{i}", "ML")
    for i in range(4):
        _placement(node, f"pl-ml-{i}", "ML")
    for i in range(2):
        _placement(node, f"pl-tg-{i}", "TG")
    plan_dirty(node.runtime.sessions, TTL)


def _open(node):
    plan = node.call("GET", "/api/v1/agreements/agr-1/plan").json
    return [p for p in plan["proposals"] if p["status"] == "proposed"], plan


def _decision(proposal, agency, kind, reason=None):
    keys = ("match_id", "agreement_id", "volunteer_id", "placement_id")
    return (
        {k: proposal[k if k != "match_id" else "id"] for k in keys}
        | {"agency": agency}
        | ({"reason": reason} if reason else {})
    )


def test_the_pilot_gives_four_plus_two_proposals_with_explanations(matching):
    _pilot(matching)
    proposals, plan = _open(matching)
    counts = {(d["sending"], d["host"]): d["proposed"] for d in plan["directions"]}
    assert counts == {("TG", "ML"): 4, ("ML", "TG"): 2}
    assert len(_events(matching, "match.proposed")) == 6
    explained = matching.call("GET", f"/api/v1/matches/{proposals[0]['id']}").json
    assert [c["criterion"] for c in explained["criteria"]] == [
        "skills",
        "languages",
        "preference",
        "domain",
        "waiting",
    ]
    # A second planning round with nothing new changes nothing.
    plan_dirty(matching.runtime.sessions, TTL)
    assert len(_events(matching, "match.proposed")) == 6


def test_tolerance_zero_with_one_eligible_malian_gives_one_plus_one(matching):
    _pilot(matching, n_ml=1, tolerance=0)
    proposals, _ = _open(matching)
    assert sorted(p["sending_agency"] for p in proposals) == ["ML", "TG"]


def test_accepted_by_both_is_confirmed_exactly_once(matching):
    _pilot(matching)
    proposal = _open(matching)[0][0]
    sending, host = proposal["sending_agency"], proposal["host_agency"]
    _apply(
        matching,
        "match.accepted",
        _decision(proposal, sending, "accepted"),
        [sending, host],
        f"/agencies/{sending}/registry",
    )
    assert _events(matching, "match.confirmed") == []
    _apply(
        matching,
        "match.accepted",
        _decision(proposal, host, "accepted"),
        [sending, host],
        f"/agencies/{host}/registry",
    )
    _apply(
        matching,
        "match.accepted",
        _decision(proposal, host, "accepted"),
        [sending, host],
        f"/agencies/{host}/registry",
    )
    confirmed = _events(matching, "match.confirmed")
    assert [c["match_id"] for c in confirmed] == [proposal["id"]]


def test_a_declined_pair_is_never_proposed_again_and_the_slot_is_rematched(matching):
    _pilot(matching, n_tg=6)
    proposals, _ = _open(matching)
    victim = next(p for p in proposals if p["sending_agency"] == "TG")
    _apply(
        matching,
        "match.declined",
        _decision(victim, "ML", "declined", "profile_mismatch"),
        ["TG", "ML"],
        "/agencies/ML/registry",
    )
    plan_dirty(matching.runtime.sessions, TTL)
    after, plan = _open(matching)
    pairs = {(p["volunteer_id"], p["placement_id"]) for p in after}
    assert (victim["volunteer_id"], victim["placement_id"]) not in pairs
    assert next(d for d in plan["directions"] if d["sending"] == "TG")["proposed"] == 4
    for _ in range(2):
        plan_dirty(matching.runtime.sessions, TTL)
    every = {(e["volunteer_id"], e["placement_id"]) for e in _events(matching, "match.proposed")}
    later = [
        e
        for e in _events(matching, "match.proposed")
        if (e["volunteer_id"], e["placement_id"])
        == (victim["volunteer_id"], victim["placement_id"])
    ]
    assert len(later) == 1 and (victim["volunteer_id"], victim["placement_id"]) in every


def test_a_withdrawn_volunteers_proposal_is_cancelled_and_the_slot_rematched(matching):
    _pilot(matching, n_tg=6)
    proposals, _ = _open(matching)
    victim = next(p for p in proposals if p["sending_agency"] == "TG")
    _apply(
        matching,
        "volunteer.withdrawn",
        {"volunteer_id": victim["volunteer_id"], "agency": "TG", "reason": "health"},
        ["TG"],
        "/agencies/TG/registry",
    )
    cancelled = _events(matching, "match.cancelled")
    assert [c["match_id"] for c in cancelled] == [victim["id"]] and cancelled[0][
        "reason"
    ] == "volunteer_withdrawn"
    plan_dirty(matching.runtime.sessions, TTL)
    after, _ = _open(matching)
    assert victim["volunteer_id"] not in {p["volunteer_id"] for p in after}
    assert victim["placement_id"] in {
        p["placement_id"] for p in after
    }  # the slot went to someone else


def test_unanswered_proposals_expire_but_half_accepted_ones_are_kept(matching):
    _pilot(matching)
    proposals, _ = _open(matching)
    kept = proposals[0]
    _apply(
        matching,
        "match.accepted",
        _decision(kept, kept["host_agency"], "accepted"),
        ["TG", "ML"],
        f"/agencies/{kept['host_agency']}/registry",
    )
    later = datetime.now(UTC) + TTL + timedelta(hours=1)
    plan_dirty(matching.runtime.sessions, TTL, clock=lambda: later)
    cancelled = {c["match_id"]: c["reason"] for c in _events(matching, "match.cancelled")}
    assert kept["id"] not in cancelled
    assert {p["id"] for p in proposals[1:]} <= set(cancelled)
    assert set(cancelled.values()) == {"expired"}


def test_an_acceptance_crossing_a_cancellation_is_void_and_counted(matching):
    """TG accepts a proposal while its cancellation travels: the proposal stays cancelled, no
    confirmation follows whatever ML does, and the crossing is counted."""
    from services.matching.handlers import CROSSED

    _pilot(matching)
    victim = next(p for p in _open(matching)[0] if p["sending_agency"] == "TG")
    _apply(
        matching,
        "volunteer.withdrawn",
        {"volunteer_id": victim["volunteer_id"], "agency": "TG", "reason": "health"},
        ["TG"],
        "/agencies/TG/registry",
    )
    crossed = CROSSED.labels("accepted")._value.get()
    for agency in ("TG", "ML"):
        _apply(
            matching,
            "match.accepted",
            _decision(victim, agency, "accepted"),
            ["TG", "ML"],
            f"/agencies/{agency}/registry",
        )
    assert CROSSED.labels("accepted")._value.get() == crossed + 2
    assert _events(matching, "match.confirmed") == []
    assert victim["id"] not in {p["id"] for p in _open(matching)[0]}


def test_the_plan_says_when_a_change_waits_for_the_planner(matching):
    _pilot(matching)
    assert _open(matching)[1]["planning_pending"] is False
    _volunteer(matching, "vol-tg-late", "TG")
    assert _open(matching)[1]["planning_pending"] is True
    plan_dirty(matching.runtime.sessions, TTL)
    assert _open(matching)[1]["planning_pending"] is False


def test_the_plan_is_only_visible_to_the_parties_and_rematch_needs_an_admin(matching):
    _pilot(matching)
    assert matching.call("GET", "/api/v1/agreements/agr-1/plan", who="staff@NE").status_code == 404
    assert (
        matching.call("POST", "/api/v1/agreements/agr-1/rematch", who="staff@TG").status_code == 403
    )
    r = matching.call("POST", "/api/v1/agreements/agr-1/rematch", who="admin@ML")
    assert (
        r.status_code == 200
        and len([p for p in r.json["proposals"] if p["status"] == "proposed"]) == 6
    )
    assert (
        matching.call("GET", "/api/v1/agreements/agr-1/plan").headers.get("Content-Type")
        == "application/json"
    )


def test_two_planners_at_once_make_one_plan_per_agreement(matching):
    import threading

    _agreement(matching)
    for i in range(6):
        _volunteer(matching, f"vol-tg-{i}", "TG")
    for i in range(3):
        _volunteer(matching, f"vol-ml-{i}", "ML")
    for i in range(4):
        _placement(matching, f"pl-ml-{i}", "ML")
    for i in range(2):
        _placement(matching, f"pl-tg-{i}", "TG")
    barrier = threading.Barrier(2)

    def planner():
        barrier.wait()
        plan_dirty(matching.runtime.sessions, TTL)

    threads = [threading.Thread(target=planner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    proposed = _events(matching, "match.proposed")
    assert len(proposed) == 6
    assert len({p["volunteer_id"] for p in proposed}) == 6


def test_planning_reads_a_half_accepted_proposal_as_pinned_and_a_later_decision_outdates_it(
    matching,
):
    """Planning reads the decisions as the stored JSON text, parsing only those that are not
    empty: a proposal accepted by one side is pinned (kept whatever the plan), an unanswered one
    is not; and a decision written after the plan was read makes the check before applying it
    fail, so the plan starts over instead of overwriting it."""
    from datetime import date

    from services.matching.adapters.orm import AgreementView
    from services.matching.planning import _unchanged, read_and_plan
    from services.matching.problem import build_problem

    _pilot(matching)
    proposals, _ = _open(matching)
    kept, other = proposals[0], proposals[1]

    def accept(proposal, agency):
        _apply(
            matching,
            "match.accepted",
            _decision(proposal, agency, "accepted"),
            ["TG", "ML"] if proposal["sending_agency"] == "TG" else ["ML", "TG"],
            f"/agencies/{agency}/registry",
        )

    accept(kept, kept["host_agency"])
    sessions = matching.runtime.sessions
    with sessions.begin() as session:
        agreement = session.get(AgreementView, "agr-1")
        problem, _ = build_problem(session, agreement, date.today())
        pair = (kept["volunteer_id"], kept["placement_id"])
        assert [(p.volunteer_id, p.placement_id) for p in problem.pinned] == [pair]
        assert pair not in problem.proposed
        assert (other["volunteer_id"], other["placement_id"]) in problem.proposed
        solved = read_and_plan(session, agreement, datetime.now(UTC))
        assert solved is not None and _unchanged(session, agreement, solved)
    with sessions.begin() as session:
        agreement = session.get(AgreementView, "agr-1")
        solved = read_and_plan(session, agreement, datetime.now(UTC))
        accept(other, other["sending_agency"])  # committed meanwhile, by the consumer
        assert solved is not None and not _unchanged(session, agreement, solved)


def test_agreements_sharing_a_party_share_its_volunteers_and_places_and_no_more(matching):
    """Planning one agreement reads only what concerns its parties, and that is enough: a
    volunteer held by another agreement of their agency is not proposed again, a place another
    agreement took is not given again, a pair excluded on one of its places stays excluded, and
    the pairs excluded elsewhere in the network change nothing."""
    from services.matching.adapters.orm import ExcludedPair, Proposal

    _agreement(matching, 1, "agr-1", ("TG", "ML"), (1, 0))
    _agreement(matching, 2, "agr-2", ("TG", "SN"), (2, 0))
    _agreement(matching, 1, "agr-3", ("ML", "SN"), (1, 0))
    _volunteer(matching, "vol-tg-0", "TG")
    _volunteer(matching, "vol-tg-1", "TG", countries=["SN"])  # not to Mali
    _volunteer(matching, "vol-ml-0", "ML")
    for place, agency in [
        ("pl-ml-0", "ML"),
        ("pl-sn-0", "SN"),
        ("pl-sn-1", "SN"),
        ("pl-bf-0", "BF"),
    ]:
        _placement(matching, place, agency)
    with matching.runtime.sessions.begin() as session:
        session.add(ExcludedPair(volunteer_id="vol-tg-1", placement_id="pl-sn-0", reason="x"))
        session.add(ExcludedPair(volunteer_id="vol-ml-0", placement_id="pl-bf-0", reason="x"))
    plan_dirty(matching.runtime.sessions, TTL)  # agreements in id order: agr-1, agr-2, agr-3
    with matching.runtime.sessions() as session:
        held = set(
            session.execute(
                select(Proposal.agreement_id, Proposal.volunteer_id, Proposal.placement_id).where(
                    Proposal.status == "proposed"
                )
            ).tuples()
        )
    assert held == {
        ("agr-1", "vol-tg-0", "pl-ml-0"),
        ("agr-2", "vol-tg-1", "pl-sn-1"),  # vol-tg-0 held by agr-1; pl-sn-0 excluded for them
        ("agr-3", "vol-ml-0", "pl-sn-0"),  # pl-sn-1 taken by agr-2
    }


def test_the_database_digests_an_agreements_holding_proposals_as_planning_does(matching):
    """The check before applying a plan compares one digest of the agreement's open and
    confirmed proposals (id, status, decisions as stored), computed by PostgreSQL, with the one
    of what the plan read: the two agree on the same rows (ids in code point order whatever the
    database's collation, any text in the decisions) and differ as soon as one row does."""
    from services.matching.adapters.orm import Proposal
    from services.matching.problem import DECISIONS_TEXT, holding_digest, holding_digest_now

    sessions = matching.runtime.sessions
    now = datetime.now(UTC)
    rows = [
        ("m-b", "proposed", {}),
        ("m-B", "confirmed", {"TG": "accepted", "ML": "accepted"}),
        ("m-a|1:2", "proposed", {"ML": "accepted", "note": "déjà 10:3|x"}),
        ("m-other", "cancelled", {"TG": "declined"}),  # not holding: not in the digest
    ]
    with sessions.begin() as session:
        assert holding_digest_now(session, "agr-d") == holding_digest([])
        for pid, status, decisions in rows:
            session.add(
                Proposal(
                    id=pid,
                    agreement_id="agr-d",
                    volunteer_id=f"v-{pid}",
                    placement_id="pl-1",
                    sending_agency="TG",
                    host_agency="ML",
                    score=0.5,
                    criteria=[],
                    decisions=decisions,
                    status=status,
                    proposed_at=now,
                    updated_at=now,
                )
            )

    def read(session):
        return session.execute(
            select(Proposal.id, Proposal.status, DECISIONS_TEXT).where(
                Proposal.agreement_id == "agr-d", Proposal.status.in_(("proposed", "confirmed"))
            )
        ).tuples()

    with sessions.begin() as session:
        as_read = holding_digest(read(session))
        assert holding_digest_now(session, "agr-d") == as_read
        session.get(Proposal, "m-b").decisions = {"TG": "accepted"}
    with sessions.begin() as session:
        assert holding_digest_now(session, "agr-d") != as_read
        assert holding_digest_now(session, "agr-d") == holding_digest(read(session))
