"""Which due deliveries are whose: the dispatcher's shares of recipients, and the opt-out read
with each claim (services/notifications/dispatch.py).

A share is a set of ordering keys; one worker sends a key's messages, in the order they fall due.
A person's (volunteer, host organisation) or a partner's key is the recipient, so their messages
leave in order and a slow answer of theirs holds up only their share. An agency's staff mailbox
receives a message about every proposal, confirmation and mobility of the agency: its key is the
recipient and what the message is about (the event's subject: a match, an agreement, a
mobility), so the messages about one thing leave in order (proposed, then cancelled), those
about different things side by side instead of one at a time."""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, datetime

from sqlalchemy import or_, select

from services.notifications.adapters.orm import Delivery, Preference

# Whether the delivery's recipient opted out of its channel and category (or of all categories).
OPTED_OUT = (
    select(Preference.opted_out)
    .where(
        Preference.recipient_kind == Delivery.recipient_kind,
        Preference.recipient_id == Delivery.recipient_id,
        Preference.channel == Delivery.channel,
        or_(Preference.category == Delivery.category, Preference.category == "*"),
        Preference.opted_out.is_(True),
    )
    .exists()
    .label("opted_out")
)


def ordering_key(kind: str, recipient: str, subject: str | None = None) -> str:
    if kind == "staff" and subject:
        return f"{kind}:{recipient}:{subject}"
    return f"{kind}:{recipient}"


def share_index(kind: str, recipient: str, n: int, subject: str | None = None) -> int:
    return zlib.crc32(ordering_key(kind, recipient, subject).encode()) % n


def in_share(
    kind: str, recipient: str, share: tuple[int, int] | None, subject: str | None = None
) -> bool:
    if share is None:
        return True
    k, n = share
    return share_index(kind, recipient, n, subject) == k


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Handed:
    """Due deliveries of one share, handed to its worker by the worker that read them."""

    def __init__(self) -> None:
        self.kick = threading.Event()
        self._ids: list[str] = []
        self._lock = threading.Lock()

    def put(self, delivery_id: str) -> None:
        with self._lock:
            self._ids.append(delivery_id)
        self.kick.set()

    def take(self) -> list[str]:
        """The handed deliveries in the order they were read, each once."""
        with self._lock:
            ids, self._ids = self._ids, []
        return list(dict.fromkeys(ids))
