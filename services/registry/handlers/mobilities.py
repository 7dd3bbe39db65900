"""Mobilities: opened by a confirmed match; checklist, departure, reports, completion."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import (
    AgencyProfile,
    Agreement,
    HostOrganisation,
    Match,
    Mobility,
    Placement,
)
from services.registry.adapters.repository import get_for_agency
from services.registry.domain import checklists
from services.registry.domain.errors import DomainError
from services.registry.domain.mobilities import Mobility as MobilityAggregate
from services.registry.handlers.common import Node, emit, emit_event, now, ruled
from services.registry.handlers.matches import move_volunteer


def mobility_id_for(match_id: str) -> str:
    """Both agencies name the mobility of a confirmed match alike, without a round trip."""
    return f"mob-{match_id.removeprefix('m-')}"


def agency_checklist(session: Session, agency: str) -> list[dict[str, Any]]:
    """The checklist this agency asks for when it sends a volunteer (the default if unset)."""
    profile = session.get(AgencyProfile, agency)
    return list(profile.checklist) if profile and profile.checklist else checklists.default_items()


def set_agency_checklist(session: Session, node: Node, items: list[dict[str, Any]]) -> list[Any]:
    """Applies to mobilities opened from now on; those already open keep their copy."""
    try:
        valid = checklists.validated(items)
    except DomainError as exc:
        raise ruled(exc) from exc
    profile = session.get(AgencyProfile, node.agency)
    if profile is None:
        profile = AgencyProfile(code=node.agency, name=node.agency, languages=["fr"])
        session.add(profile)
    profile.checklist, profile.updated_at = valid, now()
    return valid


def open_mobility(session: Session, match: Match, node: Node) -> Mobility:
    """The mobility of a confirmed match (pre-departure); idempotent. The sending node copies
    its checklist; the host node fills its copy from the sending node's updates."""
    existing = session.scalar(select(Mobility).where(Mobility.match_id == match.id))
    if existing is not None:
        return existing
    sending = node.agency == match.sending_agency
    items = checklists.fresh(agency_checklist(session, node.agency)) if sending else []
    mobility = Mobility(
        id=mobility_id_for(match.id),
        match_id=match.id,
        agreement_id=match.agreement_id,
        sending_agency=match.sending_agency,
        host_agency=match.host_agency,
        status="pre_departure",
        reports=[],
        checklist={"version": 0, "items": items},
        updated_at=now(),
    )
    session.add(mobility)
    if node.agency == match.host_agency:
        describe_placement(session, node, mobility)
    return mobility


def describe_placement(session: Session, node: Node, mobility: Mobility) -> None:
    """The host node tells the sending node what the volunteer goes to: the placement's title,
    city, host organisation and dates (no personal data), for its pages and the certificate."""
    match = session.get(Match, mobility.match_id)
    placement = session.get(Placement, match.placement_id) if match else None
    if placement is None:
        return
    org = session.get(HostOrganisation, placement.host_organisation_id)
    mobility.placement = {
        "title": placement.title,
        "city": placement.city,
        "host_organisation": org.name if org else "",
        "start": placement.start.isoformat(),
        "end": placement.end.isoformat(),
    }
    data = {
        "mobility_id": mobility.id,
        "match_id": mobility.match_id,
        "agreement_id": mobility.agreement_id,
        "sending_agency": mobility.sending_agency,
        "host_agency": mobility.host_agency,
        "placement_id": placement.id,
        **mobility.placement,
    }
    emit(
        session,
        node,
        "mobility.hosted",
        mobility.id,
        [mobility.sending_agency, mobility.host_agency],
        data,
    )


def get_mobility(session: Session, node: Node, mobility_id: str) -> Mobility:
    # Locked for the transaction: a peer's step applied at the same moment rewrites the same
    # row (check-in answers, reports), and one of the two would otherwise be lost.
    return get_for_agency(session, Mobility, mobility_id, node.agency, lock=True)


def mobility_step(session: Session, node: Node, row: Mobility, step: Any, *args: Any) -> Mobility:
    """Run one step of the mission through the aggregate, store it and stage its event."""
    mobility = repository.mobility(row)
    try:
        event = step(mobility, *args)
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_mobility(mobility, row)
    row.updated_at = now()
    emit_event(session, node, event, row.id, [row.sending_agency, row.host_agency])
    return row


def set_volunteer_status_for(session: Session, node: Node, mobility: Mobility, status: str) -> None:
    """On the sending agency's node, the volunteer follows the mission (deployed, completed)."""
    match = session.get(Match, mobility.match_id)
    if match is not None:
        move_volunteer(session, node, match.volunteer_id, mobility.sending_agency, status)


def tick_checklist(
    session: Session, node: Node, mobility_id: str, code: str, done: bool, on: date
) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    return mobility_step(session, node, m, MobilityAggregate.tick, code, done, on, node.agency)


def default_planned_end(session: Session, row: Mobility, on: date) -> date | None:
    """The placement's end when this node holds it, else the agreement's end."""
    match = session.get(Match, row.match_id)
    placement = session.get(Placement, match.placement_id) if match else None
    if placement is not None and placement.end > on:
        return placement.end
    agreement = session.get(Agreement, row.agreement_id)
    return agreement.end if agreement is not None and agreement.end > on else None


def start_mobility(
    session: Session, node: Node, mobility_id: str, on: date, planned_end: date | None = None
) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    planned_end = planned_end or default_planned_end(session, m, on)
    m = mobility_step(session, node, m, MobilityAggregate.start, on, node.agency, planned_end)
    set_volunteer_status_for(session, node, m, "deployed")
    return m


def submit_report(
    session: Session, node: Node, mobility_id: str, kind: str, on: date, summary: str | None
) -> Mobility:
    """A follow-up report; its summary stays on this node (free text is never put in events)."""
    m = get_mobility(session, node, mobility_id)
    return mobility_step(session, node, m, MobilityAggregate.report, kind, on, node.agency, summary)


def complete_mobility(session: Session, node: Node, mobility_id: str, on: date) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    m = mobility_step(session, node, m, MobilityAggregate.complete, on)
    set_volunteer_status_for(session, node, m, "completed")
    return m


def interrupt_mobility(
    session: Session, node: Node, mobility_id: str, on: date, reason: str, note: str | None = None
) -> Mobility:
    """Interrupt with a reason code; the note stays on this node."""
    m = get_mobility(session, node, mobility_id)
    m = mobility_step(session, node, m, MobilityAggregate.interrupt, on, reason)
    m.interruption_note = note
    return m
