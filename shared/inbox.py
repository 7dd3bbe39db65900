"""Inbox: remember which events a consumer applied, in the same transaction as the effect."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

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
    # RETURNING rather than rowcount: through an ORM session rowcount is not reliable here.
    return session.execute(_statement(bind.dialect.name), values).first() is not None


@functools.cache
def _statement(dialect: str) -> Any:
    """The insert, built once per dialect with bound parameters (compiled once, then cached)."""
    if dialect == "postgresql":
        return postgresql.insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
    if dialect == "sqlite":
        return sqlite.insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover
