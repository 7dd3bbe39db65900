"""Which due deliveries are whose: the dispatcher's shares of recipients, and the opt-out read
with each claim (services/notifications/dispatch.py)."""

from __future__ import annotations

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


def share_index(kind: str, recipient: str, n: int) -> int:
    return zlib.crc32(f"{kind}:{recipient}".encode()) % n


def in_share(kind: str, recipient: str, share: tuple[int, int] | None) -> bool:
    if share is None:
        return True
    k, n = share
    return share_index(kind, recipient, n) == k


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
