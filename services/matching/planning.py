"""Plan dirty agreements (problem.py reads them), and publish what changed.

The planner thread reads an agreement's problem and solves it without holding any lock a consumer
or the API waits for; only applying the plan (a few inserts and updates) locks the agreement row,
the proposals it changes and the volunteers and placements it proposes, and checks nothing it
relied on changed meanwhile. If something did, the plan is dropped and the agreement planned again.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.matching.adapters.orm import (
    AgreementView,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.dirty import claim, redirty_whole
from services.matching.domain import model
from services.matching.domain.planner import Plan, UnsupportedAgreement, plan
from services.matching.handlers import (
    CANDIDATE_STATUSES,
    HOLDING,
    cancel,
    expire,
    mark_dirty,
)
from services.matching.impossibility import Impossibility
from services.matching.newcomers import PLANS, place_newcomers, propose
from services.matching.problem import (
    Held,
    build_problem,
    decisions_of,
    holding_digest,
    holding_digest_now,
    is_pinned,
)
from shared.logging import get_logger
from shared.wakeup import Waiter

log = get_logger(__name__)
SUPERSEDED = "superseded"  # reason codes: shared/codes.py CANCELLATION_REASONS


OFFLOAD_PAIRS = 200_000  # problems with this many volunteer × placement cells plan elsewhere
_worker: ProcessPoolExecutor | None = None
_worker_lock = threading.Lock()


def plan_apart(problem: model.Problem) -> Plan:
    """Plan a large problem in a worker process: scoring the pairs and OR-Tools' solve hold the
    GIL for a good part of their 0.2 to 1 s, and in this process the API and the consumers would
    wait for them. The worker gets the problem (small) and returns the plan (small)."""
    global _worker
    if len(problem.volunteers) * len(problem.placements) < OFFLOAD_PAIRS:
        return plan(problem)
    with _worker_lock:
        if _worker is None:
            _worker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        worker = _worker
    try:
        return worker.submit(plan, problem).result()
    except BrokenProcessPool:  # the worker died (killed, out of memory): a new one next time
        log.warning("matching.planning_worker_lost")
        with _worker_lock:
            if _worker is worker:
                _worker = None
        return plan(problem)


@dataclass
class _Solved:
    problem: model.Problem
    current: list[Held]
    result: Plan
    terms_hash: str  # the terms planned under


def read_and_plan(session: Session, agreement: AgreementView, at: datetime) -> _Solved | None:
    """Read the problem of an active agreement and plan it (no write, no lock)."""
    if agreement.status != "active":
        return None
    problem, current = build_problem(session, agreement, at.date())
    try:
        result = plan_apart(problem)
    except UnsupportedAgreement as exc:
        log.warning("matching.unsupported_agreement", agreement_id=agreement.id, reason=str(exc))
        return None
    return _Solved(problem, current, result, agreement.terms_hash)


def _unchanged(session: Session, agreement: AgreementView, solved: _Solved) -> bool:
    """Lock what applying the plan touches and check nothing the plan relied on changed.

    Locks are taken in the order consumers take them (volunteers and placements, then proposals,
    then the agreement), so the two do not deadlock."""
    postgres = session.get_bind().dialect.name == "postgresql"

    def locked(statement: Any, share: bool = False) -> Any:
        statement = statement.execution_options(populate_existing=True)
        return statement.with_for_update(read=share) if postgres else statement

    kept = {(p.volunteer_id, p.placement_id) for p in solved.current}
    new = [p for p in solved.result.proposals if (p.volunteer_id, p.placement_id) not in kept]
    volunteer_ids = sorted({p.volunteer_id for p in new})
    placement_ids = sorted({p.placement_id for p in new})
    if new:
        volunteers = session.scalars(
            locked(select(VolunteerView).where(VolunteerView.id.in_(volunteer_ids)), share=True)
        ).all()
        if any(v.status not in CANDIDATE_STATUSES for v in volunteers):
            return False
        placements = session.scalars(
            locked(select(PlacementView).where(PlacementView.id.in_(placement_ids)), share=True)
        ).all()
        slots = {p.id: p.slots for p in solved.problem.placements}
        if any(p.status != "open" or p.slots < slots.get(p.id, 0) for p in placements):
            return False
        elsewhere = session.scalars(
            select(Proposal.id).where(
                Proposal.volunteer_id.in_(volunteer_ids),
                Proposal.agreement_id != agreement.id,
                Proposal.status.in_(HOLDING),
            )
        ).first()
        if elsewhere is not None:
            return False
    # Every open or confirmed proposal is compared with what the plan read, but only those the
    # plan cancels are locked: a decision landing meanwhile on one it keeps changes nothing it
    # writes (a decline marks the agreement dirty, which waits for the agreement lock below).
    # Compared as the stored JSON text: the same text is the same value; a value written again
    # as other text only makes the plan start over (safe), and nothing is parsed. One digest
    # of (id, status, decisions) each side: PostgreSQL computes its side, no row is read back.
    read = holding_digest((p.id, p.status, p.decisions_json) for p in solved.current)
    if holding_digest_now(session, agreement.id) != read:
        return False
    wanted = {(p.volunteer_id, p.placement_id) for p in solved.result.proposals}
    before = {
        p.id: (p.status, decisions_of(p.decisions_json))
        for p in solved.current
        if not is_pinned(p) and (p.volunteer_id, p.placement_id) not in wanted
    }
    if before:
        rows = session.scalars(
            locked(select(Proposal).where(Proposal.id.in_(sorted(before))).order_by(Proposal.id))
        ).all()
        if {p.id: (p.status, dict(p.decisions)) for p in rows} != before:
            return False
    fresh = session.scalars(
        locked(select(AgreementView).where(AgreementView.id == agreement.id))
    ).first()
    return fresh is not None and fresh.status == "active" and fresh.terms_hash == solved.terms_hash


def apply_plan(
    session: Session, agreement: AgreementView, solved: _Solved, at: datetime, ttl: timedelta
) -> set[tuple[str, str]]:
    """Write what changed: cancel the open proposals the plan drops, add the new ones. Returns
    the (sending, host) of the proposals cancelled: their volunteers and places are free again."""
    released = set()
    impossible = Impossibility(solved.problem)
    agreement.planned_at = at
    wanted = {(p.volunteer_id, p.placement_id): p for p in solved.result.proposals}
    for held in solved.current:
        if is_pinned(held):
            continue
        if (held.volunteer_id, held.placement_id) in wanted:
            wanted.pop((held.volunteer_id, held.placement_id))  # unchanged: keep it
            continue
        why = impossible.of(held)
        proposal = session.get(Proposal, held.id)  # locked by _unchanged, already in the session
        assert proposal is not None
        cancel(session, proposal, why or SUPERSEDED)
        released.add((held.sending_agency, held.host_agency))
    for _, new in sorted(wanted.items()):
        propose(session, agreement.id, new, at, ttl)
    return released


def plan_agreement(
    session: Session, agreement: AgreementView, at: datetime, ttl: timedelta
) -> Plan | None:
    """Re-plan one agreement inside the caller's transaction, which holds the agreement (an
    explicit re-run); emit proposals and cancellations."""
    agreement.dirty, agreement.planned_at = False, at
    agreement.replan_whole, agreement.newcomers = False, []
    solved = read_and_plan(session, agreement, at)
    if solved is None:
        return None
    apply_plan(session, agreement, solved, at, ttl)
    return solved.result


def _advisory_key(agreement_id: str) -> int:
    return zlib.crc32(f"matching.plan:{agreement_id}".encode()) - 2**31


def _try_hold(session: Session, agreement_id: str) -> bool:
    """PostgreSQL: hold this agreement's planning lock until the transaction ends, if free."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # the embedded mode runs one planner
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _advisory_key(agreement_id)}
        ).scalar_one()
    )


def _set_dirty(sessions: sessionmaker[Session], agreement_id: str, dirty: bool) -> bool:
    """In a short transaction of its own. Cleared: True if it was set. Set again (a plan that
    was not made): the whole agreement, even if a newcomer set the flag meanwhile."""
    return (
        redirty_whole(sessions, agreement_id)
        if dirty
        else claim(sessions, agreement_id) is not None
    )


def plan_dirty(
    sessions: sessionmaker[Session],
    ttl: timedelta,
    clock: Callable[[], datetime] | None = None,
    expiring: bool = True,
) -> int:
    """Expire stale proposals, then plan each dirty agreement in its own transaction.

    Several matching instances share the work: on PostgreSQL an advisory lock per agreement
    keeps two planners off the same agreement, without locking the row consumers update. The
    dirty flag is cleared before reading, so a change arriving during planning plans it again."""
    at = (clock or (lambda: datetime.now(UTC)))()
    if expiring:
        with sessions.begin() as session:
            expire(session, at)
    planned = 0
    passed: set[str] = set()
    while True:
        released: set[tuple[str, str, str]] = set()  # (agreement planned, sending, host)
        claimed: list[str] = []
        try:
            outcome = _plan_next(sessions, passed, at, ttl, released, claimed)
        except _Outdated as outdated:
            _set_dirty(sessions, outdated.agreement_id, True)
            log.info("matching.plan_outdated", agreement_id=outdated.agreement_id)
            continue
        except Exception:
            for agreement_id in claimed:  # not planned after all: plan it again next round
                _set_dirty(sessions, agreement_id, True)
            raise
        if outcome is None:
            return planned
        planned += outcome
        if released:  # other agreements may now propose the volunteers and places set free
            with sessions.begin() as session:
                for planned_id, sending, host in sorted(released):
                    mark_dirty(session, sending=sending, host=host, exclude=planned_id)


class _Outdated(Exception):
    """Something the plan relied on changed while it was computed."""

    def __init__(self, agreement_id: str) -> None:
        self.agreement_id = agreement_id


def _plan_next(
    sessions: sessionmaker[Session],
    passed: set[str],
    at: datetime,
    ttl: timedelta,
    released: set[tuple[str, str, str]],
    claimed: list[str],
) -> int | None:
    """Plan the first dirty agreement not yet passed this round: 1 if a plan was applied, 0 if
    not, None when no dirty agreement is left."""
    with sessions.begin() as session:
        statement = select(AgreementView.id).where(AgreementView.dirty.is_(True))
        if passed:
            statement = statement.where(AgreementView.id.not_in(passed))
        agreement_id = session.scalars(statement.order_by(AgreementView.id).limit(1)).first()
        if agreement_id is None:
            return None
        passed.add(agreement_id)
        flags = claim(sessions, agreement_id) if _try_hold(session, agreement_id) else None
        if flags is None:
            return 0  # another planner has it
        claimed.append(agreement_id)
        agreement = session.get(AgreementView, agreement_id, populate_existing=True)
        assert agreement is not None
        whole, newcomers = flags
        if not whole and place_newcomers(session, agreement, newcomers, at, ttl):
            agreement.planned_at = at
            PLANS.labels("newcomers").inc()
            return 1
        solved = read_and_plan(session, agreement, at)
        if solved is None:
            agreement.planned_at = at
            return 0
        if not _unchanged(session, agreement, solved):
            raise _Outdated(agreement_id)  # rolls back; planned again next round
        released |= {
            (agreement_id, *pair) for pair in apply_plan(session, agreement, solved, at, ttl)
        }
        PLANS.labels("whole").inc()
        return 1


def lock_agreement(session: Session, agreement_id: str) -> AgreementView | None:
    """For an explicit re-run: wait for any planner working on this agreement, then hold it."""
    statement = select(AgreementView).where(AgreementView.id == agreement_id)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(agreement_id)}
        )
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def run_planner(
    sessions: sessionmaker[Session],
    stop: threading.Event,
    ttl: timedelta,
    interval: float = 2.0,
    wakeup: Waiter | None = None,
) -> None:
    """Plan dirty agreements until `stop` is set (the planner thread of a matching process).

    Between rounds it sleeps until `wakeup` fires (the consumer committed a change) or
    `interval` passes: the slow poll that also expires unanswered proposals on time."""
    expired_at = float("-inf")
    try:
        while not stop.is_set():
            # Expiry runs on the slow poll's rhythm, not at every wake-up: proposals live for
            # days, and a registration's path to its proposal then costs one transaction less.
            expiring = time.monotonic() - expired_at >= interval
            try:
                plan_dirty(sessions, ttl, expiring=expiring)
                if expiring:
                    expired_at = time.monotonic()
            except Exception:  # noqa: BLE001 - log and keep planning; the next round retries
                log.exception("matching.planning_failed")
            if wakeup is None:
                stop.wait(interval)
            else:
                wakeup.wait(interval, stop)
    finally:
        if wakeup is not None:
            wakeup.close()
