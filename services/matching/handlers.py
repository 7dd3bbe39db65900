"""Matching's reactions to events: keep the read model, track two-party confirmation, re-plan.

Re-matching policy:
- A change to a plan's inputs marks dirty only the agreements it can change: a volunteer, those
  in which its agency sends and whose host it would accept (and any it holds a proposal in); a
  placement, those in which its agency hosts; terms, their own agreement; a proposal cancelled,
  declined or expired, its agreement and the others its volunteer or place could now join. The
  planner re-plans only dirty agreements (each as a whole: the balance ties its two directions),
  except that a volunteer new to matching is a newcomer, placed without a re-plan when that is
  exact (newcomers.py).
- An event that changes nothing the planner reads marks nothing: the registry reflecting a
  proposal back (`volunteer.updated` with status `proposed`, or `available` again) re-plans nothing.
- A proposal accepted by at least one agency is pinned: re-planning keeps it, it never expires,
  and it counts against quotas, slots and the balance. Only the other agency's decline or a
  withdrawal, a closed placement or a terminated agreement cancels it.
- A proposal nobody answered yet is kept unless it became impossible (withdrawn volunteer, closed
  or filled placement, terms that exclude it, quota taken by confirmations) or the new plan's
  total score is higher by more than KEEP_BONUS (0.05) per proposal withdrawn (planner.py).
- A declined pair, and a pair whose proposal expired unanswered, are never proposed again.
- An acceptance that crosses a cancellation in flight (an agency accepted before the cancellation
  reached its node) is void: the proposal stays cancelled on both nodes with its reason, and the
  plan's new proposal is the one to answer. Counted in `vir_matching_crossed_decisions_total`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.dirty import HOLDING, held_in, mark_dirty, release
from shared.events import Event, new_event
from shared.events.payloads import (
    AgreementApproval,
    AgreementTerminated,
    AgreementTerms,
    MatchAccepted,
    MatchDeclined,
    Placement,
    PlacementClosed,
    VolunteerProfile,
    VolunteerWithdrawn,
)
from shared.events.typed import TypedEvent, typed
from shared.logging import get_logger
from shared.messaging.consumer import PermanentError
from shared.outbox import add_event

log = get_logger(__name__)
SOURCE = "/network/matching"
OPEN = ("proposed",)
CROSSED = Counter(
    "vir_matching_crossed_decisions_total",
    "Acceptances that arrived after matching had cancelled the proposal",
    ["decision"],
)


class NotYet(Exception):
    """An event arrived before the one it builds on: retried later by the consumer."""


def now() -> datetime:
    return datetime.now(UTC)


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


CANDIDATE_STATUSES = ("available", "proposed")  # statuses in which a volunteer may be proposed


def _volunteer_profile(row: VolunteerView) -> tuple[Any, ...]:
    """What the planner reads of a volunteer (a change elsewhere re-plans nothing)."""
    return (
        row.agency,
        row.status in CANDIDATE_STATUSES,
        sorted(row.skills),
        sorted(row.domains),
        row.languages,
        row.available_from,
        row.available_until,
        sorted(row.preferred_countries),
        row.registered_at.astimezone(UTC).replace(tzinfo=None)
        if row.registered_at and row.registered_at.tzinfo
        else row.registered_at,  # SQLite gives it back without its zone
    )


def volunteer_changed(
    session: Session, event: TypedEvent[VolunteerProfile], deps: None = None
) -> None:
    d = event.data
    existing = session.get(VolunteerView, d.volunteer_id)
    before = _volunteer_profile(existing) if existing is not None else None
    row = existing or VolunteerView(id=d.volunteer_id)
    row.agency, row.status = d.agency, d.status
    row.skills, row.domains = list(d.skills), list(d.domains)
    row.languages = [{"code": x.code, "level": x.level} for x in d.languages]
    row.education_level = d.education_level
    row.available_from, row.available_until = d.available_from, d.available_until
    row.preferred_countries = list(d.preferred_countries)
    row.registered_at = d.registered_at
    row.version = secrets.randbits(62)
    session.add(row)
    after = _volunteer_profile(row)
    if before == after:
        return  # e.g. the registry reflecting a proposal back: nothing the planner reads changed
    # A volunteer new to matching holds no proposal: matching proposes only volunteers it knows.
    held = (
        []
        if existing is None
        else list(
            session.scalars(
                select(Proposal).where(
                    Proposal.volunteer_id == row.id, Proposal.status.in_(HOLDING)
                )
            )
        )
    )
    if (
        before is not None
        and before[:1] + before[2:] == after[:1] + after[2:]
        and any(p.status == "confirmed" or "accepted" in p.decisions.values() for p in held)
    ):
        return  # only the status moved (matched, deployed) of a volunteer a plan already keeps
    for agreement_id in sorted({p.agreement_id for p in held}):
        mark_dirty(session, agreement_id=agreement_id)
    if row.status in CANDIDATE_STATUSES:
        mark_dirty(
            session,
            sending=row.agency,
            hosts=frozenset(row.preferred_countries),
            newcomer=row.id if existing is None else None,  # nothing else changed for it
        )


def volunteer_withdrawn(
    session: Session, event: TypedEvent[VolunteerWithdrawn], deps: None = None
) -> None:
    row = session.get(VolunteerView, event.data.volunteer_id)
    if row is None:
        raise NotYet(f"volunteer {event.data.volunteer_id} not known yet")
    row.status, row.version = "withdrawn", secrets.randbits(62)
    for proposal in session.scalars(
        select(Proposal).where(Proposal.volunteer_id == row.id, Proposal.status.in_(HOLDING))
    ):
        cancel(session, proposal, "volunteer_withdrawn")
        release(session, proposal)


def _placement_profile(row: PlacementView) -> tuple[Any, ...]:
    return (
        row.agency,
        row.domain,
        sorted(row.required_skills),
        row.required_languages,
        row.start,
        row.end,
        row.slots,
        row.status == "open",
    )


def placement_changed(session: Session, event: TypedEvent[Placement], deps: None = None) -> None:
    d = event.data
    existing = session.get(PlacementView, d.placement_id)
    before = _placement_profile(existing) if existing is not None else None
    row = existing or PlacementView(id=d.placement_id)
    row.agency, row.host_organisation_name = d.agency, d.host_organisation_name
    row.city, row.title, row.domain = d.city, d.title, d.domain
    row.required_skills = list(d.required_skills)
    row.required_languages = [{"code": x.code, "level": x.level} for x in d.required_languages]
    row.start, row.end = d.start, d.end
    row.slots, row.status = d.slots, d.status
    session.add(row)
    if before == _placement_profile(row):
        return
    for agreement_id in held_in(session, Proposal.placement_id, row.id):
        mark_dirty(session, agreement_id=agreement_id)
    if row.status == "open":
        mark_dirty(session, host=row.agency)


def placement_closed(
    session: Session, event: TypedEvent[PlacementClosed], deps: None = None
) -> None:
    row = session.get(PlacementView, event.data.placement_id)
    if row is None:
        raise NotYet(f"placement {event.data.placement_id} not known yet")
    row.status = "closed"
    for proposal in session.scalars(
        select(Proposal).where(Proposal.placement_id == row.id, Proposal.status == "proposed")
    ):
        cancel(session, proposal, "placement_closed")
        release(session, proposal)


def _status(agreement: AgreementView) -> str:
    if agreement.status == "terminated":
        return "terminated"
    if all(agreement.approvals.get(p) == agreement.terms_hash for p in agreement.parties):
        return "active"
    return "proposed" if agreement.revision == 1 else "amended"


def agreement_terms(session: Session, event: TypedEvent[AgreementTerms], deps: None = None) -> None:
    d = event.data
    row = session.get(AgreementView, d.agreement_id)
    if row is not None and row.revision >= d.revision:
        return
    if row is None:
        row = AgreementView(id=d.agreement_id, approvals={})
        session.add(row)
    if row.revision is None or d.revision > row.revision:
        author = (
            event.source.strip("/").split("/")[1] if event.source.startswith("/agencies/") else None
        )
        row.approvals = {author: d.terms_hash} if author else {}
    row.parties = list(d.parties)
    row.quotas = [
        {"sending": q.sending, "host": q.host, "volunteers": q.volunteers} for q in d.quotas
    ]
    row.start, row.end = d.start, d.end
    row.balance_tolerance = d.balance_tolerance
    row.fields_of_cooperation = list(d.fields_of_cooperation)
    row.terms_hash, row.revision = d.terms_hash, d.revision
    row.status = _status(row)
    mark_dirty(session, agreement_id=row.id)  # written even if set: see mark_dirty


def agreement_approved(
    session: Session, event: TypedEvent[AgreementApproval], deps: None = None
) -> None:
    d = event.data
    row = session.get(AgreementView, d.agreement_id)
    if row is None or d.revision > row.revision:
        raise NotYet(f"agreement {d.agreement_id} revision {d.revision} not known yet")
    if d.terms_hash != row.terms_hash or row.status == "terminated":
        return
    row.approvals = {**row.approvals, d.agency: d.terms_hash}
    row.status = _status(row)
    mark_dirty(session, agreement_id=row.id)  # written even if set: see mark_dirty


def agreement_activated(
    session: Session, event: TypedEvent[AgreementTerms], deps: None = None
) -> None:
    """Activation follows from the parties' approvals, applied one by one; one party's word
    that an agreement is active is not enough (it would let a party set the terms alone)."""
    d = event.data
    row = session.get(AgreementView, d.agreement_id)
    if row is None or d.revision > row.revision:
        raise NotYet(f"agreement {d.agreement_id} revision {d.revision} not known yet")
    if row.terms_hash == d.terms_hash and row.status != "active":
        log.info("agreement.activation_before_approvals", agreement_id=row.id)


def agreement_terminated(
    session: Session, event: TypedEvent[AgreementTerminated], deps: None = None
) -> None:
    row = session.get(AgreementView, event.data.agreement_id)
    if row is None:
        raise NotYet(f"agreement {event.data.agreement_id} not known yet")
    if event.data.agency not in row.parties:
        raise PermanentError(f"{event.data.agency} is not a party of agreement {row.id}")
    row.status, row.dirty = "terminated", False
    for proposal in session.scalars(
        select(Proposal).where(Proposal.agreement_id == row.id, Proposal.status == "proposed")
    ):
        cancel(session, proposal, "agreement_terminated")
        mark_dirty(session, sending=proposal.sending_agency, host=proposal.host_agency)


# -- two-party confirmation ----------------------------------------------------------------------


def match_decided(
    session: Session, event: TypedEvent[MatchAccepted | MatchDeclined], deps: None = None
) -> None:
    d = event.data
    proposal = session.get(Proposal, d.match_id)
    if proposal is None:
        raise NotYet(f"proposal {d.match_id} not known yet")
    agency = d.agency
    if agency not in (proposal.sending_agency, proposal.host_agency):
        log.warning("match.decision_from_outsider", match_id=proposal.id, agency=agency)
        return
    decision = event.type.removeprefix("match.")
    if proposal.status != "proposed":
        if proposal.status == "cancelled" and decision == "accepted":
            # The agency accepted before the cancellation reached it: void, its node shows the
            # cancellation and the reason (see the policy above).
            CROSSED.labels(decision).inc()
            log.info("match.decision_crossed_cancellation", match_id=proposal.id, agency=agency)
        return  # already confirmed, declined or cancelled: a late or repeated decision
    proposal.decisions = {**proposal.decisions, agency: decision}
    proposal.updated_at = now()
    if isinstance(d, MatchDeclined):
        proposal.status, proposal.reason = "declined", d.reason
        _exclude(session, proposal, f"declined by {agency}: {d.reason or ''}".strip())
        release(session, proposal)
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
        release(session, proposal)
        count += 1
    return count


# Every handler has the shape of every service's: (session, typed event, dependencies).
HANDLERS: dict[str, Callable[[Session, TypedEvent[Any], None], None]] = {
    "volunteer.registered": volunteer_changed,
    "volunteer.updated": volunteer_changed,
    "volunteer.withdrawn": volunteer_withdrawn,
    "placement.published": placement_changed,
    "placement.updated": placement_changed,
    "placement.closed": placement_closed,
    "agreement.proposed": agreement_terms,
    "agreement.amended": agreement_terms,
    "agreement.activated": agreement_activated,
    "agreement.approved": agreement_approved,
    "agreement.terminated": agreement_terminated,
    "match.accepted": match_decided,
    "match.declined": match_decided,
}


def handle(session: Session, event: Event, deps: None = None) -> None:
    """Apply one event to the read model (matching's handlers need no dependency)."""
    if event.source == SOURCE:
        return  # our own match.* events: already applied when emitted
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(session, typed(event), deps)
