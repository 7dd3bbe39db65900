"""Rows to domain aggregates and back: the registry's use cases load an aggregate from its row,
let the aggregate decide, then store what it decided. Local-only columns (notes, names,
contacts) are left to the use case and never reach the aggregate's events."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from services.registry.adapters import orm
from services.registry.domain import (
    agreements,
    incidents,
    matches,
    mobilities,
    placements,
    volunteers,
)
from shared.messages import Message

M = TypeVar("M")


class NotFound(Exception):
    """No such record on this node, or not one this agency may see (the API answers 404).
    `code` and `params` name the message apart from its English text (`No volunteer vol-1.`)."""

    def __init__(self, message: str, code: str, params: dict[str, Any]):
        super().__init__(message)
        self.code, self.params = code, params
        self.message = Message(code, "%(text)s", {"text": message})
        self.message.params = params
        self.field: str | None = None


# What a missing record of each kind is called: its message code and its English name.
_MISSING: dict[type, tuple[str, str]] = {
    orm.Volunteer: ("volunteer.not_found", "volunteer"),
    orm.HostOrganisation: ("organisation.not_found", "host organisation"),
    orm.Placement: ("placement.not_found", "placement"),
    orm.Agreement: ("agreement.not_found", "agreement"),
    orm.Match: ("match.not_found", "match"),
    orm.Mobility: ("mobility.not_found", "mobility"),
    orm.Incident: ("incident.not_found", "incident"),
}


def agencies_of(row: Any) -> tuple[str, ...]:
    """The agencies a record concerns: an agreement's parties, a match's or mobility's (or its
    incident's) sending and host agencies, the owner of anything else."""
    if isinstance(row, orm.Agreement):
        return tuple(row.parties)
    if isinstance(row, (orm.Match, orm.Mobility, orm.Incident)):
        return (row.sending_agency, row.host_agency)
    return (row.agency,)


def get_for_agency(
    session: Session, model: type[M], id: str, agency: str, *, lock: bool = False
) -> M:
    """The record `id` of `model` if it concerns `agency`, else NotFound (the same answer for a
    record that does not exist and one of another agency). `lock` holds it for the transaction:
    a peer's event applied at the same moment rewrites the same row."""
    row = session.get(model, id, with_for_update=lock)
    if row is None or agency not in agencies_of(row):
        name = model.__name__.lower()
        code, noun = _MISSING.get(model, (f"{name}.not_found", name))
        raise NotFound(f"No {noun} {id}.", code, {"id": id})
    return row


def volunteer(row: orm.Volunteer) -> volunteers.Volunteer:
    return volunteers.Volunteer(
        row.id, row.agency, volunteers.VolunteerStatus(row.status), row.withdrawn_reason
    )


def store_volunteer(v: volunteers.Volunteer, row: orm.Volunteer) -> None:
    row.status, row.withdrawn_reason = v.status.value, v.withdrawn_reason


def placement(row: orm.Placement) -> placements.Placement:
    return placements.Placement(
        row.id, row.agency, placements.PlacementStatus(row.status), row.closed_reason
    )


def store_placement(p: placements.Placement, row: orm.Placement) -> None:
    row.status, row.closed_reason = p.status.value, p.closed_reason


def agreement(row: orm.Agreement) -> agreements.Agreement:
    terms = agreements.Terms(
        agreement_id=row.id,
        parties=tuple(row.parties),
        start=row.start,
        end=row.end,
        quotas=tuple(
            agreements.Quota(q["sending"], q["host"], q["volunteers"]) for q in row.quotas
        ),
        balance_tolerance=row.balance_tolerance,
        fields_of_cooperation=tuple(row.fields_of_cooperation),
    )
    return agreements.Agreement(
        terms=terms,
        proposer=row.proposer,
        revision=row.revision,
        terms_hash=row.terms_hash,
        approvals=dict(row.approvals),
        status=agreements.AgreementStatus(row.status),
        terminated_by=row.terminated_by,
        termination_reason=row.termination_reason,
        terminated_on=row.terminated_on,
    )


def store_agreement(a: agreements.Agreement, row: orm.Agreement) -> None:
    row.id, row.parties, row.proposer = a.id, list(a.parties), a.proposer
    row.start, row.end = a.terms.start, a.terms.end
    row.quotas = [
        {"sending": q.sending, "host": q.host, "volunteers": q.volunteers} for q in a.terms.quotas
    ]
    row.balance_tolerance = a.terms.balance_tolerance
    row.fields_of_cooperation = list(a.terms.fields_of_cooperation)
    row.revision, row.terms_hash, row.approvals = a.revision, a.terms_hash, dict(a.approvals)
    row.status = a.status.value
    row.terminated_by, row.termination_reason = a.terminated_by, a.termination_reason
    row.terminated_on = a.terminated_on


def match(row: orm.Match) -> matches.Match:
    return matches.Match(
        id=row.id,
        agreement_id=row.agreement_id,
        volunteer_id=row.volunteer_id,
        placement_id=row.placement_id,
        sending_agency=row.sending_agency,
        host_agency=row.host_agency,
        status=matches.MatchStatus(row.status),
        decisions={k: dict(v) for k, v in row.decisions.items()},
        status_reason=row.status_reason,
    )


def store_match(m: matches.Match, row: orm.Match) -> None:
    row.status, row.status_reason = m.status.value, m.status_reason
    row.decisions = {k: dict(v) for k, v in m.decisions.items()}


def mobility(row: orm.Mobility) -> mobilities.Mobility:
    return mobilities.Mobility(
        id=row.id,
        match_id=row.match_id,
        agreement_id=row.agreement_id,
        sending_agency=row.sending_agency,
        host_agency=row.host_agency,
        status=mobilities.MobilityStatus(row.status),
        started_on=row.started_on,
        ended_on=row.ended_on,
        reports=[dict(r) for r in row.reports],
        interruption_reason=row.interruption_reason,
        checklist=[dict(i) for i in (row.checklist or {}).get("items", [])],
        checklist_version=int((row.checklist or {}).get("version", 0)),
        planned_end=row.planned_end,
        check_ins=[dict(c) for c in row.check_ins or []],
        follow_ups_sent=list(row.follow_ups_sent or []),
        reviews=[dict(r) for r in row.reviews or []],
    )


def store_mobility(m: mobilities.Mobility, row: orm.Mobility) -> None:
    row.status, row.started_on, row.ended_on = m.status.value, m.started_on, m.ended_on
    row.reports = [dict(r) for r in m.reports]
    row.interruption_reason = m.interruption_reason
    row.checklist = {"version": m.checklist_version, "items": [dict(i) for i in m.checklist]}
    row.planned_end = m.planned_end
    row.check_ins = [dict(c) for c in m.check_ins]
    row.follow_ups_sent = list(m.follow_ups_sent)
    row.reviews = [dict(r) for r in m.reviews]


INCIDENT_FIELDS = (
    "id",
    "mobility_id",
    "match_id",
    "agreement_id",
    "sending_agency",
    "host_agency",
    "reported_by",
    "reported_on",
    "severity",
    "category",
    "owner",
    "resolved_on",
    "version",
)


def incident(row: orm.Incident) -> incidents.Incident:
    return incidents.Incident(
        **{k: getattr(row, k) for k in INCIDENT_FIELDS},
        status=incidents.IncidentStatus(row.status),
    )


def store_incident(i: incidents.Incident, row: orm.Incident) -> None:
    for key in INCIDENT_FIELDS:
        setattr(row, key, getattr(i, key))
    row.status = i.status.value
