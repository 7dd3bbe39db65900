"""Agreements: proposal, approval, amendment, termination, quota ledger and shared lessons."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import Agreement, Match, Mobility
from services.registry.adapters.repository import get_for_agency
from services.registry.domain import agreements as rules
from services.registry.domain.errors import DomainError
from services.registry.domain.messages import msg
from services.registry.handlers.common import Invalid, Node, emit, emit_event, new_id, now, ruled


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
        raise Invalid(msg("agreement.no_partner"), "partners")
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
