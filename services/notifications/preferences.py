"""Who does not want which messages: opt-outs per recipient, channel and category, and the signed
unsubscribe links that record them.

Categories (domain/routing.py puts each event in one):

- `registration`: a volunteer's registration is recorded (the volunteer, by e-mail);
- `placement`: a confirmed placement (the volunteer by e-mail and SMS, the host organisation by
  e-mail) — **mandatory**;
- `proposals`: a match proposed, declined or cancelled (agency staff);
- `exchanges`: a match confirmed (agency staff);
- `agreements`: agreement proposed, approved, activated, amended, terminated (agency staff);
- `mobilities`: mobility started, report submitted, completed, interrupted (agency staff).

**Mandatory categories** (`MANDATORY_CATEGORIES`): a confirmed placement tells the volunteer and
the host organisation where and when the mission is; without it the mission cannot happen. Such
messages are sent whatever the recipient's preferences (even an opt-out of every category, `*`),
carry no unsubscribe link, and an opt-out of them is refused (`MandatoryCategory`; the API
answers 422 and says why).

An opt-out of category `*` covers every category of that channel, mandatory ones excepted.
Unsubscribe links are signed (itsdangerous, salt "unsubscribe") with `NOTIFY_LINK_SECRET`: a
link only ever opts out the recipient, channel and category it was made for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.notifications.adapters.orm import Delivery, Preference
from services.notifications.config import Options

CHANNELS = ["email", "sms"]
CATEGORIES = ["registration", "placement", "proposals", "exchanges", "agreements", "mobilities"]
ALL_CATEGORIES = "*"
MANDATORY_CATEGORIES = frozenset({"placement"})
RECIPIENT_KINDS = ["volunteer", "host_organisation", "staff"]
SALT = "unsubscribe"


class PreferenceError(ValueError):
    """A preference that cannot be recorded; `field` names the culprit."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class MandatoryCategory(PreferenceError):
    def __init__(self, category: str):
        super().__init__(
            f"'{category}' messages are mandatory: they tell the volunteer and the host "
            "organisation where and when a confirmed mission takes place, so they are always "
            "sent and cannot be opted out of.",
            "category",
        )


class InvalidToken(ValueError):
    """An unsubscribe token that is not one of ours (altered, truncated, other secret)."""


def check(kind: str, channel: str, category: str) -> None:
    """Refuse unknown values and mandatory categories (raises PreferenceError)."""
    if kind not in RECIPIENT_KINDS:
        raise PreferenceError(f"unknown recipient kind {kind!r}", "recipient_kind")
    if channel not in CHANNELS:
        raise PreferenceError(
            f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}", "channel"
        )
    if category in MANDATORY_CATEGORIES:
        raise MandatoryCategory(category)
    if category != ALL_CATEGORIES and category not in CATEGORIES:
        raise PreferenceError(
            f"unknown category {category!r}; one of {', '.join(CATEGORIES)} or '*'", "category"
        )


# -- unsubscribe links ---------------------------------------------------------------------------


def _serializer(options: Options) -> URLSafeSerializer:
    return URLSafeSerializer(options.link_secret, salt=SALT)


def make_token(options: Options, kind: str, recipient_id: str, channel: str, category: str) -> str:
    return str(
        _serializer(options).dumps(
            {
                "recipient_kind": kind,
                "recipient_id": recipient_id,
                "channel": channel,
                "category": category,
            }
        )
    )


def read_token(options: Options, token: str) -> dict[str, str]:
    try:
        data = _serializer(options).loads(token)
    except BadSignature as exc:
        raise InvalidToken("the unsubscribe link is not valid") from exc
    keys = ("recipient_kind", "recipient_id", "channel", "category")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        raise InvalidToken("the unsubscribe link is not valid")
    return {k: data[k] for k in keys}


def unsubscribe_links(options: Options, delivery: Delivery) -> dict[str, str]:
    """The links a message carries: an unsubscribe link on e-mails one may opt out of."""
    if (
        delivery.channel != "email"
        or delivery.mandatory
        or delivery.category in MANDATORY_CATEGORIES
        or delivery.recipient_kind not in RECIPIENT_KINDS
    ):
        return {}
    token = make_token(
        options, delivery.recipient_kind, delivery.recipient_id, delivery.channel, delivery.category
    )
    return {"unsubscribe": f"{options.public_base_url}/unsubscribe?token={token}"}


# -- opt-outs ------------------------------------------------------------------------------------


def _set(
    session: Session,
    kind: str,
    recipient_id: str,
    channel: str,
    category: str,
    opted_out: bool,
    at: datetime | None,
) -> None:
    values: dict[str, Any] = {
        "recipient_kind": kind,
        "recipient_id": recipient_id,
        "channel": channel,
        "category": category,
        "opted_out": opted_out,
        "updated_at": at or datetime.now(UTC),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Preference).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["recipient_kind", "recipient_id", "channel", "category"],
            set_={"opted_out": opted_out, "updated_at": values["updated_at"]},
        )
    )


def opt_out(
    session: Session,
    kind: str,
    recipient_id: str,
    channel: str,
    category: str,
    at: datetime | None = None,
) -> None:
    """Stop `channel` messages of `category` to this recipient (idempotent)."""
    check(kind, channel, category)
    _set(session, kind, recipient_id, channel, category, True, at)


def opt_in(
    session: Session,
    kind: str,
    recipient_id: str,
    channel: str,
    category: str,
    at: datetime | None = None,
) -> None:
    """Undo an opt-out (idempotent); the row stays, with the time of the change."""
    check(kind, channel, category)
    _set(session, kind, recipient_id, channel, category, False, at)


def opt_outs(session: Session, kind: str, recipient_id: str) -> list[Preference]:
    return list(
        session.scalars(
            select(Preference)
            .where(
                Preference.recipient_kind == kind,
                Preference.recipient_id == recipient_id,
                Preference.opted_out.is_(True),
            )
            .order_by(Preference.channel, Preference.category)
        )
    )


def replace_opt_outs(
    session: Session,
    kind: str,
    recipient_id: str,
    wanted: list[tuple[str, str]],
    at: datetime | None = None,
) -> list[Preference]:
    """Make the recipient's opt-outs exactly `wanted` [(channel, category)]; all or nothing."""
    for channel, category in wanted:
        check(kind, channel, category)
    at = at or datetime.now(UTC)
    keep = set(wanted)
    for current in opt_outs(session, kind, recipient_id):
        if (current.channel, current.category) not in keep:
            _set(session, kind, recipient_id, current.channel, current.category, False, at)
    for channel, category in sorted(keep):
        _set(session, kind, recipient_id, channel, category, True, at)
    session.flush()
    session.expire_all()
    return opt_outs(session, kind, recipient_id)
