"""Registering many volunteers in one transaction (a bulk import), at the speed of the database.

The rows come already validated (`VolunteerIn`). Identities already registered are found with one
query; the rest are stored with one COPY of volunteers (on SQLite, one executemany INSERT) and
one multi-row INSERT of their `volunteer.registered` outbox rows, inside a single SAVEPOINT.
Only when the database refuses that batch (a value too long for its column, a concurrent
registration of the same identity) is it split in halves, each in its own savepoint, down to
the row at fault: good rows never pay a savepoint each, and a refused row is rolled back alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from sqlalchemy import JSON, insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from services.registry.adapters.orm import Volunteer
from services.registry.domain.messages import msg
from services.registry.handlers import Node, new_volunteer_columns, now, volunteer_profile
from shared.events import Event, new_event
from shared.events.contracts import CURRENT_VERSION
from shared.outbox import add_events

# The table, not the ORM entity: no per-row bookkeeping.
_TABLE = Volunteer.__table__
_INSERT = insert(_TABLE)
# PostgreSQL: the rows go in with one COPY (values adapted by psycopg's C code; JSON columns as
# their text), three to four times cheaper than the same rows as INSERTs in a pipeline.
_COPY = f"COPY {_TABLE.name} ({', '.join(c.name for c in _TABLE.columns)}) FROM STDIN"
_JSON = frozenset(c.name for c in _TABLE.columns if isinstance(c.type, JSON))


@dataclass(frozen=True)
class Refused:
    """Why the item at `position` of the batch was not registered."""

    position: int
    field: str
    message: str


@dataclass(frozen=True)
class _Pending:
    position: int
    columns: dict
    event: Event


def register_volunteers(session: Session, node: Node, items: Sequence[Mapping]) -> list[Refused]:
    """Register every item that can be, in the caller's transaction; return the others' reasons,
    in the order of `items`. Each registered volunteer has its `volunteer.registered` event."""
    if not items:
        return []
    refused: list[Refused] = []
    registered = _registered(session, node, items)
    at = now()
    pending = []
    for position, data in enumerate(items):
        existing = registered.get((data["nationality"], data["identity_number"]))
        if existing is not None:
            refused.append(
                Refused(
                    position, "identity_number", msg("volunteer.duplicate_identity", id=existing)
                )
            )
            continue
        columns = new_volunteer_columns(node, data, at)
        pending.append(
            _Pending(position, columns, _registered_event(node, columns, checked=not pending))
        )
    _store(session, pending, refused)
    return sorted(refused, key=lambda r: r.position)


def _registered_event(node: Node, columns: dict, checked: bool) -> Event:
    """The volunteer's `volunteer.registered` event. The first of a batch is built by `new_event`,
    which checks it against the contract (so a change of shape fails the batch at once); the
    others have the same shape, and their values passed `VolunteerIn`, which is stricter than the
    contract: checking each again took a third of an import's time."""
    profile = volunteer_profile(columns)
    if checked:
        return new_event(
            "volunteer.registered",
            source=node.source,
            subject=columns["id"],
            agencies=[node.agency],
            data=profile,
        )
    return Event(
        type="volunteer.registered",
        source=node.source,
        subject=columns["id"],
        agencies=(node.agency,),
        data=profile,
        version=CURRENT_VERSION.get("volunteer.registered", 1),
    )


def _registered(session: Session, node: Node, items: Sequence[Mapping]) -> dict[tuple, str]:
    keys = {(data["nationality"], data["identity_number"]) for data in items}
    rows = session.execute(
        select(Volunteer.nationality, Volunteer.identity_number, Volunteer.id).where(
            Volunteer.agency == node.agency,
            Volunteer.identity_number.in_({number for _, number in keys}),
        )
    )
    return {
        (r.nationality, r.identity_number): r.id
        for r in rows
        if (r.nationality, r.identity_number) in keys
    }


def _insert(session: Session, rows: list[dict]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        session.execute(_INSERT, rows)
        return
    names = [c.name for c in _TABLE.columns]
    cells = [[json.dumps(r[n]) if n in _JSON else r[n] for n in names] for r in rows]
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in cells:
            copy.write_row(row)


def _store(session: Session, batch: list[_Pending], refused: list[Refused]) -> None:
    if not batch:
        return
    try:
        with session.begin_nested():
            _insert(session, [p.columns for p in batch])
            add_events(session, [p.event for p in batch])
    except (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError) as exc:
        if len(batch) > 1:
            half = len(batch) // 2
            _store(session, batch[:half], refused)
            _store(session, batch[half:], refused)
        elif isinstance(exc, IntegrityError | psycopg.IntegrityError):  # registered meanwhile
            duplicate = msg("volunteer.duplicate_identity_unnamed")
            refused.append(Refused(batch[0].position, "identity_number", duplicate))
        else:
            cause = getattr(exc, "orig", exc)
            reason = str(cause).strip().splitlines()[0] if cause else type(exc).__name__
            refusal = msg("import.database_refused", reason=reason)
            refused.append(Refused(batch[0].position, "row", refusal))
