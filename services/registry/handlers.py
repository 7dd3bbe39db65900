"""Registry use cases: each changes the node's data and stages its event in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (
    Agreement,
    DossierAccess,
    HostOrganisation,
    Match,
    Mobility,
    Placement,
    Volunteer,
)
from services.registry.domain import agreements as rules
from services.registry.domain import mobilities as mobility_rules
from services.registry.domain.volunteers import VolunteerError, check_withdrawable, initial_status
from shared.events import new_event
from shared.outbox import add_event


class NotFound(Exception):
    pass


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


# -- volunteers ----------------------------------------------------------------------------------


def volunteer_profile(v: Volunteer) -> dict[str, Any]:
    """What the network may know of a volunteer: no name, contact, birth date or identity number."""
    return {
        "volunteer_id": v.id,
        "agency": v.agency,
        "status": v.status,
        "skills": list(v.skills),
        "domains": list(v.domains),
        "languages": list(v.languages),
        "education_level": v.education_level,
        "available_from": v.available_from.isoformat() if v.available_from else None,
        "available_until": v.available_until.isoformat() if v.available_until else None,
        "preferred_countries": list(v.preferred_countries),
        "registered_at": v.created_at.isoformat(),
    }


def register_volunteer(session: Session, node: Node, data: Mapping[str, Any]) -> Volunteer:
    existing = session.scalar(
        select(Volunteer.id).where(
            Volunteer.agency == node.agency,
            Volunteer.nationality == data["nationality"],
            Volunteer.identity_number == data["identity_number"],
        )
    )
    if existing:
        raise Conflict(
            f"A volunteer with this identity number is already registered ({existing}).",
            "identity_number",
        )
    at = now()
    consent = data["consent"]
    volunteer = Volunteer(
        id=new_id("vol"),
        agency=node.agency,
        first_name=data["first_name"],
        last_name=data["last_name"],
        date_of_birth=data["date_of_birth"],
        gender=data["gender"],
        nationality=data["nationality"],
        identity_number=data["identity_number"],
        email=data.get("email"),
        phone=data.get("phone"),
        preferred_language=data.get("preferred_language", "fr"),
        notes=data.get("notes"),
        consent_given_at=consent["given_at"],
        consent_purposes=list(consent["purposes"]),
        languages=list(data.get("languages", [])),
        skills=list(data.get("skills", [])),
        domains=list(data.get("domains", [])),
        education_level=data.get("education_level"),
        available_from=data.get("available_from"),
        available_until=data.get("available_until"),
        preferred_countries=list(data.get("preferred_countries", [])),
        status=initial_status(bool(data.get("available_from") and data.get("available_until"))),
        created_at=at,
        updated_at=at,
    )
    session.add(volunteer)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same identity
        raise Conflict(
            "A volunteer with this identity number is already registered.", "identity_number"
        ) from exc
    emit(
        session,
        node,
        "volunteer.registered",
        volunteer.id,
        [node.agency],
        volunteer_profile(volunteer),
    )
    return volunteer


def get_volunteer(session: Session, node: Node, volunteer_id: str) -> Volunteer:
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.agency != node.agency:
        raise NotFound(f"No volunteer {volunteer_id}.")
    return volunteer


def update_volunteer(
    session: Session, node: Node, volunteer_id: str, changes: Mapping[str, Any]
) -> Volunteer:
    volunteer = get_volunteer(session, node, volunteer_id)
    if volunteer.status == "withdrawn":
        raise Conflict("A withdrawn volunteer cannot be changed.", "status")
    start = changes.get("available_from", volunteer.available_from)
    end = changes.get("available_until", volunteer.available_until)
    if start and end and end < start:
        raise Invalid("Must not be before available_from.", "available_until")
    for key, value in changes.items():
        setattr(volunteer, key, value)
    if volunteer.status == "registered" and volunteer.available_from and volunteer.available_until:
        volunteer.status = "available"
    volunteer.updated_at = now()
    emit(
        session,
        node,
        "volunteer.updated",
        volunteer.id,
        [node.agency],
        volunteer_profile(volunteer),
    )
    return volunteer


def withdraw_volunteer(session: Session, node: Node, volunteer_id: str, reason: str) -> Volunteer:
    volunteer = get_volunteer(session, node, volunteer_id)
    try:
        check_withdrawable(volunteer.status)
    except VolunteerError as exc:
        raise Conflict(str(exc), exc.field) from exc
    volunteer.status = "withdrawn"
    volunteer.withdrawn_reason = reason
    volunteer.updated_at = now()
    emit(
        session,
        node,
        "volunteer.withdrawn",
        volunteer.id,
        [node.agency],
        {"volunteer_id": volunteer.id, "agency": node.agency, "reason": reason},
    )
    return volunteer


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
    org = session.get(HostOrganisation, org_id)
    if org is None or org.agency != node.agency:
        raise NotFound(f"No host organisation {org_id}.")
    return org


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
    placement = session.get(Placement, placement_id)
    if placement is None or placement.agency != node.agency:
        raise NotFound(f"No placement {placement_id}.")
    return placement


def update_placement(
    session: Session, node: Node, placement_id: str, changes: Mapping[str, Any]
) -> Placement:
    placement = get_placement(session, node, placement_id)
    if placement.status == "closed":
        raise Conflict("A closed placement cannot be changed.", "status")
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


def close_placement(session: Session, node: Node, placement_id: str, reason: str) -> Placement:
    placement = get_placement(session, node, placement_id)
    if placement.status == "closed":
        raise Conflict("The placement is already closed.", "status")
    placement.status = "closed"
    placement.closed_reason = reason
    placement.updated_at = now()
    emit(
        session,
        node,
        "placement.closed",
        placement.id,
        [node.agency],
        {"placement_id": placement.id, "agency": node.agency, "reason": reason},
    )
    return placement


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
    return {
        "agreement_id": a.id,
        "parties": list(a.parties),
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "quotas": list(a.quotas),
        "balance_tolerance": a.balance_tolerance,
        "fields_of_cooperation": list(a.fields_of_cooperation),
        "terms_hash": a.terms_hash,
        "revision": a.revision,
    }


def _check(terms: rules.Terms) -> None:
    try:
        rules.check_terms(terms)
    except rules.AgreementError as exc:
        raise Invalid(str(exc), exc.field or "quotas") from exc


def propose_agreement(session: Session, node: Node, data: Mapping[str, Any]) -> Agreement:
    partners = [p for p in dict.fromkeys(data["partners"]) if p != node.agency]
    if not partners:
        raise Invalid("Name at least one partner agency other than this one.", "partners")
    parties = [node.agency, *partners]
    agreement_id = new_id("agr")
    terms = _terms(agreement_id, parties, data)
    _check(terms)
    at = now()
    digest = terms.hash()
    agreement = Agreement(
        id=agreement_id,
        parties=parties,
        proposer=node.agency,
        start=terms.start,
        end=terms.end,
        quotas=[q.__dict__ for q in terms.quotas],
        balance_tolerance=terms.balance_tolerance,
        fields_of_cooperation=list(terms.fields_of_cooperation),
        revision=1,
        terms_hash=digest,
        approvals={node.agency: digest},  # proposing is approving one's own terms
        status="proposed",
        created_at=at,
        updated_at=at,
    )
    session.add(agreement)
    session.flush()
    emit(session, node, "agreement.proposed", agreement.id, parties, terms_data(agreement))
    return agreement


def get_agreement(session: Session, node: Node, agreement_id: str) -> Agreement:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or node.agency not in agreement.parties:
        raise NotFound(f"No agreement {agreement_id}.")
    return agreement


def display_status(agreement: Agreement, today: date | None = None) -> str:
    if agreement.status == "active" and agreement.end < (today or date.today()):
        return "expired"
    return agreement.status


def approve_agreement(
    session: Session, node: Node, agreement_id: str, approved_hash: str
) -> Agreement:
    agreement = get_agreement(session, node, agreement_id)
    already = agreement.approvals.get(node.agency) == approved_hash
    try:
        approvals, status = rules.approve(
            agency=node.agency,
            parties=agreement.parties,
            approvals=agreement.approvals,
            current_hash=agreement.terms_hash,
            approved_hash=approved_hash,
            revision=agreement.revision,
            status=agreement.status,
        )
    except rules.AgreementError as exc:
        raise Conflict(str(exc), exc.field or "status") from exc
    if already:
        return agreement  # approving the same current terms again changes nothing
    agreement.approvals, agreement.status, agreement.updated_at = approvals, status, now()
    emit(
        session,
        node,
        "agreement.approved",
        agreement.id,
        list(agreement.parties),
        {
            "agreement_id": agreement.id,
            "agency": node.agency,
            "terms_hash": approved_hash,
            "revision": agreement.revision,
        },
    )
    if status == "active":
        # The approval that completes the set announces the activation; peers compute it too.
        emit(
            session,
            node,
            "agreement.activated",
            agreement.id,
            list(agreement.parties),
            terms_data(agreement),
        )
    return agreement


def amend_agreement(
    session: Session, node: Node, agreement_id: str, data: Mapping[str, Any]
) -> Agreement:
    agreement = get_agreement(session, node, agreement_id)
    if agreement.status == "terminated":
        raise Conflict("A terminated agreement cannot be amended.", "status")
    terms = _terms(agreement.id, list(agreement.parties), data)
    _check(terms)
    digest = terms.hash()
    if digest == agreement.terms_hash:
        raise Conflict("These terms are the current ones: nothing to amend.", "quotas")
    agreement.start, agreement.end = terms.start, terms.end
    agreement.quotas = [q.__dict__ for q in terms.quotas]
    agreement.balance_tolerance = terms.balance_tolerance
    agreement.fields_of_cooperation = list(terms.fields_of_cooperation)
    agreement.revision += 1
    agreement.terms_hash = digest
    agreement.approvals = {node.agency: digest}  # every other party must approve again
    agreement.status = rules.status_of(
        agreement.parties, agreement.approvals, digest, agreement.revision
    )
    agreement.updated_at = now()
    emit(
        session,
        node,
        "agreement.amended",
        agreement.id,
        list(agreement.parties),
        terms_data(agreement),
    )
    return agreement


def terminate_agreement(
    session: Session, node: Node, agreement_id: str, reason: str, effective: date
) -> Agreement:
    agreement = get_agreement(session, node, agreement_id)
    if agreement.status == "terminated":
        raise Conflict("The agreement is already terminated.", "status")
    agreement.status = "terminated"
    agreement.terminated_by, agreement.termination_reason, agreement.terminated_on = (
        node.agency,
        reason,
        effective,
    )
    agreement.updated_at = now()
    emit(
        session,
        node,
        "agreement.terminated",
        agreement.id,
        list(agreement.parties),
        {
            "agreement_id": agreement.id,
            "agency": node.agency,
            "reason": reason,
            "effective": effective.isoformat(),
        },
    )
    return agreement


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
    match = session.get(Match, match_id)
    if match is None or node.agency not in (match.sending_agency, match.host_agency):
        raise NotFound(f"No match {match_id}.")
    return match


def decide_match(
    session: Session, node: Node, match_id: str, accept: bool, reason: str | None = None
) -> Match:
    match = get_match(session, node, match_id)
    if match.status != "proposed":
        raise Conflict(f"This proposal is {match.status}: it can no longer be decided.", "status")
    decision = "accepted" if accept else "declined"
    previous = match.decisions.get(node.agency)
    if previous:
        if previous["decision"] == decision:
            return match  # the same decision again: nothing changes, nothing is re-sent
        raise Conflict(f"This agency already {previous['decision']} the proposal.", "decision")
    match.decisions = {
        **match.decisions,
        node.agency: {"decision": decision, "reason": reason, "at": now().isoformat()},
    }
    if not accept:
        match.status, match.status_reason = "declined", reason
        _free_volunteer(session, node, match)
    match.updated_at = now()
    emit(
        session,
        node,
        f"match.{decision}",
        match.id,
        [match.sending_agency, match.host_agency],
        {
            "match_id": match.id,
            "agreement_id": match.agreement_id,
            "volunteer_id": match.volunteer_id,
            "placement_id": match.placement_id,
            "agency": node.agency,
            "reason": reason,
        },
    )
    return match


def move_volunteer(
    session: Session,
    node: Node,
    volunteer_id: str,
    sending_agency: str,
    status: str,
    only_from: tuple[str, ...] | None = None,
) -> None:
    """The one place a match or a mission moves a volunteer's status (on the sending agency's
    node only), announcing the new matching profile."""
    if sending_agency != node.agency:
        return
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.agency != node.agency or volunteer.status == status:
        return
    if only_from is not None and volunteer.status not in only_from:
        return
    volunteer.status, volunteer.updated_at = status, now()
    emit(
        session,
        node,
        "volunteer.updated",
        volunteer.id,
        [node.agency],
        volunteer_profile(volunteer),
    )


def _free_volunteer(session: Session, node: Node, match: Match) -> None:
    move_volunteer(
        session,
        node,
        match.volunteer_id,
        match.sending_agency,
        "available",
        ("proposed", "matched"),
    )


# -- mobilities ----------------------------------------------------------------------------------


def mobility_id_for(match_id: str) -> str:
    """Both agencies name the mobility of a confirmed match alike, without a round trip."""
    return f"mob-{match_id.removeprefix('m-')}"


def open_mobility(session: Session, match: Match) -> Mobility:
    """The mobility of a confirmed match (pre-departure); idempotent."""
    existing = session.scalar(select(Mobility).where(Mobility.match_id == match.id))
    if existing is not None:
        return existing
    mobility = Mobility(
        id=mobility_id_for(match.id),
        match_id=match.id,
        agreement_id=match.agreement_id,
        sending_agency=match.sending_agency,
        host_agency=match.host_agency,
        status="pre_departure",
        reports=[],
        updated_at=now(),
    )
    session.add(mobility)
    return mobility


def get_mobility(session: Session, node: Node, mobility_id: str) -> Mobility:
    mobility = session.get(Mobility, mobility_id)
    if mobility is None or node.agency not in (mobility.sending_agency, mobility.host_agency):
        raise NotFound(f"No mobility {mobility_id}.")
    return mobility


def _mobility_event(session: Session, node: Node, type_: str, m: Mobility, **extra: Any) -> None:
    data = {
        "mobility_id": m.id,
        "match_id": m.match_id,
        "agreement_id": m.agreement_id,
        "sending_agency": m.sending_agency,
        "host_agency": m.host_agency,
        **extra,
    }
    emit(session, node, type_, m.id, [m.sending_agency, m.host_agency], data)


def _rule(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except mobility_rules.MobilityError as exc:
        raise Conflict(str(exc), exc.field) from exc


def set_volunteer_status_for(session: Session, node: Node, mobility: Mobility, status: str) -> None:
    """On the sending agency's node, the volunteer follows the mission (deployed, completed)."""
    match = session.get(Match, mobility.match_id)
    if match is not None:
        move_volunteer(session, node, match.volunteer_id, mobility.sending_agency, status)


def start_mobility(session: Session, node: Node, mobility_id: str, on: date) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    _rule(mobility_rules.check_start, m.status)
    m.status, m.started_on, m.updated_at = "in_mission", on, now()
    set_volunteer_status_for(session, node, m, "deployed")
    _mobility_event(session, node, "mobility.started", m, on=on.isoformat())
    return m


def submit_report(
    session: Session, node: Node, mobility_id: str, kind: str, on: date, summary: str | None
) -> Mobility:
    """A follow-up report; its summary stays on this node (free text is never put in events)."""
    m = get_mobility(session, node, mobility_id)
    _rule(mobility_rules.check_report, m.status, kind)
    report = {"kind": kind, "on": on.isoformat(), "by": node.agency, "summary": summary}
    m.reports, m.updated_at = [*m.reports, report], now()
    data = {
        "mobility_id": m.id,
        "agreement_id": m.agreement_id,
        "kind": kind,
        "submitted_by": node.agency,
        "on": on.isoformat(),
    }
    emit(session, node, "mobility.report_submitted", m.id, [m.sending_agency, m.host_agency], data)
    return m


def complete_mobility(session: Session, node: Node, mobility_id: str, on: date) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    _rule(mobility_rules.check_complete, m.status, [r["kind"] for r in m.reports])
    if m.started_on and on < m.started_on:
        raise Invalid("Must not be before the start of the mission.", "on")
    m.status, m.ended_on, m.updated_at = "completed", on, now()
    set_volunteer_status_for(session, node, m, "completed")
    _mobility_event(session, node, "mobility.completed", m, on=on.isoformat())
    return m


def interrupt_mobility(
    session: Session, node: Node, mobility_id: str, on: date, reason: str
) -> Mobility:
    m = get_mobility(session, node, mobility_id)
    _rule(mobility_rules.check_interrupt, m.status)
    m.status, m.ended_on, m.updated_at = "interrupted", on, now()
    _mobility_event(session, node, "mobility.interrupted", m, on=on.isoformat(), reason=reason)
    return m
