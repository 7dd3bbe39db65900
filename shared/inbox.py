"""Inbox: remember which events a consumer applied, in the same transaction as the effect."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db import inbox
from shared.events import Event


def record_once(session: Session | Connection, consumer: str, event: Event) -> bool:
    """Insert `(consumer, source, id)`; False when this consumer already applied the event.

    A concurrent transaction recording the same key blocks here until it ends, so two
    deliveries of one event can never both see True.
    """
    values = {
        "consumer": consumer,
        "source": event.source,
        "event_id": event.id,
        "event_type": event.type,
        "processed_at": datetime.now(UTC),
    }
    bind = session.get_bind() if isinstance(session, Session) else session
    dialect = bind.dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(inbox).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(inbox).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database dialect {dialect}")
    # RETURNING rather than rowcount: through an ORM session rowcount is not reliable here.
    return session.execute(stmt.returning(inbox.c.event_id)).first() is not None
