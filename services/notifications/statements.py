"""The dispatcher's statements, built once with bound parameters.

Built at every message, a statement cost more Python (construction and cache key) than its round
trip to the database; these run several times per e-mail."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, tuple_

from services.notifications.adapters.orm import Delivery
from services.notifications.shares import OPTED_OUT

ROUND = 200  # due deliveries read per query (dispatch.py)

_DUE = select(
    Delivery.id,
    Delivery.recipient_kind,
    Delivery.recipient_id,
    Delivery.subject,
    Delivery.next_attempt_at,
).where(Delivery.status == "pending", Delivery.next_attempt_at <= bindparam("at"))
_ORDER = (Delivery.next_attempt_at, Delivery.id)
# The due deliveries, oldest first: the first page, and each next one after the last row read.
DUE = _DUE.order_by(*_ORDER).limit(ROUND)
DUE_AFTER = (
    _DUE.where(tuple_(*_ORDER) > tuple_(bindparam("after_at"), bindparam("after_id")))
    .order_by(*_ORDER)
    .limit(ROUND)
)
# When the earliest delivery not due yet falls due.
NEXT_DUE = select(func.min(Delivery.next_attempt_at)).where(
    Delivery.status == "pending", Delivery.next_attempt_at > bindparam("at")
)
# The claim of one delivery with its recipient's opt-out (one round trip). Due: a delivery handed
# twice, or retried since it was read, waits its time. Locked on PostgreSQL (key True).
_CLAIMING = select(Delivery, OPTED_OUT).where(
    Delivery.id == bindparam("id"),
    Delivery.status == "pending",
    Delivery.next_attempt_at <= bindparam("due"),
)
CLAIM = {False: _CLAIMING, True: _CLAIMING.with_for_update(skip_locked=True, of=Delivery)}
