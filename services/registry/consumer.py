"""Peer events a registry applies to its copies: agreements and matches concerning its agency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import Session

from services.registry.adapters.orm import Agreement, Match, Mobility
from services.registry.domain import agreements as rules
from services.registry.handlers import (
    Node,
    move_volunteer,
    now,
    open_mobility,
    set_volunteer_status_for,
)
from shared.events import Event
from shared.logging import get_logger
from shared.messaging.consumer import PermanentError

log = get_logger(__name__)


class NotYet(Exception):
    """An event arrived before the one it builds on (links are slow): retry it later."""


def handle(event: Event, session: Session, node: Node) -> None:
    """Apply one peer event; this node's own events (already applied) are skipped."""
    if event.source == node.source:
        return
    if node.agency not in event.agencies:
        raise PermanentError(f"{event.type} does not concern {node.agency}")
    handler = HANDLERS.get(event.type)
    if handler is None:
        return  # a type this node does not need (e.g. match.proposed for a later read model)
    handler(event, session, node)


def _date(value: str) -> date:
    return date.fromisoformat(value)


def _apply_terms(agreement: Agreement, data: dict) -> None:
    agreement.start, agreement.end = _date(data["start"]), _date(data["end"])
    agreement.quotas = [dict(q) for q in data["quotas"]]
    agreement.balance_tolerance = data["balance_tolerance"]
    agreement.fields_of_cooperation = list(data["fields_of_cooperation"])
    agreement.revision = data["revision"]
    agreement.terms_hash = data["terms_hash"]


def _check_hash(data: dict) -> None:
    terms = rules.Terms(
        agreement_id=data["agreement_id"],
        parties=tuple(data["parties"]),
        start=_date(data["start"]),
        end=_date(data["end"]),
        quotas=tuple(rules.Quota(q["sending"], q["host"], q["volunteers"]) for q in data["quotas"]),
        balance_tolerance=data["balance_tolerance"],
        fields_of_cooperation=tuple(data["fields_of_cooperation"]),
    )
    if terms.hash() != data["terms_hash"]:
        raise PermanentError(
            "terms_hash does not match the terms: refusing a tampered or broken copy"
        )


def agreement_proposed(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    _check_hash(data)
    proposer = event.agencies[0]
    if session.get(Agreement, data["agreement_id"]) is not None:
        return
    at = now()
    agreement = Agreement(
        id=data["agreement_id"],
        parties=list(data["parties"]),
        proposer=proposer,
        approvals={proposer: data["terms_hash"]},
        status="proposed",
        created_at=at,
        updated_at=at,
    )
    _apply_terms(agreement, data)
    session.add(agreement)


def agreement_amended(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    _check_hash(data)
    agreement = session.get(Agreement, data["agreement_id"])
    if agreement is None:
        raise NotYet(f"agreement {data['agreement_id']} not known yet")
    if data["revision"] <= agreement.revision:
        return  # an older amendment arriving late
    author = _author(event)
    _apply_terms(agreement, data)
    agreement.approvals = {author: data["terms_hash"]}
    agreement.status = rules.status_of(
        agreement.parties, agreement.approvals, agreement.terms_hash, agreement.revision
    )
    agreement.updated_at = now()


def _author(event: Event) -> str:
    # source is /agencies/<code>/registry
    parts = event.source.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "agencies":
        raise PermanentError(f"unexpected source {event.source}")
    return parts[1]


def agreement_approved(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    agreement = session.get(Agreement, data["agreement_id"])
    if agreement is None or data["revision"] > agreement.revision:
        raise NotYet(f"agreement {data['agreement_id']} revision {data['revision']} not known yet")
    if data["agency"] != _author(event):
        raise PermanentError("an agency may only approve for itself")
    if data["terms_hash"] != agreement.terms_hash or agreement.status == "terminated":
        log.info(
            "agreement.stale_approval_ignored", agreement_id=agreement.id, agency=data["agency"]
        )
        return
    agreement.approvals = {**agreement.approvals, data["agency"]: data["terms_hash"]}
    agreement.status = rules.status_of(
        agreement.parties, agreement.approvals, agreement.terms_hash, agreement.revision
    )
    agreement.updated_at = now()


def agreement_activated(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    agreement = session.get(Agreement, data["agreement_id"])
    if agreement is None or data["revision"] > agreement.revision:
        raise NotYet(f"agreement {data['agreement_id']} not known yet")
    # Activation follows from approvals this node applies itself; the event only confirms it.
    if agreement.terms_hash == data["terms_hash"] and agreement.status != "active":
        log.info("agreement.activation_before_approvals", agreement_id=agreement.id)


def agreement_terminated(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    agreement = session.get(Agreement, data["agreement_id"])
    if agreement is None:
        raise NotYet(f"agreement {data['agreement_id']} not known yet")
    if agreement.status == "terminated":
        return
    agreement.status = "terminated"
    agreement.terminated_by = data["agency"]
    agreement.termination_reason = data["reason"]
    agreement.terminated_on = _date(data["effective"])
    agreement.updated_at = now()


def match_proposed(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    if session.get(Match, data["match_id"]) is not None:
        return
    at = now()
    expires = data.get("expires_at")
    session.add(
        Match(
            id=data["match_id"],
            agreement_id=data["agreement_id"],
            volunteer_id=data["volunteer_id"],
            placement_id=data["placement_id"],
            sending_agency=data["sending_agency"],
            host_agency=data["host_agency"],
            score=data["score"],
            criteria=list(data.get("criteria", [])),
            decisions={},
            status="proposed",
            expires_at=datetime.fromisoformat(expires) if expires else None,
            created_at=at,
            updated_at=at,
        )
    )
    _set_volunteer_status(session, node, data, "proposed", only_from=("available", "registered"))


def match_decided(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    match = session.get(Match, data["match_id"])
    if match is None:
        raise NotYet(f"match {data['match_id']} not known yet")
    agency = data["agency"]
    if agency != _author(event):
        raise PermanentError("an agency may only decide for itself")
    decision = event.type.removeprefix("match.")
    match.decisions = {
        **match.decisions,
        agency: {"decision": decision, "reason": data.get("reason")},
    }
    if decision == "declined" and match.status == "proposed":
        match.status, match.status_reason = "declined", data.get("reason")
        ids = {"sending_agency": match.sending_agency, "volunteer_id": match.volunteer_id}
        _set_volunteer_status(session, node, ids, "available", only_from=("proposed",))
    match.updated_at = now()


def match_settled(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    match = session.get(Match, data["match_id"])
    if match is None:
        raise NotYet(f"match {data['match_id']} not known yet")
    status = "confirmed" if event.type == "match.confirmed" else "cancelled"
    if match.status == status:
        return
    match.status, match.status_reason, match.updated_at = status, data.get("reason"), now()
    if status == "confirmed":
        open_mobility(session, match)
        _set_volunteer_status(session, node, data, "matched", only_from=("proposed", "available"))
    else:
        _set_volunteer_status(session, node, data, "available", only_from=("proposed", "matched"))


def _set_volunteer_status(
    session: Session, node: Node, data: dict, status: str, only_from: tuple[str, ...]
) -> None:
    sending = data.get("sending_agency", node.agency)
    move_volunteer(session, node, data["volunteer_id"], sending, status, only_from)


def _peer_mobility(event: Event, session: Session) -> Mobility:
    mobility = session.get(Mobility, event.data["mobility_id"])
    if mobility is None:
        raise NotYet(f"mobility {event.data['mobility_id']} not known yet")
    return mobility


def mobility_changed(event: Event, session: Session, node: Node) -> None:
    """The other agency recorded a step of the mission: apply it to this node's copy."""
    m = _peer_mobility(event, session)
    on = _date(event.data["on"])
    if event.type == "mobility.started" and m.status == "pre_departure":
        m.status, m.started_on = "in_mission", on
        set_volunteer_status_for(session, node, m, "deployed")
    elif event.type == "mobility.completed" and m.status != "completed":
        m.status, m.ended_on = "completed", on
        set_volunteer_status_for(session, node, m, "completed")
    elif event.type == "mobility.interrupted" and m.status not in ("completed", "interrupted"):
        m.status, m.ended_on = "interrupted", on
    m.updated_at = now()


def mobility_report(event: Event, session: Session, node: Node) -> None:
    m = _peer_mobility(event, session)
    d = event.data
    key = (d["kind"], d["on"], d["submitted_by"])
    if not any((r["kind"], r["on"], r["by"]) == key for r in m.reports):
        report = {"kind": d["kind"], "on": d["on"], "by": d["submitted_by"], "summary": None}
        m.reports, m.updated_at = [*m.reports, report], now()


HANDLERS: dict[str, Callable[[Event, Session, Node], None]] = {
    "mobility.started": mobility_changed,
    "mobility.completed": mobility_changed,
    "mobility.interrupted": mobility_changed,
    "mobility.report_submitted": mobility_report,
    "agreement.proposed": agreement_proposed,
    "agreement.amended": agreement_amended,
    "agreement.approved": agreement_approved,
    "agreement.activated": agreement_activated,
    "agreement.terminated": agreement_terminated,
    "match.proposed": match_proposed,
    "match.accepted": match_decided,
    "match.declined": match_decided,
    "match.confirmed": match_settled,
    "match.cancelled": match_settled,
}
