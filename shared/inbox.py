"""Inbox: remember which events a consumer applied, in the same transaction as the effect."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from shared.db import inbox, insert_unless_present
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
    # RETURNING rather than rowcount: through an ORM session rowcount is not reliable here.
    return session.execute(_INSERT, values).first() is not None


_INSERT = insert_unless_present(
    inbox,
    ("consumer", "source", "event_id", "event_type", "processed_at"),
    returning=("event_id",),
)
