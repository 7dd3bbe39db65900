"""Which agreements a change of the planner's inputs marks for re-planning (the re-matching
policy is in handlers.py's docstring), and how the planner claims them: the flag, and what set it
(newcomers only, or a change calling for a whole re-plan)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.matching.adapters.orm import AgreementView, Proposal

HOLDING = ("proposed", "confirmed")  # statuses that hold a volunteer and a slot

# Built once (a statement built at every event cost more Python than its round trip).
_ACTIVE = select(AgreementView.id, AgreementView.quotas).where(
    AgreementView.status == "active", AgreementView.id != bindparam("exclude")
)
_LISTED = select(AgreementView.id, AgreementView.newcomers).where(
    AgreementView.id.in_(bindparam("ids", expanding=True))
)
_NEWCOMERS = {False: _LISTED, True: _LISTED.with_for_update()}  # locked on PostgreSQL
_AGREEMENTS: Table = AgreementView.__table__  # type: ignore[assignment]
_THIS = _AGREEMENTS.c.id == bindparam("agreement")
_ADD_NEWCOMERS = update(_AGREEMENTS).where(_THIS).values(dirty=True, newcomers=bindparam("listed"))
_WHOLE = update(_AGREEMENTS).where(_THIS).values(dirty=True, replan_whole=True)
_FLAGS = select(_AGREEMENTS.c.replan_whole, _AGREEMENTS.c.newcomers).where(
    _THIS, _AGREEMENTS.c.dirty.is_(True)
)
_FLAGS_LOCKED = {False: _FLAGS, True: _FLAGS.with_for_update()}  # locked on PostgreSQL
_TOUCH = update(_AGREEMENTS).where(_THIS).values(dirty=_AGREEMENTS.c.dirty)
_CLEAR = (
    update(_AGREEMENTS)
    .where(_THIS)
    .values(dirty=False, replan_whole=False, newcomers=bindparam("none"))
)


def mark_dirty(
    session: Session,
    agreement_id: str | None = None,
    sending: str | None = None,
    host: str | None = None,
    hosts: frozenset[str] | None = None,
    exclude: str | None = None,
    newcomer: str | None = None,
) -> None:
    """Mark dirty one agreement by id, or the active ones (but `exclude`) with a quota from
    `sending` (to one of `hosts` when given) or to `host`: to be re-planned as a whole, or, with
    `newcomer` (a volunteer new to matching, and nothing else changed), to place that volunteer.

    The flag is written even when it is already set: the write locks the agreement's row until
    the caller commits, and the planner clears the flag through that lock before it reads the
    problem. Skipping an agreement that looks dirty already would let the planner clear the flag
    and read the problem before this change is committed: the change would never be planned."""
    if agreement_id:
        ids = [agreement_id]
    else:
        ids = [
            id_
            for id_, quotas in session.execute(_ACTIVE, {"exclude": exclude or ""})
            if any(
                (sending and q["sending"] == sending and (not hosts or q["host"] in hosts))
                or (host and q["host"] == host)
                for q in quotas
            )
        ]
    if not ids:
        return
    if newcomer:
        # The list is read, then written: the rows are locked first (see above).
        postgres = session.get_bind().dialect.name == "postgresql"
        listed = session.execute(_NEWCOMERS[postgres], {"ids": sorted(ids)}).all()
        for id_, newcomers in listed:
            listed_now = newcomers if newcomer in newcomers else [*newcomers, newcomer]
            session.execute(_ADD_NEWCOMERS, {"agreement": id_, "listed": listed_now})
        return
    session.execute(
        update(AgreementView)
        .where(AgreementView.id.in_(sorted(ids)))
        .values(dirty=True, replan_whole=True)
    )


def release(session: Session, proposal: Proposal) -> None:
    """A proposal that held a volunteer and a place no longer does: re-plan its agreement, and
    the other agreements in which its volunteer or its place could now be proposed."""
    mark_dirty(session, agreement_id=proposal.agreement_id)
    mark_dirty(session, sending=proposal.sending_agency, host=proposal.host_agency)


def held_in(session: Session, column: Any, value: str) -> list[str]:
    """Agreements in which a volunteer or placement holds an open or confirmed proposal."""
    return list(
        session.scalars(
            select(Proposal.agreement_id)
            .where(column == value, Proposal.status.in_(HOLDING))
            .distinct()
        )
    )


def claim(sessions: sessionmaker[Session], agreement_id: str) -> tuple[bool, list[str]] | None:
    """The planner clears the flag, in a short transaction of its own, through the row's lock
    (see mark_dirty): (whole re-plan wanted, newcomers), or None if it was not set."""
    with sessions.begin() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if not postgres:  # SQLite begins at the first write: take the write lock before reading
            session.execute(_TOUCH, {"agreement": agreement_id})
        flags = session.execute(_FLAGS_LOCKED[postgres], {"agreement": agreement_id}).first()
        if flags is None:
            return None
        session.execute(_CLEAR, {"agreement": agreement_id, "none": []})
        whole, newcomers = flags
        return bool(whole) or not newcomers, list(newcomers)


def redirty_whole(sessions: sessionmaker[Session], agreement_id: str) -> bool:
    """A claimed plan that was not made: the whole agreement again, even if a newcomer set the
    flag meanwhile (the newcomers claimed went with the plan). True if the agreement exists."""
    with sessions.begin() as session:
        result = session.execute(_WHOLE, {"agreement": agreement_id})
        return bool(getattr(result, "rowcount", 0))
