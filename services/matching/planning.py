"""Turn the read model into a planning problem, solve it, and publish what changed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.domain import model
from services.matching.domain.planner import Plan, UnsupportedAgreement, plan
from services.matching.handlers import HOLDING, cancel, emit, expire
from shared.logging import get_logger

log = get_logger(__name__)
CANDIDATE_STATUSES = ("available", "proposed")


def _volunteer(v: VolunteerView) -> model.Volunteer:
    return model.Volunteer(
        id=v.id,
        agency=v.agency,
        skills=frozenset(s.lower() for s in v.skills),
        domains=frozenset(d.lower() for d in v.domains),
        languages=tuple((x["code"], x["level"]) for x in v.languages),
        available_from=v.available_from,
        available_until=v.available_until,
        preferred_countries=frozenset(v.preferred_countries),
        registered_at=v.registered_at,
    )


def _placement(p: PlacementView, slots: int) -> model.Placement:
    return model.Placement(
        id=p.id,
        agency=p.agency,
        domain=p.domain.lower(),
        start=p.start,
        end=p.end,
        slots=slots,
        required_skills=frozenset(s.lower() for s in p.required_skills),
        required_languages=tuple((x["code"], x["level"]) for x in p.required_languages),
    )


def is_pinned(p: Proposal) -> bool:
    return p.status == "confirmed" or (
        p.status == "proposed" and "accepted" in p.decisions.values()
    )


def build_problem(
    session: Session, agreement: AgreementView, today: date
) -> tuple[model.Problem, list[Proposal]]:
    """The problem of one agreement, and its current open or confirmed proposals."""
    mine = list(
        session.scalars(
            select(Proposal).where(
                Proposal.agreement_id == agreement.id, Proposal.status.in_(HOLDING)
            )
        )
    )
    elsewhere = list(
        session.scalars(
            select(Proposal).where(
                Proposal.agreement_id != agreement.id, Proposal.status.in_(HOLDING)
            )
        )
    )
    busy = {p.volunteer_id for p in elsewhere}
    parties = set(agreement.parties)
    volunteers = [
        _volunteer(v)
        for v in session.scalars(
            select(VolunteerView).where(VolunteerView.status.in_(CANDIDATE_STATUSES))
        )
        if v.agency in parties and v.id not in busy
    ]
    pinned = [p for p in mine if is_pinned(p)]
    # A pinned pair's volunteer is a candidate nowhere else; keep it in the problem for the check.
    taken_elsewhere: dict[str, int] = {}
    for p in elsewhere:
        taken_elsewhere[p.placement_id] = taken_elsewhere.get(p.placement_id, 0) + 1
    placements = [
        _placement(p, max(0, p.slots - taken_elsewhere.get(p.id, 0)))
        for p in session.scalars(select(PlacementView).where(PlacementView.status == "open"))
        if p.agency in parties
    ]
    declined = frozenset(
        (e.volunteer_id, e.placement_id) for e in session.scalars(select(ExcludedPair))
    )
    problem = model.Problem(
        agreement=model.Agreement(
            id=agreement.id,
            parties=tuple(agreement.parties),
            start=agreement.start,
            end=agreement.end,
            quotas=tuple(
                model.Quota(q["sending"], q["host"], q["volunteers"]) for q in agreement.quotas
            ),
            balance_tolerance=agreement.balance_tolerance,
            fields_of_cooperation=frozenset(f.lower() for f in agreement.fields_of_cooperation),
        ),
        volunteers=tuple(volunteers),
        placements=tuple(placements),
        pinned=tuple(
            model.Pinned(p.volunteer_id, p.placement_id, p.sending_agency, p.host_agency)
            for p in pinned
        ),
        declined=declined,
        today=today,
    )
    return problem, mine


def plan_agreement(
    session: Session, agreement: AgreementView, at: datetime, ttl: timedelta
) -> Plan | None:
    """Re-plan one agreement inside the caller's transaction; emit proposals and cancellations."""
    agreement.dirty, agreement.planned_at = False, at
    if agreement.status != "active":
        return None
    problem, current = build_problem(session, agreement, at.date())
    try:
        result = plan(problem)
    except UnsupportedAgreement as exc:
        log.warning("matching.unsupported_agreement", agreement_id=agreement.id, reason=str(exc))
        return None
    wanted = {(p.volunteer_id, p.placement_id): p for p in result.proposals}
    for proposal in current:
        if is_pinned(proposal):
            continue
        if (proposal.volunteer_id, proposal.placement_id) in wanted:
            wanted.pop((proposal.volunteer_id, proposal.placement_id))  # unchanged: keep it
        else:
            cancel(session, proposal, "superseded")
    for pair, new in sorted(wanted.items()):
        proposal = Proposal(
            id=f"m-{uuid.uuid4().hex}",
            agreement_id=agreement.id,
            volunteer_id=pair[0],
            placement_id=pair[1],
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
        emit(
            session,
            "match.proposed",
            proposal,
            score=proposal.score,
            criteria=proposal.criteria,
            expires_at=proposal.expires_at.isoformat() if proposal.expires_at else None,
        )
    return result


def plan_dirty(
    sessions: sessionmaker[Session], ttl: timedelta, clock: Callable[[], datetime] | None = None
) -> int:
    """Expire stale proposals, then plan each dirty agreement in its own transaction.

    On PostgreSQL the agreement row is locked with SKIP LOCKED: several matching instances share
    the work and never plan the same agreement at once."""
    at = (clock or (lambda: datetime.now(UTC)))()
    with sessions.begin() as session:
        expire(session, at)
    planned = 0
    while True:
        with sessions.begin() as session:
            statement = (
                select(AgreementView)
                .where(AgreementView.dirty.is_(True))
                .order_by(AgreementView.id)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            agreement = session.scalars(statement).first()
            if agreement is None:
                return planned
            plan_agreement(session, agreement, at, ttl)
            planned += 1


def lock_agreement(session: Session, agreement_id: str) -> AgreementView | None:
    """For an explicit re-run: wait for any planner working on this agreement, then hold it."""
    statement = select(AgreementView).where(AgreementView.id == agreement_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def run_planner(
    sessions: sessionmaker[Session], stop: threading.Event, ttl: timedelta, interval: float = 0.5
) -> None:
    """Plan dirty agreements until `stop` is set (the planner thread of a matching process)."""
    while not stop.is_set():
        try:
            plan_dirty(sessions, ttl)
        except Exception:  # noqa: BLE001 - log and keep planning; the next round retries
            log.exception("matching.planning_failed")
        stop.wait(interval)
