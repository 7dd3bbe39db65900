"""The planning problem of one agreement, read from matching's read model."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.domain import model
from services.matching.handlers import CANDIDATE_STATUSES, HOLDING


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
    parties = list(agreement.parties)
    volunteers = [
        _volunteer(v)
        for v in session.scalars(
            select(VolunteerView).where(
                VolunteerView.status.in_(CANDIDATE_STATUSES), VolunteerView.agency.in_(parties)
            )
        )
        if v.id not in busy
    ]
    pinned = [p for p in mine if is_pinned(p)]
    # A pinned pair's volunteer is a candidate nowhere else; keep it in the problem for the check.
    taken_elsewhere: dict[str, int] = {}
    for p in elsewhere:
        taken_elsewhere[p.placement_id] = taken_elsewhere.get(p.placement_id, 0) + 1
    placements = [
        _placement(p, max(0, p.slots - taken_elsewhere.get(p.id, 0)))
        for p in session.scalars(
            select(PlacementView).where(
                PlacementView.status == "open", PlacementView.agency.in_(parties)
            )
        )
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
        proposed=frozenset((p.volunteer_id, p.placement_id) for p in mine if not is_pinned(p)),
        today=today,
    )
    return problem, mine
