"""Peer events a registry applies to its copies: agreements, matches and mobilities concerning
its agency. Every change goes through the same domain aggregates as the API and the dashboard:
an event the rules refuse is dead-lettered (PermanentError) and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import Agreement, Incident, Match, Mobility
from services.registry.domain import agreements as rules
from services.registry.domain.errors import DomainError, Pending
from services.registry.domain.matches import Match as MatchAggregate
from services.registry.handlers import (
    Node,
    free_volunteer,
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
        return  # a type this node does not need
    try:
        handler(event, session, node)
    except Pending as exc:
        raise NotYet(str(exc)) from exc
    except DomainError as exc:
        log.warning("registry.peer_event_refused", type=event.type, id=event.id, reason=str(exc))
        raise PermanentError(f"{event.type} refused by the rules: {exc}") from exc


def _date(value: str) -> date:
    return date.fromisoformat(value)


def _author(event: Event) -> str:
    """The agency whose registry sent the event (source is /agencies/<code>/registry)."""
    parts = event.source.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "agencies" or parts[2] != "registry":
        raise PermanentError(
            f"{event.type} must come from an agency's registry, not {event.source}"
        )
    return parts[1]


def _in_own_name(event: Event) -> str:
    """An agency decides only in its own name: `data.agency` must be the sending registry's."""
    author = _author(event)
    if event.data.get("agency", author) != author:
        raise PermanentError(f"{author} may not decide in the name of {event.data['agency']}")
    return author


# -- agreements ----------------------------------------------------------------------------------


def agreement_proposed(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    proposer = _author(event)
    agreement = rules.Agreement.received(data, proposer)
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


def _known_agreement(session: Session, node: Node, data: dict) -> Agreement:
    row = session.get(Agreement, data["agreement_id"])
    if row is None:
        raise NotYet(f"agreement {data['agreement_id']} not known yet")
    if node.agency not in row.parties:
        raise PermanentError(f"{node.agency} is not a party to {row.id}")
    return row


def _apply_agreement(
    event: Event, session: Session, node: Node, change: Callable[[rules.Agreement, str], bool]
) -> None:
    data = dict(event.data)
    row = _known_agreement(session, node, data)
    agreement = repository.agreement(row)
    if change(agreement, _in_own_name(event)):
        repository.store_agreement(agreement, row)
        row.updated_at = now()


def agreement_amended(event: Event, session: Session, node: Node) -> None:
    _apply_agreement(event, session, node, lambda a, by: a.apply_amendment(event.data, by))


def agreement_approved(event: Event, session: Session, node: Node) -> None:
    d = event.data
    _apply_agreement(
        event,
        session,
        node,
        lambda a, by: a.apply_approval(by, d["terms_hash"], d["revision"]),
    )


def lessons_shared(event: Event, session: Session, node: Node) -> None:
    d = event.data
    author = _author(event)
    if d["agency"] != author:
        raise PermanentError(f"{author} may not write in the name of {d['agency']}")
    row = session.get(Agreement, d["agreement_id"])
    if row is None:
        raise NotYet(f"agreement {d['agreement_id']} not known yet")
    if author not in row.parties or node.agency not in row.parties:
        raise PermanentError(f"{author} is not a party to {row.id}")
    mine = (row.lessons or {}).get(author)
    if mine and mine["on"] > d["on"]:
        return  # an older text arriving late
    row.lessons = {**(row.lessons or {}), author: {"text": d["text"], "on": d["on"]}}
    row.updated_at = now()


def agreement_activated(event: Event, session: Session, node: Node) -> None:
    def confirm(agreement: rules.Agreement, by: str) -> bool:
        if by not in agreement.parties:
            raise rules.NotAParty(f"{by} is not a party to this agreement.")
        agreement.confirm_activation(event.data)
        if agreement.status != rules.AgreementStatus.ACTIVE:
            log.info("agreement.activation_before_approvals", agreement_id=agreement.id)
        return False  # activation follows from approvals this node applies itself

    _apply_agreement(event, session, node, confirm)


def agreement_terminated(event: Event, session: Session, node: Node) -> None:
    d = event.data
    _apply_agreement(
        event,
        session,
        node,
        lambda a, by: a.apply_termination(by, d["reason"], _date(d["effective"])),
    )


# -- matches -------------------------------------------------------------------------------------


def match_proposed(event: Event, session: Session, node: Node) -> None:
    data = dict(event.data)
    match = MatchAggregate.proposed(data, node.agency)
    if tuple(event.agencies) != match.parties:
        raise PermanentError("the event's agencies are not the match's sending and host agencies")
    if session.get(Match, match.id) is not None:
        return
    at = now()
    expires = data.get("expires_at")
    session.add(
        Match(
            id=match.id,
            agreement_id=match.agreement_id,
            volunteer_id=match.volunteer_id,
            placement_id=match.placement_id,
            sending_agency=match.sending_agency,
            host_agency=match.host_agency,
            score=data["score"],
            criteria=list(data.get("criteria", [])),
            placement=dict(data["placement"]) if data.get("placement") else None,
            decisions={},
            status=match.status.value,
            expires_at=datetime.fromisoformat(expires) if expires else None,
            created_at=at,
            updated_at=at,
        )
    )
    move_volunteer(session, node, match.volunteer_id, match.sending_agency, "proposed")


def _match_row(session: Session, event: Event) -> Match:
    # Locked: this node's own decision (API, dashboard) and a peer's may land at once; both
    # rewrite the decisions, so one must wait for the other or a decision is lost.
    row = session.get(Match, event.data["match_id"], with_for_update=True)
    if row is None:
        raise PermanentError(f"match {event.data['match_id']} was never proposed to this node")
    for key in ("agreement_id", "volunteer_id", "placement_id", "sending_agency", "host_agency"):
        if key in event.data and event.data[key] != getattr(row, key):
            raise PermanentError(f"{key} differs from the proposal this node received")
    return row


def match_decided(event: Event, session: Session, node: Node) -> None:
    row = session.get(Match, event.data["match_id"], with_for_update=True)
    if row is None:
        # The other agency decides only on a proposal matching sent to both nodes; its decision
        # may overtake the proposal on a slow link.
        raise NotYet(f"match {event.data['match_id']} not known yet")
    row = _match_row(session, event)
    agency = _in_own_name(event)
    if agency == node.agency:
        raise PermanentError(f"a peer may not decide in {node.agency}'s name")
    match = repository.match(row)
    accept = event.type == "match.accepted"
    if not match.apply_decision(agency, accept, event.data.get("reason")):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    if not accept and match.status.value == "declined":
        free_volunteer(session, node, row)


def match_confirmed(event: Event, session: Session, node: Node) -> None:
    row = _match_row(session, event)
    match = repository.match(row)
    if not match.confirm(node.agency):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    open_mobility(session, row, node)
    move_volunteer(session, node, row.volunteer_id, row.sending_agency, "matched")


def match_cancelled(event: Event, session: Session, node: Node) -> None:
    row = _match_row(session, event)
    match = repository.match(row)
    if not match.cancel(event.data["reason"]):
        return
    repository.store_match(match, row)
    row.updated_at = now()
    free_volunteer(session, node, row)


# -- mobilities ----------------------------------------------------------------------------------


def _apply_mobility(event: Event, session: Session, node: Node) -> None:
    """The other agency recorded a step of the mission: apply it to this node's copy."""
    # Locked like the match: this node's own step and the peer's may land at once.
    row = session.get(Mobility, event.data["mobility_id"], with_for_update=True)
    if row is None:
        raise NotYet(f"mobility {event.data['mobility_id']} not known yet")
    author = _author(event)
    mobility = repository.mobility(row)
    mobility.check_party(author)
    mobility.check_same(dict(event.data))
    d = event.data
    if event.type == "mobility.hosted":
        if author != row.host_agency:
            raise PermanentError(f"{author} does not host this mobility")
        if row.placement is None:
            keys = ("title", "city", "host_organisation", "start", "end")
            row.placement = {k: d[k] for k in keys}
        return
    if event.type == "mobility.review_submitted":
        if d["submitted_by"] != author:
            raise PermanentError(f"{author} may not answer in the name of {d['submitted_by']}")
        scores = {k: d[k] for k in ("overall", "objectives", "support")}
        changed = mobility.apply_review(d["respondent"], author, _date(d["on"]), scores)
    elif event.type == "mobility.checklist_updated":
        changed = mobility.apply_checklist(author, d["version"], list(d["items"]))
    elif event.type == "mobility.report_submitted":
        if d["submitted_by"] != author:
            raise PermanentError(f"{author} may not report in the name of {d['submitted_by']}")
        changed = mobility.apply_report(d["kind"], _date(d["on"]), author)
    elif event.type == "mobility.check_in_submitted":
        if d["submitted_by"] != author:
            raise PermanentError(f"{author} may not answer in the name of {d['submitted_by']}")
        answers = {k: d[k] for k in ("wellbeing", "integration", "workload", "issues")}
        changed = mobility.apply_check_in(
            d["check_in"], d["respondent"], author, _date(d["on"]), answers
        )
    elif event.type == "mobility.started":
        end = d.get("planned_end")
        changed = mobility.apply_start(_date(d["on"]), author, _date(end) if end else None)
    elif event.type == "mobility.completed":
        changed = mobility.apply_completion(_date(d["on"]))
    else:
        changed = mobility.apply_interruption(_date(d["on"]), d["reason"])
    if not changed:
        return
    repository.store_mobility(mobility, row)
    row.updated_at = now()
    if event.type == "mobility.started":
        set_volunteer_status_for(session, node, row, "deployed")
    elif event.type == "mobility.completed":
        set_volunteer_status_for(session, node, row, "completed")


def _apply_incident(event: Event, session: Session, node: Node) -> None:
    """The other agency reported or moved on an incident: this node's copy follows."""
    from services.registry.domain.incidents import Incident as IncidentAggregate

    d = dict(event.data)
    author = _author(event)
    mobility_row = session.get(Mobility, d["mobility_id"], with_for_update=True)
    if mobility_row is None:
        raise NotYet(f"mobility {d['mobility_id']} not known yet")
    mobility = repository.mobility(mobility_row)
    mobility.check_party(author)
    mobility.check_same(d)
    row = session.get(Incident, d["incident_id"])
    if event.type == "mobility.incident_reported":
        if row is not None:
            return  # a redelivery
        if d["reported_by"] != author:
            raise PermanentError(f"{author} may not report in the name of {d['reported_by']}")
        incident, _ = IncidentAggregate.report(
            d["incident_id"],
            mobility,
            author,
            _date(d["on"]),
            d["severity"],
            d["category"],
            d["owner"],
        )
        row = Incident(updated_at=now())
        repository.store_incident(incident, row)
        session.add(row)
        return
    if row is None:
        raise NotYet(f"incident {d['incident_id']} not known yet")
    incident = repository.incident(row)
    if not incident.apply_update(author, d):
        return
    repository.store_incident(incident, row)
    row.updated_at = now()


HANDLERS: dict[str, Callable[[Event, Session, Node], None]] = {
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
