"""Peer events a registry applies to its copies: agreements, matches and mobilities concerning
its agency. Every change goes through the same domain aggregates as the API and the dashboard:
an event the rules refuse is dead-lettered (PermanentError) and changes nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import Agreement, Incident, Match, Mobility
from services.registry.domain import agreements as rules
from services.registry.domain.errors import DomainError, Pending
from services.registry.domain.matches import Match as MatchAggregate
from services.registry.domain.messages import msg
from services.registry.handlers.common import Node, now
from services.registry.handlers.matches import free_volunteer, move_volunteer
from services.registry.handlers.mobilities import open_mobility, set_volunteer_status_for
from shared.events import Event
from shared.events import payloads as p
from shared.events.typed import TypedEvent, typed
from shared.logging import get_logger
from shared.messaging.consumer import PermanentError

log = get_logger(__name__)


class NotYet(Exception):
    """An event arrived before the one it builds on (links are slow): retry it later."""


def handle(session: Session, event: Event, node: Node) -> None:
    """Apply one peer event; this node's own events (already applied) are skipped."""
    if event.source == node.source:
        return
    if node.agency not in event.agencies:
        raise PermanentError(f"{event.type} does not concern {node.agency}")
    handler = HANDLERS.get(event.type)
    if handler is None:
        return  # a type this node does not need
    try:
        handler(session, typed(event), node)
    except Pending as exc:
        raise NotYet(str(exc)) from exc
    except DomainError as exc:
        log.warning("registry.peer_event_refused", type=event.type, id=event.id, reason=str(exc))
        raise PermanentError(f"{event.type} refused by the rules: {exc}") from exc


def _author(event: TypedEvent[Any]) -> str:
    """The agency whose registry sent the event (source is /agencies/<code>/registry)."""
    parts = event.source.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "agencies" or parts[2] != "registry":
        raise PermanentError(
            f"{event.type} must come from an agency's registry, not {event.source}"
        )
    return parts[1]


def _in_own_name(event: TypedEvent[Any]) -> str:
    """An agency decides only in its own name: `data.agency` must be the sending registry's."""
    author = _author(event)
    agency = getattr(event.data, "agency", author)
    if agency != author:
        raise PermanentError(f"{author} may not decide in the name of {agency}")
    return author


# -- agreements ----------------------------------------------------------------------------------


def agreement_proposed(session: Session, event: TypedEvent[p.AgreementTerms], node: Node) -> None:
    proposer = _author(event)
    agreement = rules.Agreement.received(event.data, proposer)
    if node.agency not in agreement.parties:
        raise PermanentError(f"{node.agency} is not a party to {agreement.id}")
    if tuple(event.agencies) != tuple(agreement.parties):
        raise PermanentError("the event's agencies are not the agreement's parties")
    if session.get(Agreement, agreement.id) is not None:
        return
    at = now()
    row = Agreement(created_at=at, updated_at=at)
    repository.store_agreement(agreement, row)
    session.add(row)


def _known_agreement(session: Session, node: Node, agreement_id: str) -> Agreement:
    row = session.get(Agreement, agreement_id)
    if row is None:
        raise NotYet(f"agreement {agreement_id} not known yet")
    if node.agency not in row.parties:
        raise PermanentError(f"{node.agency} is not a party to {row.id}")
    return row


def _apply_agreement(
    session: Session,
    event: TypedEvent[Any],
    node: Node,
    change: Callable[[rules.Agreement, str], bool],
) -> None:
    row = _known_agreement(session, node, event.data.agreement_id)
    agreement = repository.agreement(row)
    if change(agreement, _in_own_name(event)):
        repository.store_agreement(agreement, row)
        row.updated_at = now()


def agreement_amended(session: Session, event: TypedEvent[p.AgreementTerms], node: Node) -> None:
    _apply_agreement(session, event, node, lambda a, by: a.apply_amendment(event.data, by))


def agreement_approved(
    session: Session, event: TypedEvent[p.AgreementApproval], node: Node
) -> None:
    d = event.data
    _apply_agreement(
        session, event, node, lambda a, by: a.apply_approval(by, d.terms_hash, d.revision)
    )


def lessons_shared(session: Session, event: TypedEvent[p.LessonsShared], node: Node) -> None:
    d = event.data
    author = _author(event)
    if d.agency != author:
        raise PermanentError(f"{author} may not write in the name of {d.agency}")
    row = session.get(Agreement, d.agreement_id)
    if row is None:
        raise NotYet(f"agreement {d.agreement_id} not known yet")
    if author not in row.parties or node.agency not in row.parties:
        raise PermanentError(f"{author} is not a party to {row.id}")
    mine = (row.lessons or {}).get(author)
    on = d.on.isoformat()  # the row keeps the wire form
    if mine and mine["on"] > on:
        return  # an older text arriving late
    row.lessons = {**(row.lessons or {}), author: {"text": d.text, "on": on}}
    row.updated_at = now()


def agreement_activated(session: Session, event: TypedEvent[p.AgreementTerms], node: Node) -> None:
    def confirm(agreement: rules.Agreement, by: str) -> bool:
        if by not in agreement.parties:
            raise rules.NotAParty(msg("agreement.not_a_party", agency=by))
        agreement.confirm_activation(event.data)
        if agreement.status != rules.AgreementStatus.ACTIVE:
            log.info("agreement.activation_before_approvals", agreement_id=agreement.id)
        return False  # activation follows from approvals this node applies itself

    _apply_agreement(session, event, node, confirm)


def agreement_terminated(
    session: Session, event: TypedEvent[p.AgreementTerminated], node: Node
) -> None:
    d = event.data
    _apply_agreement(
        session, event, node, lambda a, by: a.apply_termination(by, d.reason, d.effective)
    )


# -- matches -------------------------------------------------------------------------------------


def match_proposed(session: Session, event: TypedEvent[p.MatchProposed], node: Node) -> None:
    data = event.data
    match = MatchAggregate.proposed(data, node.agency)
    if tuple(event.agencies) != match.parties:
        raise PermanentError("the event's agencies are not the match's sending and host agencies")
    if session.get(Match, match.id) is not None:
        return
    at = now()
    session.add(
        Match(
            id=match.id,
            agreement_id=match.agreement_id,
            volunteer_id=match.volunteer_id,
            placement_id=match.placement_id,
            sending_agency=match.sending_agency,
            host_agency=match.host_agency,
            score=data.score,
            criteria=[dataclasses.asdict(c) for c in data.criteria],
            placement=dataclasses.asdict(data.placement) if data.placement else None,
            decisions={},
            status=match.status.value,
            expires_at=data.expires_at,
            created_at=at,
            updated_at=at,
        )
    )
    move_volunteer(session, node, match.volunteer_id, match.sending_agency, "proposed")


def _match_row(session: Session, event: TypedEvent[Any]) -> Match:
    # Locked: this node's own decision (API, dashboard) and a peer's may land at once; both
    # rewrite the decisions, so one must wait for the other or a decision is lost.
    row = session.get(Match, event.data.match_id, with_for_update=True)
    if row is None:
        raise PermanentError(f"match {event.data.match_id} was never proposed to this node")
    for key in ("agreement_id", "volunteer_id", "placement_id", "sending_agency", "host_agency"):
        if hasattr(event.data, key) and getattr(event.data, key) != getattr(row, key):
            raise PermanentError(f"{key} differs from the proposal this node received")
    return row


def match_decided(
    session: Session, event: TypedEvent[p.MatchAccepted | p.MatchDeclined], node: Node
) -> None:
    row = session.get(Match, event.data.match_id, with_for_update=True)
    if row is None:
        # The other agency decides only on a proposal matching sent to both nodes; its decision
        # may overtake the proposal on a slow link.
        raise NotYet(f"match {event.data.match_id} not known yet")
    row = _match_row(session, event)
    agency = _in_own_name(event)
    if agency == node.agency:
        raise PermanentError(f"a peer may not decide in {node.agency}'s name")
    match = repository.match(row)
    accept = event.type == "match.accepted"
    reason = event.data.reason if isinstance(event.data, p.MatchDeclined) else None
    if not match.apply_decision(agency, accept, reason):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    if not accept and match.status.value == "declined":
        free_volunteer(session, node, row)


def match_confirmed(session: Session, event: TypedEvent[p.MatchState], node: Node) -> None:
    row = _match_row(session, event)
    match = repository.match(row)
    if not match.confirm(node.agency):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    open_mobility(session, row, node)
    move_volunteer(session, node, row.volunteer_id, row.sending_agency, "matched")


def match_cancelled(session: Session, event: TypedEvent[p.MatchCancelled], node: Node) -> None:
    if session.get(Match, event.data.match_id) is None:
        # Its proposal may be waiting for a retry (a fault delayed it on this node) while the
        # cancellation, sent later, arrived first: retry rather than lose the pair.
        raise NotYet(f"match {event.data.match_id} not known yet")
    row = _match_row(session, event)
    match = repository.match(row)
    if not match.cancel(event.data.reason):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    free_volunteer(session, node, row)


# -- mobilities ----------------------------------------------------------------------------------


MobilityPayload = (
    p.MobilityHosted
    | p.ReviewSubmitted
    | p.MobilityChecklist
    | p.MobilityReport
    | p.CheckInSubmitted
    | p.MobilityStarted
    | p.Mobility
    | p.MobilityInterrupted
)


def _apply_mobility(session: Session, event: TypedEvent[MobilityPayload], node: Node) -> None:
    """The other agency recorded a step of the mission: apply it to this node's copy."""
    d = event.data
    # Locked like the match: this node's own step and the peer's may land at once.
    row = session.get(Mobility, d.mobility_id, with_for_update=True)
    if row is None:
        raise NotYet(f"mobility {d.mobility_id} not known yet")
    author = _author(event)
    mobility = repository.mobility(row)
    mobility.check_party(author)
    mobility.check_same(d)
    if isinstance(d, p.MobilityHosted):
        if author != row.host_agency:
            raise PermanentError(f"{author} does not host this mobility")
        if row.placement is None:
            row.placement = {
                "title": d.title,
                "city": d.city,
                "host_organisation": d.host_organisation,
                "start": d.start.isoformat(),  # the row keeps the wire form
                "end": d.end.isoformat(),
            }
        return
    if isinstance(d, p.ReviewSubmitted):
        if d.submitted_by != author:
            raise PermanentError(f"{author} may not answer in the name of {d.submitted_by}")
        scores = {"overall": d.overall, "objectives": d.objectives, "support": d.support}
        changed = mobility.apply_review(d.respondent, author, d.on, scores)
    elif isinstance(d, p.MobilityChecklist):
        items = [dataclasses.asdict(item) for item in d.items]
        changed = mobility.apply_checklist(author, d.version, items)
    elif isinstance(d, p.MobilityReport):
        if d.submitted_by != author:
            raise PermanentError(f"{author} may not report in the name of {d.submitted_by}")
        changed = mobility.apply_report(d.kind, d.on, author)
    elif isinstance(d, p.CheckInSubmitted):
        if d.submitted_by != author:
            raise PermanentError(f"{author} may not answer in the name of {d.submitted_by}")
        answers = {
            "wellbeing": d.wellbeing,
            "integration": d.integration,
            "workload": d.workload,
            "issues": d.issues,
        }
        changed = mobility.apply_check_in(d.check_in, d.respondent, author, d.on, answers)
    elif isinstance(d, p.MobilityStarted):
        changed = mobility.apply_start(d.on, author, d.planned_end)
    elif isinstance(d, p.MobilityInterrupted):
        changed = mobility.apply_interruption(d.on, d.reason)
    else:  # mobility.completed
        changed = mobility.apply_completion(d.on)
    if not changed:
        return
    repository.store_mobility(mobility, row)
    row.updated_at = now()
    if event.type == "mobility.started":
        set_volunteer_status_for(session, node, row, "deployed")
    elif event.type == "mobility.completed":
        set_volunteer_status_for(session, node, row, "completed")


def _apply_incident(session: Session, event: TypedEvent[p.IncidentState], node: Node) -> None:
    """The other agency reported or moved on an incident: this node's copy follows."""
    from services.registry.domain.incidents import Incident as IncidentAggregate

    d = event.data
    author = _author(event)
    mobility_row = session.get(Mobility, d.mobility_id, with_for_update=True)
    if mobility_row is None:
        raise NotYet(f"mobility {d.mobility_id} not known yet")
    mobility = repository.mobility(mobility_row)
    mobility.check_party(author)
    mobility.check_same(d)
    row = session.get(Incident, d.incident_id)
    if event.type == "mobility.incident_reported":
        if row is not None:
            return  # a redelivery
        if d.reported_by != author:
            raise PermanentError(f"{author} may not report in the name of {d.reported_by}")
        incident, _ = IncidentAggregate.report(
            d.incident_id, mobility, author, d.on, d.severity, d.category, d.owner
        )
        row = Incident(updated_at=now())
        repository.store_incident(incident, row)
        session.add(row)
        return
    if row is None:
        raise NotYet(f"incident {d.incident_id} not known yet")
    incident = repository.incident(row)
    if not incident.apply_update(author, d):
        return
    repository.store_incident(incident, row)
    row.updated_at = now()


# Every handler has the shape of every service's: (session, typed event, dependencies).
HANDLERS: dict[str, Callable[[Session, TypedEvent[Any], Node], None]] = {
    "mobility.incident_reported": _apply_incident,
    "mobility.incident_updated": _apply_incident,
    "mobility.checklist_updated": _apply_mobility,
    "mobility.hosted": _apply_mobility,
    "mobility.review_submitted": _apply_mobility,
    "mobility.check_in_submitted": _apply_mobility,
    "mobility.started": _apply_mobility,
    "mobility.completed": _apply_mobility,
    "mobility.interrupted": _apply_mobility,
    "mobility.report_submitted": _apply_mobility,
    "agreement.proposed": agreement_proposed,
    "agreement.amended": agreement_amended,
    "agreement.approved": agreement_approved,
    "agreement.lessons_shared": lessons_shared,
    "agreement.activated": agreement_activated,
    "agreement.terminated": agreement_terminated,
    "match.proposed": match_proposed,
    "match.accepted": match_decided,
    "match.declined": match_decided,
    "match.confirmed": match_confirmed,
    "match.cancelled": match_cancelled,
}
