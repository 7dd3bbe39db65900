"""Follow-up of a mission: check-ins and their reminders, incidents, end-of-mission
reviews and certificates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import AgencyProfile, Incident, Match, Mobility, Volunteer
from services.registry.adapters.repository import get_for_agency
from services.registry.domain.errors import DomainError
from services.registry.domain.messages import msg
from services.registry.domain.mobilities import Mobility as MobilityAggregate
from services.registry.handlers.common import (
    Conflict,
    Forbidden,
    Node,
    emit,
    emit_event,
    new_id,
    now,
    ruled,
)
from services.registry.handlers.mobilities import get_mobility, mobility_step

# -- check-ins -----------------------------------------------------------------------------------


def fill_check_in(
    session: Session,
    node: Node,
    mobility_id: str,
    check_in: str,
    respondent: str,
    on: date,
    answers: dict[str, Any],
    note: str | None = None,
) -> Mobility:
    """A check-in answered for `respondent` (host_agency: its staff; volunteer: the signed link
    on the sending node). The note stays here; scores and issues travel to the other node."""
    m = get_mobility(session, node, mobility_id)
    return mobility_step(
        session,
        node,
        m,
        MobilityAggregate.fill_check_in,
        check_in,
        respondent,
        node.agency,
        on,
        answers,
        note,
    )


def run_follow_ups(
    session: Session,
    node: Node,
    today: date,
    schedule: Any,
    policy: Any,
    volunteer_link: Any = None,
) -> int:
    """Stage today's check-in reminders and overdue alerts (each once); returns how many.

    A reminder to this node's own respondent goes to this agency only (a volunteer's carries the
    volunteer id and the signed link, which never leave the sending country); an overdue alert
    goes to both agencies. Rows are locked so that two runs never send the same reminder twice."""
    rows = session.scalars(
        select(Mobility)
        .where(
            Mobility.status == "in_mission",
            (Mobility.sending_agency == node.agency) | (Mobility.host_agency == node.agency),
        )
        .with_for_update()
    ).all()
    staged = 0
    for row in rows:
        mobility = repository.mobility(row)
        events = mobility.follow_ups(today, node.agency, schedule, policy)
        if not events:
            continue
        repository.store_mobility(mobility, row)
        for event in events:
            data = dict(event.data)
            if data["stage"] == "overdue":
                agencies = [row.sending_agency, row.host_agency]
            else:
                agencies = [node.agency]
                if data["respondents"] == ["volunteer"]:
                    match = session.get(Match, row.match_id)
                    data["volunteer_id"] = match.volunteer_id if match else None
                    if volunteer_link is not None:
                        data["link"] = volunteer_link(row.id, data["check_in"])
            emit(session, node, event.type, row.id, agencies, data)
            staged += 1
    return staged


# -- incidents -----------------------------------------------------------------------------------


def get_incident(session: Session, node: Node, incident_id: str) -> Incident:
    return get_for_agency(session, Incident, incident_id, node.agency)


def report_incident(
    session: Session, node: Node, mobility_id: str, data: Mapping[str, Any]
) -> Incident:
    """Either agency reports; the description stays here, codes and status travel."""
    from services.registry.domain.incidents import Incident as IncidentAggregate

    mobility = repository.mobility(get_mobility(session, node, mobility_id))
    try:
        incident, event = IncidentAggregate.report(
            new_id("inc"),
            mobility,
            node.agency,
            data["on"],
            data["severity"],
            data["category"],
            data.get("owner"),
        )
    except DomainError as exc:
        raise ruled(exc) from exc
    row = Incident(description=data.get("description"), updated_at=now())
    repository.store_incident(incident, row)
    session.add(row)
    emit_event(session, node, event, row.id, [row.sending_agency, row.host_agency])
    return row


def update_incident(
    session: Session, node: Node, incident_id: str, data: Mapping[str, Any]
) -> Incident:
    """The owner moves it on (status, severity, owner); the resolution text stays here."""
    row = get_incident(session, node, incident_id)
    incident = repository.incident(row)
    try:
        event = incident.update(
            node.agency, data["on"], data.get("status"), data.get("owner"), data.get("severity")
        )
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_incident(incident, row)
    if data.get("resolution"):
        row.resolution = data["resolution"]
    row.updated_at = now()
    emit_event(session, node, event, row.id, [row.sending_agency, row.host_agency])
    return row


# -- end of mission: reviews and certificate ------------------------------------------------------


def submit_review(
    session: Session,
    node: Node,
    mobility_id: str,
    respondent: str,
    on: date,
    scores: dict[str, Any],
    comments: str | None = None,
) -> Mobility:
    """The end-of-mission questionnaire of one respondent; its comments stay on this node."""
    m = get_mobility(session, node, mobility_id)
    return mobility_step(
        session, node, m, MobilityAggregate.review, respondent, node.agency, on, scores, comments
    )


def certificate_facts(session: Session, node: Node, mobility_id: str) -> dict[str, Any]:
    """What the completion certificate says, issued by the sending agency for a completed
    mission; gives the mobility its verification code the first time."""
    import secrets

    m = get_mobility(session, node, mobility_id)
    if m.sending_agency != node.agency:
        raise Forbidden(msg("mobility.certificate_sending_only", agency=m.sending_agency))
    if m.status != "completed":
        raise Conflict(msg("mobility.no_certificate", status=m.status), "status")
    if m.certificate_code is None:
        m.certificate_code = secrets.token_hex(6).upper()
    match = session.get(Match, m.match_id)
    volunteer = session.get(Volunteer, match.volunteer_id) if match else None
    profiles = {
        code: session.get(AgencyProfile, code) for code in (m.sending_agency, m.host_agency)
    }
    return {
        "code": m.certificate_code,
        "volunteer": f"{volunteer.first_name} {volunteer.last_name}" if volunteer else "",
        "sending_agency": m.sending_agency,
        "host_agency": m.host_agency,
        "agency_names": {c: p.name if p else None for c, p in profiles.items()},
        "started_on": m.started_on,
        "ended_on": m.ended_on,
        "placement": dict(m.placement or {}),
        "placement_id": match.placement_id if match else None,
    }


def verify_certificate(session: Session, node: Node, code: str) -> str | None:
    """The issuing agency of a certificate with this code, or None: nothing else is revealed."""
    found = session.scalar(
        select(Mobility).where(
            Mobility.certificate_code == code.strip().upper(),
            Mobility.sending_agency == node.agency,
        )
    )
    return found.sending_agency if found is not None else None
