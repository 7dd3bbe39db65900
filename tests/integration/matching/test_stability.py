"""Stable proposals on PostgreSQL: ties and near-ties never swap an unanswered proposal, a clearly
better newcomer does (both agencies see the cancellation and the new proposal), reflections of a
proposal re-plan nothing, and a new volunteer dirties only the agreements it can change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.matching.adapters.orm import AgreementView
from services.matching.handlers import handle
from services.matching.planning import plan_dirty
from services.registry.domain.agreements import Quota, Terms
from shared.db import outbox
from shared.events import decode, new_event

pytestmark = pytest.mark.integration
TTL = timedelta(days=14)  # as the `matching` fixture (conftest.py)
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def _apply(node, type_, data, agencies, source):
    subject = data.get("volunteer_id") or data.get("placement_id") or data["agreement_id"]
    event = new_event(type_, source=source, subject=subject, agencies=agencies, data=data)
    with node.runtime.sessions.begin() as session:
        handle(session, event)


def _events(node, type_):
    with node.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == type_).order_by(outbox.c.seq)
        ).scalars()
        return [decode(r) for r in rows]


def _volunteer_data(vid, *, skills=("public health",), registered="2026-06-01", **changes):
    return {
        "volunteer_id": vid,
        "agency": "TG",
        "status": "available",
        "skills": list(skills),
        "domains": ["health"],
        "languages": [{"code": "fr", "level": "native"}],
        "education_level": "master",
        "available_from": "2027-01-01",
        "available_until": "2028-12-31",
        "preferred_countries": [],
        "registered_at": f"{registered}T00:00:00+00:00",
    } | changes


def _volunteer(node, vid, **changes):
    data = _volunteer_data(vid, **changes)
    kind = "volunteer.updated" if changes.get("status", "available") != "available" else None
    _apply(node, kind or "volunteer.registered", data, ["TG"], "/agencies/TG/registry")


def _placement_data(pid, agency="ML"):
    return {
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
    }


def _placement(node, pid, agency="ML"):
    data = _placement_data(pid, agency)
    _apply(node, "placement.published", data, [agency], f"/agencies/{agency}/registry")


def _agreement(node, agreement_id, partner, quota=10, revision=1):
    quotas = (Quota("TG", partner, quota), Quota(partner, "TG", 10))
    terms = Terms(
        agreement_id, ("TG", partner), NOW.date(), NOW.date() + timedelta(days=700), quotas, 10, ()
    )
    data = {
        "agreement_id": agreement_id,
        "parties": ["TG", partner],
        "start": terms.start.isoformat(),
        "end": terms.end.isoformat(),
        "quotas": [
            {"sending": q.sending, "host": q.host, "volunteers": q.volunteers} for q in quotas
        ],
        "balance_tolerance": 10,
        "fields_of_cooperation": [],
        "terms_hash": terms.hash(),
        "revision": revision,
    }
    # Amended terms (TG amends) or new ones (TG proposes); either way the partner approves.
    # Matching activates an agreement from the parties' approvals, not from agreement.activated.
    kind = "agreement.amended" if revision > 1 else "agreement.proposed"
    _apply(node, kind, data, ["TG", partner], "/agencies/TG/registry")
    _apply(
        node,
        "agreement.approved",
        {
            "agreement_id": agreement_id,
            "agency": partner,
            "terms_hash": terms.hash(),
            "revision": revision,
        },
        ["TG", partner],
        f"/agencies/{partner}/registry",
    )


def _plan(node, at=NOW):
    plan_dirty(node.runtime.sessions, TTL, clock=lambda: at)


def _open(node):
    plan = node.call("GET", "/api/v1/agreements/agr-ml/plan").json
    return {p["volunteer_id"]: p for p in plan["proposals"] if p["status"] == "proposed"}


def _dirty(node):
    with node.runtime.sessions() as session:
        return set(session.scalars(select(AgreementView.id).where(AgreementView.dirty.is_(True))))


def test_a_tie_or_a_day_more_of_waiting_never_swaps_an_unanswered_proposal(matching):
    _agreement(matching, "agr-ml", "ML")
    _placement(matching, "pl-ml-1")
    _volunteer(matching, "vol-a", registered="2026-06-02")
    _plan(matching)
    first = _open(matching)
    assert list(first) == ["vol-a"]

    # Same profile and one day longer on the list: a better score, by 0.0003 only.
    _volunteer(matching, "vol-b", registered="2026-06-01")
    _volunteer(matching, "vol-c", registered="2026-06-02")
    for day in range(3):
        _plan(matching, NOW + timedelta(days=day))
        # Re-planning happens (each new volunteer dirties the agreement) and changes nothing.
    assert _open(matching) == first
    assert _events(matching, "match.cancelled") == []
    assert len(_events(matching, "match.proposed")) == 1


def test_a_clearly_better_newcomer_replaces_an_unanswered_proposal_and_both_sides_are_told(
    matching,
):
    _agreement(matching, "agr-ml", "ML")
    _placement(matching, "pl-ml-1")
    _volunteer(matching, "vol-a", skills=())  # eligible through its domain only
    _plan(matching)
    old = _open(matching)["vol-a"]

    _volunteer(matching, "vol-b", skills=("public health",))  # + 0.40 on skills
    _plan(matching)
    assert list(_open(matching)) == ["vol-b"]
    [cancelled] = _events(matching, "match.cancelled")
    proposed = _events(matching, "match.proposed")
    assert cancelled.data["match_id"] == old["id"]
    assert cancelled.data["reason"] == "superseded"
    assert [e.data["volunteer_id"] for e in proposed] == ["vol-a", "vol-b"]
    for event in (cancelled, proposed[1]):
        assert sorted(event.agencies) == ["ML", "TG"]


def test_the_registry_reflecting_a_proposal_back_re_plans_nothing(matching):
    _agreement(matching, "agr-ml", "ML")
    _placement(matching, "pl-ml-1")
    _volunteer(matching, "vol-a")
    _plan(matching)
    assert _dirty(matching) == set()
    _volunteer(matching, "vol-a", status="proposed")
    assert _dirty(matching) == set()
    _volunteer(matching, "vol-a", status="available")
    assert _dirty(matching) == set()
    _volunteer(matching, "vol-a", available_until="2027-06-30")  # a real change
    assert _dirty(matching) == {"agr-ml"}
    _plan(matching)
    [cancelled] = _events(matching, "match.cancelled")
    assert cancelled.data["reason"] == "no_longer_eligible"


def test_a_new_volunteer_dirties_only_the_agreements_it_can_change(matching):
    _agreement(matching, "agr-ml", "ML")
    _agreement(matching, "agr-ne", "NE")
    _plan(matching)
    assert _dirty(matching) == set()
    _volunteer(matching, "vol-a", preferred_countries=["ML"])
    assert _dirty(matching) == {"agr-ml"}
    _plan(matching)
    _placement(matching, "pl-ne-1", agency="NE")
    assert _dirty(matching) == {"agr-ne"}


def test_amended_terms_withdraw_only_what_they_make_impossible(matching):
    _agreement(matching, "agr-ml", "ML")
    for n in range(3):
        _placement(matching, f"pl-ml-{n}")
        _volunteer(matching, f"vol-{n}")
    _plan(matching)
    before = _open(matching)
    assert len(before) == 3

    _agreement(matching, "agr-ml", "ML", quota=2, revision=2)  # TG→ML 10 → 2
    _plan(matching)
    after = _open(matching)
    [cancelled] = _events(matching, "match.cancelled")
    assert cancelled.data["reason"] == "quota_reached"
    assert len(after) == 2 and cancelled.data["volunteer_id"] not in after
    assert all(after[v]["id"] == before[v]["id"] for v in after)  # the other two kept as they were


def test_a_registration_arriving_while_its_agreement_is_planned_does_not_wait(
    matching, monkeypatch
):
    from sqlalchemy import text

    from services.matching import planning

    _agreement(matching, "agr-ml", "ML")
    _placement(matching, "pl-ml-1")
    _volunteer(matching, "vol-a")
    real_plan = planning.plan_apart
    waited = []

    def plan_while_a_consumer_writes(problem):
        # Mid-plan, inside the planner's transaction: the consumer applies a registration that
        # dirties the same agreement. It must not wait for the planner (lock_timeout would fail).
        start = time.monotonic()
        event = new_event(
            "volunteer.registered",
            source="/agencies/TG/registry",
            subject="vol-b",
            agencies=["TG"],
            data=_volunteer_data("vol-b"),
        )
        with matching.runtime.sessions.begin() as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            handle(session, event)
        waited.append(time.monotonic() - start)
        return real_plan(problem)

    monkeypatch.setattr(planning, "plan_apart", plan_while_a_consumer_writes)
    _plan(matching)
    assert len(waited) >= 1 and max(waited) < 2
    assert list(_open(matching)) == ["vol-a"]  # the plan was applied
    assert _dirty(matching) == {"agr-ml"}  # and the newcomer is planned next round


def test_a_volunteer_set_free_in_one_agreement_is_planned_in_another(matching):
    _agreement(matching, "agr-ml", "ML")
    _agreement(matching, "agr-ne", "NE")
    _placement(matching, "pl-ml-1")
    _placement(matching, "pl-ne-1", agency="NE")
    _volunteer(matching, "vol-a")
    _plan(matching)
    assert list(_open(matching)) == ["vol-a"]  # agr-ml is planned first; agr-ne has no one left

    _apply(
        matching,
        "placement.closed",
        {"placement_id": "pl-ml-1", "agency": "ML", "reason": "filled"},
        ["ML"],
        "/agencies/ML/registry",
    )
    assert "agr-ne" in _dirty(matching)
    _plan(matching)
    plan = matching.call("GET", "/api/v1/agreements/agr-ne/plan").json
    assert [(p["volunteer_id"], p["status"]) for p in plan["proposals"]] == [("vol-a", "proposed")]


def test_a_plan_made_under_terms_amended_meanwhile_is_dropped_and_made_again(matching, monkeypatch):
    from services.matching import planning

    _agreement(matching, "agr-ml", "ML")
    for n in range(3):
        _placement(matching, f"pl-ml-{n}")
        _volunteer(matching, f"vol-{n}")
    real_plan = planning.plan_apart
    amended = []

    def plan_while_terms_change(problem):
        if not amended:  # mid-plan: both parties activate amended terms (TG→ML 10 → 1)
            _agreement(matching, "agr-ml", "ML", quota=1, revision=2)
            amended.append(True)
        return real_plan(problem)

    monkeypatch.setattr(planning, "plan_apart", plan_while_terms_change)
    _plan(matching)  # the first plan (3 proposals under the old terms) is dropped
    assert amended and _events(matching, "match.proposed") == []
    assert _dirty(matching) == {"agr-ml"}
    _plan(matching)
    assert len(_open(matching)) == 1 and _events(matching, "match.cancelled") == []


def _planner_clearing_the_flag(matching, read):
    """A planner thread (not started) that clears agr-ml's flag, then reads (`read(session)`);
    what it read goes into the list returned with it."""
    import threading

    from services.matching import planning

    sessions = matching.runtime.sessions
    read_by_planner = []

    def clear_and_read():
        planning._set_dirty(sessions, "agr-ml", False)
        with sessions() as session:
            read_by_planner.append(read(session))

    return threading.Thread(target=clear_and_read), read_by_planner


def test_a_placement_committed_while_the_planner_clears_the_flag_is_planned(matching):
    """A consumer applies a new placement to an agreement already marked dirty; before it
    commits, the planner clears the flag and reads the placements. Either the planner waits for
    the commit and reads the new placement, or the flag is set again: it is never left out."""
    from sqlalchemy import text

    from services.matching.adapters.orm import PlacementView
    from tests.support.infra import wait_until

    _agreement(matching, "agr-ml", "ML")
    _placement(matching, "pl-ml-1")
    _volunteer(matching, "vol-a")
    _plan(matching)
    _volunteer(matching, "vol-b")  # committed: the agreement is dirty
    assert _dirty(matching) == {"agr-ml"}
    event = new_event(
        "placement.published",
        source="/agencies/ML/registry",
        subject="pl-ml-2",
        agencies=["ML"],
        data=_placement_data("pl-ml-2"),
    )
    planner, read = _planner_clearing_the_flag(
        matching, lambda s: set(s.scalars(select(PlacementView.id)))
    )

    def planner_done_or_waiting() -> bool:
        with matching.runtime.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return not planner.is_alive() or waiting > 0

    with matching.runtime.sessions.begin() as consumer:
        handle(consumer, event)
        consumer.flush()
        planner.start()
        wait_until(planner_done_or_waiting, 30, what="the planner done or waiting for the lock")
    planner.join(30)
    assert len(read) == 1, "the planner's read did not finish"
    assert "pl-ml-2" in read[0] or _dirty(matching) == {"agr-ml"}


def test_an_approval_committed_after_the_planner_cleared_the_flag_is_planned(matching):
    """The consumer has read the agreement (flag set, partner's approval pending) when the planner
    clears the flag and reads it still proposed; the consumer then applies the approval that
    activates it. The agreement must be flagged again, or it is never planned."""
    _agreement(matching, "agr-ml", "ML")
    sessions = matching.runtime.sessions
    with sessions.begin() as session:  # back to the partner's approval pending
        row = session.get(AgreementView, "agr-ml")
        terms_hash = row.terms_hash
        row.approvals = {"TG": terms_hash}
        row.status, row.dirty = "proposed", True
    approval = new_event(
        "agreement.approved",
        source="/agencies/ML/registry",
        subject="agr-ml",
        agencies=["TG", "ML"],
        data={"agreement_id": "agr-ml", "agency": "ML", "terms_hash": terms_hash, "revision": 1},
    )
    planner, read = _planner_clearing_the_flag(
        matching, lambda s: s.get(AgreementView, "agr-ml").status
    )
    with sessions.begin() as consumer:
        # The consumer has loaded the agreement (the handler's first step) when the planner runs.
        loaded = consumer.get(AgreementView, "agr-ml")
        assert loaded.dirty
        planner.start()
        planner.join(30)
        handle(consumer, approval)
    assert read == ["proposed"]
    assert _dirty(matching) == {"agr-ml"}
