"""Matches: this agency's decision on a proposal, and the volunteer status a match moves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters import repository
from services.registry.adapters.orm import Match, Volunteer
from services.registry.adapters.repository import get_for_agency
from services.registry.domain.errors import DomainError
from services.registry.handlers.common import Node, emit, emit_event, now, ruled
from services.registry.handlers.volunteers import volunteer_profile


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
