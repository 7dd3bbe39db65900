"""Placing volunteers new to matching without re-planning their agreement, when that is exact.

Let P be the agreement's current proposals, the best plan of its problem (the planner made it
today and nothing but newcomers changed since: `AgreementView.replan_whole` is clear). A
newcomer v adds only the arcs of v. If v's best-scoring place p still has a free slot, v's
direction has quota left, and (two directions) the balance allows one more in v's direction
while the other direction was not held back by it, then P + (v, p) is the best plan of the new
problem, and keeps every open proposal:

- a plan without v was possible before, so it is worth at most P;
- a plan with v at q, less v, satisfies every constraint of the old problem except that the
  other direction may now lead by tolerance + 1; that constraint was slack at P, and P is the
  optimum of a linear program (the flow polytope is integral), so relaxing a slack constraint
  leaves P optimal: the plan is worth at most P + score(v, q) ≤ P + score(v, p).

Newcomers are placed in id order, each on the state the previous left; ties between places go to
the lowest place id. If any newcomer fails a condition (its best place is full, the quota or the
balance binds, the plan is from another day, the agreement's terms are not supported), nothing is
written and the agreement is re-planned as a whole (planning.py), as before. A newcomer that is no
longer a candidate, is held by another agreement, or has no eligible place here is left alone,
as a whole re-plan would.

A registration then costs a few short queries instead of reading the agreement's whole problem:
the re-plan's cost grows with the agreement (thousands of volunteers), this does not.
"""

from __future__ import annotations

import uuid
from collections import Counter as Tally
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.domain import model
from services.matching.domain.candidates import direction_candidates
from services.matching.domain.planner import SCALE, UnsupportedAgreement, directions
from services.matching.domain.planner import Proposal as Planned
from services.matching.handlers import CANDIDATE_STATUSES, HOLDING, emit
from services.matching.problem import (
    DECISIONS_TEXT,
    agreement_model,
    decisions_of,
    placement_model,
    volunteer_model,
)

# Built once (with bound parameters): a statement built at every call costs more Python than the
# query's round trip. FOR SHARE / FOR UPDATE only on PostgreSQL (one planner on SQLite).
_IDS: Any = bindparam("ids", expanding=True)
_NEWCOMERS = select(VolunteerView).where(VolunteerView.id.in_(_IDS))
_HOLDING_AT = select(Proposal.volunteer_id, Proposal.agreement_id).where(
    Proposal.volunteer_id.in_(_IDS), Proposal.status.in_(HOLDING)
)
_HOLDING = (
    select(
        Proposal.sending_agency, Proposal.host_agency, Proposal.status, DECISIONS_TEXT, func.count()
    )
    .where(Proposal.agreement_id == bindparam("agreement"), Proposal.status.in_(HOLDING))
    .group_by(Proposal.sending_agency, Proposal.host_agency, Proposal.status, DECISIONS_TEXT)
)
_DECLINED = select(ExcludedPair.volunteer_id, ExcludedPair.placement_id).where(
    ExcludedPair.volunteer_id.in_(_IDS)
)
_OPEN_PLACES = (
    select(PlacementView)
    .where(PlacementView.status == "open", PlacementView.agency == bindparam("host"))
    .order_by(PlacementView.id)
)
_TAKEN = (
    select(Proposal.placement_id, func.count())
    .where(Proposal.placement_id.in_(_IDS), Proposal.status.in_(HOLDING))
    .group_by(Proposal.placement_id)
)
_PLACE = select(PlacementView).where(PlacementView.id == bindparam("id"))
_AGREEMENT = select(AgreementView).where(AgreementView.id == bindparam("id"))


def _locking(statement: Any, share: bool) -> dict[bool, Any]:
    """The statement as read (populate_existing), by whether it locks (PostgreSQL) or not."""
    statement = statement.execution_options(populate_existing=True)
    return {False: statement, True: statement.with_for_update(read=share)}


_NEWCOMERS_LOCKED = _locking(_NEWCOMERS, share=True)
_PLACE_LOCKED = _locking(_PLACE, share=True)
_AGREEMENT_LOCKED = _locking(_AGREEMENT, share=False)

PLANS = Counter(
    "vir_matching_plans_total",
    "Plans applied: newcomers placed without re-planning, or whole agreements re-planned",
    ["kind"],
)


def planned_today(agreement: AgreementView, at: datetime) -> bool:
    planned = agreement.planned_at
    if planned is None:
        return False
    planned = planned.replace(tzinfo=UTC) if planned.tzinfo is None else planned
    return planned.astimezone(UTC).date() == at.astimezone(UTC).date()


def propose(
    session: Session,
    agreement_id: str,
    new: Planned,
    at: datetime,
    ttl: timedelta,
    place: PlacementView | None = None,
) -> Proposal:
    """Record a new open proposal and publish match.proposed (quoting `place`, read if None)."""
    proposal = Proposal(
        id=f"m-{uuid.uuid4().hex}",
        agreement_id=agreement_id,
        volunteer_id=new.volunteer_id,
        placement_id=new.placement_id,
        sending_agency=new.sending,
        host_agency=new.host,
        score=new.score,
        criteria=[asdict(c) for c in new.criteria],
        decisions={},
        status="proposed",
        proposed_at=at,
        expires_at=at + ttl,
        updated_at=at,
    )
    session.add(proposal)
    place = place or session.get(PlacementView, proposal.placement_id)
    emit(
        session,
        "match.proposed",
        proposal,
        score=proposal.score,
        criteria=proposal.criteria,
        expires_at=proposal.expires_at.isoformat() if proposal.expires_at else None,
        placement={
            "title": place.title,
            "city": place.city,
            "host_organisation": place.host_organisation_name,
        }
        if place is not None
        else None,
    )
    return proposal


def place_newcomers(
    session: Session, agreement: AgreementView, newcomers: list[str], at: datetime, ttl: timedelta
) -> bool:
    """Propose each newcomer its best place if the plan stays the best (module docstring); False,
    with nothing written, when the agreement must be re-planned as a whole instead."""
    if agreement.status != "active" or not planned_today(agreement, at):
        return False
    terms, terms_hash = agreement_model(agreement), agreement.terms_hash
    try:
        quotas = {(s, h): q for s, h, q in directions(terms)}
    except UnsupportedAgreement:
        return False
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = sorted(set(newcomers))
    volunteers = {v.id: v for v in session.scalars(_NEWCOMERS_LOCKED[postgres], {"ids": ids})}
    holding_at: dict[str, str] = {v: a for v, a in session.execute(_HOLDING_AT, {"ids": ids})}
    if agreement.id in holding_at.values():
        return False  # a newcomer already proposed here: not a newcomer after all
    holding, pinned = Tally[tuple[str, str]](), Tally[tuple[str, str]]()
    for sending, host, status, decisions, n in session.execute(
        _HOLDING, {"agreement": agreement.id}
    ):
        holding[(sending, host)] += n
        if status == "confirmed" or "accepted" in decisions_of(decisions).values():
            pinned[(sending, host)] += n
    tolerance = terms.balance_tolerance
    pairs = list(quotas)
    if len(pairs) == 2 and abs(pinned[pairs[0]] - pinned[pairs[1]]) > tolerance:
        return False  # the planner is catching up a broken balance: not a plain optimum

    places: dict[str, list[model.Placement]] = {}  # open places by host agency
    views: dict[str, PlacementView] = {}
    declined = frozenset((v, p) for v, p in session.execute(_DECLINED, {"ids": ids}))
    used = Tally[str]()  # slots taken by the newcomers placed so far
    chosen: list[Planned] = []
    for vid in ids:
        row = volunteers.get(vid)
        if row is None or row.status not in CANDIDATE_STATUSES or vid in holding_at:
            continue  # gone, not a candidate, or proposed by another agreement meanwhile
        direction = next(((s, h) for s, h in quotas if s == row.agency), None)
        if direction is None:
            continue
        host = direction[1]
        if host not in places:
            rows = list(session.scalars(_OPEN_PLACES, {"host": host}))
            views.update((p.id, p) for p in rows)  # kept: match.proposed quotes them
            places[host] = [placement_model(p, p.slots) for p in rows]
        offered = places[host]
        volunteer = volunteer_model(row)
        candidates = direction_candidates([volunteer], offered, terms, at.date(), declined)
        if not len(candidates.units):
            continue  # no eligible place here: a re-plan would leave it out as well
        if holding[direction] + 1 > quotas[direction]:
            return False
        other = (direction[1], direction[0])
        if other in quotas:
            ahead = holding[direction] - holding[other]
            if ahead + 1 > tolerance or -ahead >= tolerance:
                return False  # the balance binds one way or the other
        best = int(candidates.units.max())
        tied = [offered[j] for j in candidates.placement[candidates.units == best]]
        place = _with_room(session, tied, used, postgres)
        if place is None:
            return False  # its best place is full: someone may have to move
        used[place.id] += 1
        holding[direction] += 1
        chosen.append(
            Planned(vid, place.id, direction[0], host, best / SCALE, volunteer, place, at.date())
        )
    if chosen:
        # Read again under its lock (the same object, refreshed): terms amended meanwhile?
        fresh = session.scalars(_AGREEMENT_LOCKED[postgres], {"id": agreement.id}).first()
        if fresh is None or fresh.status != "active" or fresh.terms_hash != terms_hash:
            return False
    for new in chosen:
        propose(session, agreement.id, new, at, ttl, views.get(new.placement_id))
    return True


def _with_room(
    session: Session, tied: list[model.Placement], used: Tally[str], postgres: bool
) -> model.Placement | None:
    """The first of the equally best places (id order) with a slot free in any agreement,
    locked as the whole plan locks the places it proposes; None if all are full."""

    def free(places: list[model.Placement]) -> dict[str, int]:
        taken: dict[str, int] = {
            pid: n for pid, n in session.execute(_TAKEN, {"ids": [p.id for p in places]})
        }
        return {p.id: p.slots - taken.get(p.id, 0) - used[p.id] for p in places}

    room = free(tied)
    for place in tied:
        if room[place.id] <= 0:
            continue
        current = session.scalars(_PLACE_LOCKED[postgres], {"id": place.id}).first()
        if current is None or current.status != "open" or current.slots != place.slots:
            return None  # changed since read: the whole re-plan sorts it out
        if free([place])[place.id] <= 0:
            return None  # taken meanwhile
        return place
    return None
