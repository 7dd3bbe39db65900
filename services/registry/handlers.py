"""Registry use cases: each changes the node's data and stages its event in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import (
    AgencyProfile,
    Agreement,
    DossierAccess,
    HostOrganisation,
    Incident,
    Match,
    Mobility,
    Placement,
    Volunteer,
)
from services.registry.adapters.repository import NotFound, get_for_agency
from services.registry.domain import agreements as rules
from services.registry.domain import checklists
from services.registry.domain.errors import DomainError, DomainEvent, InvalidInput, NotEntitled
from services.registry.domain.mobilities import Mobility as MobilityAggregate
from services.registry.domain.volunteers import initial_status
from shared.events import new_event
from shared.outbox import add_event


class Invalid(Exception):
    """A rule across fields refuses the input (HTTP 422 with the field at fault)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class Conflict(Exception):
    """The request is valid but clashes with the current state (HTTP 409)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Node:
    """The agency this registry serves and the CloudEvents source of its events."""

    agency: str

    @property
    def source(self) -> str:
        return f"/agencies/{self.agency}/registry"


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def emit(
    session: Session,
    node: Node,
    type_: str,
    subject: str,
    agencies: list[str],
    data: Mapping[str, Any],
) -> None:
    add_event(
        session, new_event(type_, source=node.source, subject=subject, agencies=agencies, data=data)
    )


def emit_event(
    session: Session, node: Node, event: DomainEvent, subject: str, agencies: list[str]
) -> None:
    emit(session, node, event.type, subject, agencies, event.data)


def ruled(error: DomainError) -> Exception:
    """A domain refusal as the API says it: 422 for bad input, 409 for a clash with the state."""
    if isinstance(error, InvalidInput):
        return Invalid(str(error), error.field or "json")
    if isinstance(error, NotEntitled):
        return Forbidden(str(error))
    return Conflict(str(error), error.field)


# -- volunteers ----------------------------------------------------------------------------------


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
        raise Conflict(
            f"A volunteer with this identity number is already registered ({existing}).",
            "identity_number",
        )
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
    """INSERT … ON CONFLICT (agency, nationality, identity_number) DO NOTHING RETURNING id, the
    same text on PostgreSQL and SQLite. Written as SQL text with typed parameters because
    SQLAlchemy never caches the compiled form of its dialects' ON CONFLICT inserts (they were
    compiled again on every registration, a sixth of its CPU); a text statement is cached."""
    global _INSERT_UNLESS_REGISTERED
    if _INSERT_UNLESS_REGISTERED is None:
        table = Volunteer.__table__
        names = [c.name for c in table.columns]
        _INSERT_UNLESS_REGISTERED = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join(':' + n for n in names)}) "
            "ON CONFLICT (agency, nationality, identity_number) DO NOTHING RETURNING id"
        ).bindparams(*(bindparam(c.name, type_=c.type) for c in table.columns))
    return _INSERT_UNLESS_REGISTERED


_INSERT_UNLESS_REGISTERED: Any = None


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
        raise Invalid("Must not be before available_from.", "available_until")
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


class Forbidden(Exception):
    pass


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
        raise Forbidden(f"{reader_agency} hosts no confirmed match of this volunteer.")
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


# -- host organisations and placements -----------------------------------------------------------


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
        raise Conflict(
            f"This organisation is already registered in this city ({duplicate}).", "name"
        )
    at = now()
    org = HostOrganisation(
        id=new_id("org"), agency=node.agency, created_at=at, updated_at=at, **data
    )
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:  # registered at the same moment by another request
        raise Conflict("This organisation is already registered in this city.", "name") from exc
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
        raise Conflict(f"Another organisation has this name in this city ({clash}).", "name")
    for key, value in data.items():
        setattr(org, key, value)
    org.updated_at = now()
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent change took the name first
        raise Conflict("Another organisation has this name in this city.", "name") from exc
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
        raise Invalid(str(exc), "host_organisation_id") from exc
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
        raise Invalid("Must not be before start.", "end")
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


# -- agreements ----------------------------------------------------------------------------------


def _terms(agreement_id: str, parties: list[str], data: Mapping[str, Any]) -> rules.Terms:
    return rules.Terms(
        agreement_id=agreement_id,
        parties=tuple(parties),
        start=data["start"],
        end=data["end"],
        quotas=tuple(rules.Quota(q["sending"], q["host"], q["volunteers"]) for q in data["quotas"]),
        balance_tolerance=data["balance_tolerance"],
        fields_of_cooperation=tuple(data.get("fields_of_cooperation", [])),
    )


def terms_data(a: Agreement) -> dict[str, Any]:
    return repository.agreement(a).terms_data()


def propose_agreement(session: Session, node: Node, data: Mapping[str, Any]) -> Agreement:
    partners = [p for p in dict.fromkeys(data["partners"]) if p != node.agency]
    if not partners:
        raise Invalid("Name at least one partner agency other than this one.", "partners")
    parties = [node.agency, *partners]
    try:
        agreement, event = rules.Agreement.propose(
            _terms(new_id("agr"), parties, data), node.agency
        )
    except DomainError as exc:
        raise ruled(exc) from exc
    at = now()
    row = Agreement(created_at=at, updated_at=at)
    repository.store_agreement(agreement, row)
    session.add(row)
    session.flush()
    emit_event(session, node, event, row.id, parties)
    return row


def get_agreement(session: Session, node: Node, agreement_id: str) -> Agreement:
    return get_for_agency(session, Agreement, agreement_id, node.agency)


def display_status(agreement: Agreement, today: date | None = None) -> str:
    if agreement.status == "active" and agreement.end < (today or date.today()):
        return "expired"
    return agreement.status


def approve_agreement(
    session: Session, node: Node, agreement_id: str, approved_hash: str
) -> Agreement:
    row = get_agreement(session, node, agreement_id)
    agreement = repository.agreement(row)
    try:
        events = agreement.approve(node.agency, approved_hash)
    except DomainError as exc:
        raise ruled(exc) from exc
    if not events:
        return row  # approving the same current terms again changes nothing
    repository.store_agreement(agreement, row)
    row.updated_at = now()
    for event in events:
        emit_event(session, node, event, row.id, list(row.parties))
    return row


def amend_agreement(
    session: Session, node: Node, agreement_id: str, data: Mapping[str, Any]
) -> Agreement:
    row = get_agreement(session, node, agreement_id)
    agreement = repository.agreement(row)
    try:
        event = agreement.amend(_terms(row.id, list(row.parties), data), node.agency)
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_agreement(agreement, row)
    row.updated_at = now()
    emit_event(session, node, event, row.id, list(row.parties))
    return row


def terminate_agreement(
    session: Session,
    node: Node,
    agreement_id: str,
    reason: str,
    effective: date,
    note: str | None = None,
) -> Agreement:
    """Terminate with a reason code; the note stays on this node."""
    row = get_agreement(session, node, agreement_id)
    agreement = repository.agreement(row)
    try:
        event = agreement.terminate(node.agency, reason, effective)
    except DomainError as exc:
        raise ruled(exc) from exc
    repository.store_agreement(agreement, row)
    row.termination_note, row.updated_at = note, now()
    emit_event(session, node, event, row.id, list(row.parties))
    return row


def ledger(session: Session, node: Node, agreement_id: str) -> dict[str, Any]:
    agreement = get_agreement(session, node, agreement_id)
    matches = session.scalars(select(Match).where(Match.agreement_id == agreement.id)).all()
    mobilities = session.scalars(
        select(Mobility).where(Mobility.agreement_id == agreement.id)
    ).all()
    directions = []
    for q in agreement.quotas:
        key = (q["sending"], q["host"])
        mine = [m for m in matches if (m.sending_agency, m.host_agency) == key]
        mobs = [m for m in mobilities if (m.sending_agency, m.host_agency) == key]
        confirmed = sum(1 for m in mine if m.status == "confirmed")
        directions.append(
            {
                "sending": q["sending"],
                "host": q["host"],
                "quota": q["volunteers"],
                "proposed": sum(1 for m in mine if m.status == "proposed"),
                "confirmed": confirmed,
                "started": sum(1 for m in mobs if m.started_on is not None),
                "completed": sum(1 for m in mobs if m.status == "completed"),
                "remaining": max(0, q["volunteers"] - confirmed),
            }
        )
    counts = [d["confirmed"] for d in directions]
    balance = max(counts) - min(counts) if counts else 0
    return {
        "agreement_id": agreement.id,
        "status": display_status(agreement),
        "balance_tolerance": agreement.balance_tolerance,
        "balance": balance,
        "within_tolerance": balance <= agreement.balance_tolerance,
        "directions": directions,
    }


# -- matches -------------------------------------------------------------------------------------


def get_match(session: Session, node: Node, match_id: str) -> Match:
    """The match, locked for this transaction: a peer's decision may be applied at the same time
    (the consumer locks it too), and both rewrite the decisions."""
    return get_for_agency(session, Match, match_id, node.agency, lock=True)


def decide_match(
    session: Session,
    node: Node,
    match_id: str,
    accept: bool,
    reason: str | None = None,
    note: str | None = None,
) -> Match:
    """Accept, or decline with a reason code; the note stays in this node's copy."""
    row = get_match(session, node, match_id)
    match = repository.match(row)
    local = {"at": now().isoformat(), **({"note": note} if note else {})}
    try:
        event = match.decide(node.agency, accept, reason, **local)
    except DomainError as exc:
        raise ruled(exc) from exc
    if event is None:
        return row  # the same decision again: nothing changes, nothing is re-sent
    repository.store_match(match, row)
    if not accept:
        row.status_note = note
        free_volunteer(session, node, row)
    row.updated_at = now()
    emit_event(session, node, event, row.id, [row.sending_agency, row.host_agency])
    return row


# Moves between these statuses follow matching's own proposals and their end: matching already
# knows them, and a volunteer in either is a candidate, so they are not announced.
MATCHING_OWN_MOVES = frozenset({"available", "proposed"})


def move_volunteer(
    session: Session, node: Node, volunteer_id: str, sending_agency: str, status: str
) -> None:
    """The one place a match or a mission moves a volunteer's status (on the sending agency's
    node only, as the volunteer's rules allow), announcing the new matching profile unless
    only matching's own move between available and proposed happened."""
    if sending_agency != node.agency:
        return
    row = session.get(Volunteer, volunteer_id)
    if row is None or row.agency != node.agency:
        return
    volunteer = repository.volunteer(row)
    before = volunteer.status.value
    if not volunteer.follow(status):
        return
    repository.store_volunteer(volunteer, row)
    row.updated_at = now()
    if {before, status} <= MATCHING_OWN_MOVES:
        return  # matching made this move itself (proposed, or freed again): nobody to tell
    emit(session, node, "volunteer.updated", row.id, [node.agency], volunteer_profile(row))


def free_volunteer(session: Session, node: Node, match: Match) -> None:
    """A proposal ended (declined, cancelled): the volunteer is available again, unless another
    proposal still holds them. Matching may propose the next placement before the cancellation
    of the previous one arrives (their events travel independently), so look, don't assume."""
    still_held = session.scalar(
        select(Match.id).where(
            Match.volunteer_id == match.volunteer_id,
            Match.id != match.id,
            Match.status.in_(("proposed", "confirmed")),
        )
    )
    if still_held is None:
        move_volunteer(session, node, match.volunteer_id, match.sending_agency, "available")


# -- mobilities ----------------------------------------------------------------------------------


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
        raise Forbidden(f"Only the sending agency {m.sending_agency} issues the certificate.")
    if m.status != "completed":
        raise Conflict(f"A mobility that is {m.status} has no certificate.", "status")
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


def share_lessons(
    session: Session, node: Node, agreement_id: str, text: str, on: date
) -> dict[str, Any]:
    """This agency's lessons and recommendations for the agreement's evaluation: written to be
    shared with the other parties (agreement.lessons_shared), never shown to partners."""
    agreement = get_agreement(session, node, agreement_id)
    agreement.lessons = {
        **(agreement.lessons or {}),
        node.agency: {"text": text, "on": on.isoformat()},
    }
    agreement.updated_at = now()
    data = {"agreement_id": agreement.id, "agency": node.agency, "text": text, "on": on.isoformat()}
    emit(session, node, "agreement.lessons_shared", agreement.id, list(agreement.parties), data)
    return dict(agreement.lessons)
