"""Volunteers: registration, changes, withdrawal and the host agency's read of a dossier."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import DossierAccess, Match, Volunteer
from services.registry.adapters.repository import get_for_agency
from services.registry.domain.errors import DomainError
from services.registry.domain.messages import msg
from services.registry.domain.volunteers import initial_status
from services.registry.handlers.common import (
    Conflict,
    Forbidden,
    Invalid,
    Node,
    emit,
    emit_event,
    new_id,
    now,
    ruled,
)
from shared.db import insert_unless_present

PROFILE_COLUMNS = (
    "id",
    "agency",
    "status",
    "skills",
    "domains",
    "languages",
    "education_level",
    "available_from",
    "available_until",
    "preferred_countries",
    "created_at",
)


def volunteer_profile(v: Volunteer | Mapping[str, Any]) -> dict[str, Any]:
    """What the network may know of a volunteer: no name, contact, birth date or identity number.

    `v` is a stored volunteer, or the columns of one about to be stored (a bulk import)."""
    row = v if isinstance(v, Mapping) else {c: getattr(v, c) for c in PROFILE_COLUMNS}
    return {
        "volunteer_id": row["id"],
        "agency": row["agency"],
        "status": row["status"],
        "skills": list(row["skills"]),
        "domains": list(row["domains"]),
        "languages": list(row["languages"]),
        "education_level": row["education_level"],
        "available_from": row["available_from"].isoformat() if row["available_from"] else None,
        "available_until": row["available_until"].isoformat() if row["available_until"] else None,
        "preferred_countries": list(row["preferred_countries"]),
        "registered_at": row["created_at"].isoformat(),
    }


def new_volunteer_columns(node: Node, data: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The columns of a volunteer registered from `data` (a loaded `VolunteerIn`) at `at`."""
    consent = data["consent"]
    return {
        "id": new_id("vol"),
        "agency": node.agency,
        "first_name": data["first_name"],
        "last_name": data["last_name"],
        "date_of_birth": data["date_of_birth"],
        "gender": data["gender"],
        "nationality": data["nationality"],
        "identity_number": data["identity_number"],
        "email": data.get("email"),
        "phone": data.get("phone"),
        "preferred_language": data.get("preferred_language", "fr"),
        "notes": data.get("notes"),
        "consent_given_at": consent["given_at"],
        "consent_purposes": list(consent["purposes"]),
        "languages": list(data.get("languages", [])),
        "skills": list(data.get("skills", [])),
        "domains": list(data.get("domains", [])),
        "education_level": data.get("education_level"),
        "available_from": data.get("available_from"),
        "available_until": data.get("available_until"),
        "preferred_countries": list(data.get("preferred_countries", [])),
        "status": initial_status(bool(data.get("available_from") and data.get("available_until"))),
        "withdrawn_reason": None,
        "withdrawn_note": None,
        "created_at": at,
        "updated_at": at,
    }


def register_volunteer(session: Session, node: Node, data: Mapping[str, Any]) -> Volunteer:
    columns = new_volunteer_columns(node, data, now())
    # One round trip whether the identity is new or not: the unique constraint decides, and a
    # concurrent registration of the same identity is refused the same way.
    inserted = session.execute(_insert_unless_registered(), columns).first()
    if inserted is None:
        existing = session.scalar(
            select(Volunteer.id).where(
                Volunteer.agency == node.agency,
                Volunteer.nationality == data["nationality"],
                Volunteer.identity_number == data["identity_number"],
            )
        )
        raise Conflict(msg("volunteer.duplicate_identity", id=existing), "identity_number")
    volunteer = Volunteer(**columns)  # as stored; the caller reads it, nothing more to flush
    emit(
        session,
        node,
        "volunteer.registered",
        volunteer.id,
        [node.agency],
        volunteer_profile(columns),
    )
    return volunteer


def _insert_unless_registered() -> Any:
    """INSERT … ON CONFLICT (agency, nationality, identity_number) DO NOTHING RETURNING id."""
    table = Volunteer.__table__
    return insert_unless_present(
        table,
        tuple(c.name for c in table.columns),
        conflict=("agency", "nationality", "identity_number"),
        returning=("id",),
    )


def get_volunteer(session: Session, node: Node, volunteer_id: str) -> Volunteer:
    return get_for_agency(session, Volunteer, volunteer_id, node.agency)


def update_volunteer(
    session: Session, node: Node, volunteer_id: str, changes: Mapping[str, Any]
) -> Volunteer:
    row = get_volunteer(session, node, volunteer_id)
    volunteer = repository.volunteer(row)
    try:
        volunteer.check_editable()
    except DomainError as exc:
        raise ruled(exc) from exc
    start = changes.get("available_from", row.available_from)
    end = changes.get("available_until", row.available_until)
    if start and end and end < start:
        raise Invalid(msg("volunteer.availability_order"), "available_until")
    for key, value in changes.items():
        setattr(row, key, value)
    volunteer.availability_known(bool(row.available_from and row.available_until))
    repository.store_volunteer(volunteer, row)
    row.updated_at = now()
    emit(session, node, "volunteer.updated", row.id, [node.agency], volunteer_profile(row))
    return row


def withdraw_volunteer(
    session: Session, node: Node, volunteer_id: str, reason: str, note: str | None = None
) -> Volunteer:
    """Withdraw with a reason code; the note stays on this node."""
    row = get_volunteer(session, node, volunteer_id)
    volunteer = repository.volunteer(row)
    try:
        event = volunteer.withdraw(reason)
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_volunteer(volunteer, row)
    row.withdrawn_note, row.updated_at = note, now()
    emit_event(session, node, event, row.id, [node.agency])
    return row


def read_dossier(
    session: Session, node: Node, volunteer_id: str, reader_agency: str, token_id: str
) -> tuple[Volunteer, Match]:
    """A host agency's node reads a volunteer's personal data: only for a confirmed match it
    hosts; every read is recorded."""
    volunteer = get_volunteer(session, node, volunteer_id)
    match = session.scalar(
        select(Match)
        .where(
            Match.volunteer_id == volunteer.id,
            Match.host_agency == reader_agency,
            Match.sending_agency == node.agency,
            Match.status == "confirmed",
        )
        .order_by(Match.updated_at.desc())
    )
    if match is None:
        raise Forbidden(msg("volunteer.dossier_not_hosted", agency=reader_agency))
    session.add(
        DossierAccess(
            volunteer_id=volunteer.id,
            match_id=match.id,
            reader_agency=reader_agency,
            token_id=token_id,
            at=now(),
        )
    )
    return volunteer, match
