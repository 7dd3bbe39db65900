"""Matching's reactions to events: keep the read model, track two-party confirmation, re-plan.

Re-matching policy:
- Any change to a plan's inputs (volunteer, placement, agreement, decline, withdrawal, expiry)
  marks the agreements it touches dirty; the planner re-plans only those agreements.
- A proposal accepted by at least one agency is pinned: re-planning keeps it, it never expires,
  and it counts against quotas, slots and the balance. Only the other agency's decline or a
  withdrawal, a closed placement or a terminated agreement cancels it.
- Proposals nobody accepted yet are re-optimised: one that is no longer in the best plan is
  cancelled (`match.cancelled`, reason code "superseded").
- A declined pair, and a pair whose proposal expired unanswered, are never proposed again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from shared.events import Event, new_event
from shared.logging import get_logger
from shared.outbox import add_event

log = get_logger(__name__)
SOURCE = "/network/matching"
OPEN = ("proposed",)
HOLDING = ("proposed", "confirmed")  # statuses that hold a volunteer and a slot


class NotYet(Exception):
    """An event arrived before the one it builds on: retried later by the consumer."""


def now() -> datetime:
    return datetime.now(UTC)


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def mark_dirty(
    session: Session, agencies: set[str] | None = None, agreement_id: str | None = None
) -> None:
    """Mark the agreements touched by a change: by id, or every one a given agency is party to."""
    if agreement_id:
        session.execute(
            update(AgreementView).where(AgreementView.id == agreement_id).values(dirty=True)
        )
        return
    for agreement in session.scalars(
        select(AgreementView).where(AgreementView.status != "terminated")
    ):
        if agencies is None or agencies & set(agreement.parties):
            agreement.dirty = True


def emit(session: Session, type_: str, proposal: Proposal, **extra: Any) -> None:
    base = {
        "match_id": proposal.id,
        "agreement_id": proposal.agreement_id,
        "volunteer_id": proposal.volunteer_id,
        "placement_id": proposal.placement_id,
        "sending_agency": proposal.sending_agency,
        "host_agency": proposal.host_agency,
    }
    add_event(
        session,
        new_event(
            type_,
            source=SOURCE,
            subject=proposal.id,
            agencies=[proposal.sending_agency, proposal.host_agency],
            data={**base, **extra},
        ),
    )


def cancel(session: Session, proposal: Proposal, reason: str) -> None:
    proposal.status, proposal.reason, proposal.updated_at = "cancelled", reason, now()
    emit(session, "match.cancelled", proposal, reason=reason)


# -- read model ----------------------------------------------------------------------------------


def volunteer_changed(event: Event, session: Session) -> None:
    d = event.data
    row = session.get(VolunteerView, d["volunteer_id"]) or VolunteerView(id=d["volunteer_id"])
    row.agency, row.status = d["agency"], d["status"]
    row.skills, row.domains = list(d["skills"]), list(d["domains"])
    row.languages = [dict(x) for x in d["languages"]]
    row.education_level = d["education_level"]
    row.available_from, row.available_until = _d(d["available_from"]), _d(d["available_until"])
    row.preferred_countries = list(d["preferred_countries"])
    row.registered_at = datetime.fromisoformat(d["registered_at"])
    session.add(row)
    mark_dirty(session, {row.agency})


def volunteer_withdrawn(event: Event, session: Session) -> None:
    row = session.get(VolunteerView, event.data["volunteer_id"])
    if row is None:
        raise NotYet(f"volunteer {event.data['volunteer_id']} not known yet")
    row.status = "withdrawn"
    for proposal in session.scalars(
        select(Proposal).where(Proposal.volunteer_id == row.id, Proposal.status.in_(HOLDING))
    ):
        cancel(session, proposal, "volunteer_withdrawn")
        mark_dirty(session, agreement_id=proposal.agreement_id)


def placement_changed(event: Event, session: Session) -> None:
    d = event.data
    row = session.get(PlacementView, d["placement_id"]) or PlacementView(id=d["placement_id"])
    row.agency, row.host_organisation_name = d["agency"], d["host_organisation_name"]
    row.city, row.title, row.domain = d["city"], d["title"], d["domain"]
    row.required_skills = list(d["required_skills"])
    row.required_languages = [dict(x) for x in d["required_languages"]]
    row.start, row.end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
    row.slots, row.status = d["slots"], d["status"]
    session.add(row)
    mark_dirty(session, {row.agency})


def placement_closed(event: Event, session: Session) -> None:
    row = session.get(PlacementView, event.data["placement_id"])
    if row is None:
        raise NotYet(f"placement {event.data['placement_id']} not known yet")
    row.status = "closed"
    for proposal in session.scalars(
        select(Proposal).where(Proposal.placement_id == row.id, Proposal.status == "proposed")
    ):
        cancel(session, proposal, "placement_closed")
        mark_dirty(session, agreement_id=proposal.agreement_id)


def _status(agreement: AgreementView) -> str:
    if agreement.status == "terminated":
        return "terminated"
    if all(agreement.approvals.get(p) == agreement.terms_hash for p in agreement.parties):
        return "active"
    return "proposed" if agreement.revision == 1 else "amended"


def agreement_terms(event: Event, session: Session) -> None:
    d = event.data
    row = session.get(AgreementView, d["agreement_id"])
    if row is not None and row.revision >= d["revision"] and event.type != "agreement.activated":
        return
    if row is None:
        row = AgreementView(id=d["agreement_id"], approvals={})
        session.add(row)
    if row.revision is None or d["revision"] > row.revision:
        author = (
            event.source.strip("/").split("/")[1] if event.source.startswith("/agencies/") else None
        )
        row.approvals = {author: d["terms_hash"]} if author else {}
    row.parties, row.quotas = list(d["parties"]), [dict(q) for q in d["quotas"]]
    row.start, row.end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
    row.balance_tolerance = d["balance_tolerance"]
    row.fields_of_cooperation = list(d["fields_of_cooperation"])
    row.terms_hash, row.revision = d["terms_hash"], d["revision"]
    if event.type == "agreement.activated":
        row.approvals = dict.fromkeys(row.parties, row.terms_hash)
    row.status = _status(row)
    row.dirty = True


def agreement_approved(event: Event, session: Session) -> None:
    d = event.data
    row = session.get(AgreementView, d["agreement_id"])
    if row is None or d["revision"] > row.revision:
        raise NotYet(f"agreement {d['agreement_id']} revision {d['revision']} not known yet")
    if d["terms_hash"] != row.terms_hash or row.status == "terminated":
        return
    row.approvals = {**row.approvals, d["agency"]: d["terms_hash"]}
    row.status = _status(row)
    row.dirty = True


def agreement_terminated(event: Event, session: Session) -> None:
    row = session.get(AgreementView, event.data["agreement_id"])
    if row is None:
        raise NotYet(f"agreement {event.data['agreement_id']} not known yet")
    row.status, row.dirty = "terminated", False
    for proposal in session.scalars(
        select(Proposal).where(Proposal.agreement_id == row.id, Proposal.status == "proposed")
    ):
        cancel(session, proposal, "agreement_terminated")


# -- two-party confirmation ----------------------------------------------------------------------


def match_decided(event: Event, session: Session) -> None:
    d = event.data
    proposal = session.get(Proposal, d["match_id"])
    if proposal is None:
        raise NotYet(f"proposal {d['match_id']} not known yet")
    agency = d["agency"]
    if agency not in (proposal.sending_agency, proposal.host_agency):
        log.warning("match.decision_from_outsider", match_id=proposal.id, agency=agency)
        return
    if proposal.status != "proposed":
        return  # already confirmed, declined or cancelled: a late or repeated decision
    decision = event.type.removeprefix("match.")
    proposal.decisions = {**proposal.decisions, agency: decision}
    proposal.updated_at = now()
    if decision == "declined":
        proposal.status, proposal.reason = "declined", d.get("reason")
        _exclude(session, proposal, f"declined by {agency}: {d.get('reason') or ''}".strip())
        mark_dirty(session, agreement_id=proposal.agreement_id)
    elif all(
        proposal.decisions.get(a) == "accepted"
        for a in (proposal.sending_agency, proposal.host_agency)
    ):
        proposal.status = "confirmed"
        emit(session, "match.confirmed", proposal)


def _exclude(session: Session, proposal: Proposal, reason: str) -> None:
    if session.get(ExcludedPair, (proposal.volunteer_id, proposal.placement_id)) is None:
        session.add(
            ExcludedPair(
                volunteer_id=proposal.volunteer_id,
                placement_id=proposal.placement_id,
                reason=reason[:500],
            )
        )


def expire(session: Session, at: datetime) -> int:
    """Cancel proposals nobody accepted before they expired; their pairs are not proposed again."""
    count = 0
    for proposal in session.scalars(
        select(Proposal).where(Proposal.status == "proposed", Proposal.expires_at < at)
    ):
        if proposal.decisions:  # accepted by one side: kept until the other side decides
            continue
        cancel(session, proposal, "expired")
        _exclude(session, proposal, "expired without an answer")
        mark_dirty(session, agreement_id=proposal.agreement_id)
        count += 1
    return count


HANDLERS: dict[str, Callable[[Event, Session], None]] = {
    "volunteer.registered": volunteer_changed,
    "volunteer.updated": volunteer_changed,
    "volunteer.withdrawn": volunteer_withdrawn,
    "placement.published": placement_changed,
    "placement.updated": placement_changed,
    "placement.closed": placement_closed,
    "agreement.proposed": agreement_terms,
    "agreement.amended": agreement_terms,
    "agreement.activated": agreement_terms,
    "agreement.approved": agreement_approved,
    "agreement.terminated": agreement_terminated,
    "match.accepted": match_decided,
    "match.declined": match_decided,
}


def handle(event: Event, session: Session) -> None:
    if event.source == SOURCE:
        return  # our own match.* events: already applied when emitted
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(event, session)
