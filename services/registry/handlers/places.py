"""Host organisations and the placements they offer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import HostOrganisation, Placement
from services.registry.adapters.repository import NotFound, get_for_agency
from services.registry.domain.errors import DomainError
from services.registry.domain.messages import msg
from services.registry.handlers.common import (
    Conflict,
    Invalid,
    Node,
    emit,
    emit_event,
    new_id,
    now,
    ruled,
)


def create_host_organisation(
    session: Session, node: Node, data: Mapping[str, Any]
) -> HostOrganisation:
    duplicate = session.scalar(
        select(HostOrganisation.id).where(
            HostOrganisation.agency == node.agency,
            HostOrganisation.name == data["name"],
            HostOrganisation.city == data["city"],
        )
    )
    if duplicate:
        raise Conflict(msg("organisation.duplicate", id=duplicate), "name")
    at = now()
    org = HostOrganisation(
        id=new_id("org"), agency=node.agency, created_at=at, updated_at=at, **data
    )
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:  # registered at the same moment by another request
        raise Conflict(msg("organisation.duplicate_unnamed"), "name") from exc
    return org


def get_host_organisation(session: Session, node: Node, org_id: str) -> HostOrganisation:
    return get_for_agency(session, HostOrganisation, org_id, node.agency)


def update_host_organisation(
    session: Session, node: Node, org_id: str, data: Mapping[str, Any]
) -> HostOrganisation:
    org = get_host_organisation(session, node, org_id)
    clash = session.scalar(
        select(HostOrganisation.id).where(
            HostOrganisation.agency == node.agency,
            HostOrganisation.name == data["name"],
            HostOrganisation.city == data["city"],
            HostOrganisation.id != org.id,
        )
    )
    if clash:
        raise Conflict(msg("organisation.name_taken", id=clash), "name")
    for key, value in data.items():
        setattr(org, key, value)
    org.updated_at = now()
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent change took the name first
        raise Conflict(msg("organisation.name_taken_unnamed"), "name") from exc
    return org


def placement_data(p: Placement, org: HostOrganisation) -> dict[str, Any]:
    return {
        "placement_id": p.id,
        "agency": p.agency,
        "host_organisation_id": org.id,
        "host_organisation_name": org.name,
        "city": p.city,
        "title": p.title,
        "domain": p.domain,
        "required_skills": list(p.required_skills),
        "required_languages": list(p.required_languages),
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "slots": p.slots,
        "status": p.status,
    }


def publish_placement(session: Session, node: Node, data: Mapping[str, Any]) -> Placement:
    try:
        org = get_host_organisation(session, node, data["host_organisation_id"])
    except NotFound as exc:
        raise Invalid(exc.message, "host_organisation_id") from exc
    at = now()
    placement = Placement(
        id=new_id("pl"), agency=node.agency, status="open", created_at=at, updated_at=at, **data
    )
    session.add(placement)
    session.flush()
    emit(
        session,
        node,
        "placement.published",
        placement.id,
        [node.agency],
        placement_data(placement, org),
    )
    return placement


def get_placement(session: Session, node: Node, placement_id: str) -> Placement:
    return get_for_agency(session, Placement, placement_id, node.agency)


def update_placement(
    session: Session, node: Node, placement_id: str, changes: Mapping[str, Any]
) -> Placement:
    placement = get_placement(session, node, placement_id)
    try:
        repository.placement(placement).check_editable()
    except DomainError as exc:
        raise ruled(exc) from exc
    start, end = changes.get("start", placement.start), changes.get("end", placement.end)
    if end < start:
        raise Invalid(msg("placement.dates_order"), "end")
    for key, value in changes.items():
        setattr(placement, key, value)
    placement.updated_at = now()
    org = session.get_one(HostOrganisation, placement.host_organisation_id)
    emit(
        session,
        node,
        "placement.updated",
        placement.id,
        [node.agency],
        placement_data(placement, org),
    )
    return placement


def close_placement(
    session: Session, node: Node, placement_id: str, reason: str, note: str | None = None
) -> Placement:
    """Close with a reason code; the note stays on this node."""
    row = get_placement(session, node, placement_id)
    placement = repository.placement(row)
    try:
        event = placement.close(reason)
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_placement(placement, row)
    row.closed_note, row.updated_at = note, now()
    emit_event(session, node, event, row.id, [node.agency])
    return row
