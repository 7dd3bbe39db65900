"""A consumer harness that counts effects, Jepsen-style: lost = written - applied, duplicates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.orm import Session

from shared.events import Event, new_event
from shared.messaging.topology import ConsumerSpec
from shared.migrations import upgrade
from shared.outbox import add_event

metadata = MetaData()
# Deliberately without a unique constraint: an effect applied twice shows as two rows.
effects = Table(
    "test_effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(64), nullable=False),
)
changes = Table(
    "test_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("volunteer_id", String(64), nullable=False),
)

SPEC = ConsumerSpec(name="effects", bindings=("volunteer.#",), retry_delays_ms=(200, 400))


def prepare_database(url: str, engine: Engine) -> None:
    upgrade("registry", url)  # the real migrations create the outbox and the inbox
    metadata.create_all(engine)


def volunteer_event(n: int, aggregate: str | None = None) -> Event:
    vid = aggregate or f"vol-{n}"
    return new_event(
        "volunteer.withdrawn",
        source="/agencies/TG/registry",
        subject=vid,
        agencies=["TG"],
        data={"volunteer_id": vid, "agency": "TG", "reason": "personal"},
    )


def write_change_with_event(session: Session, n: int, aggregate: str | None = None) -> Event:
    """A business change and its event in the caller's transaction."""
    event = volunteer_event(n, aggregate)
    session.execute(insert(changes).values(volunteer_id=event.subject))
    add_event(session, event)
    return event


def record_effect(event: Event, session: Session) -> None:
    session.execute(insert(effects).values(event_id=event.id))


@dataclass(frozen=True)
class Tally:
    applied: int
    distinct: int
    ids: frozenset[str]

    @property
    def duplicates(self) -> int:
        return self.applied - self.distinct


def tally(engine: Engine) -> Tally:
    with engine.connect() as conn:
        applied = conn.execute(select(func.count()).select_from(effects)).scalar_one()
        ids = frozenset(conn.execute(select(effects.c.event_id)).scalars())
    return Tally(applied=applied, distinct=len(ids), ids=ids)
