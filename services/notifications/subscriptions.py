"""Partner webhook subscriptions: which patterns a partner may subscribe to, and the life of a
subscription (create, pause, resume, rotate, delete, disable). Which URLs may receive webhooks
is webhook_urls.py's."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.notifications.adapters.orm import Delivery, Subscription
from services.notifications.domain.messages import DeliveryFailed, Notification, Recipient
from services.notifications.handlers import DELIVERIES_CHANNEL
from services.notifications.webhook_urls import check_url
from shared.codes import is_country
from shared.db import api_token
from shared.events.contracts import EVENT_TYPES
from shared.logging import get_logger
from shared.wakeup import wake_on_commit

log = get_logger(__name__)


# The words a routing key is made of: event families and type names, and agency codes.
EVENT_WORDS = frozenset(word for t in EVENT_TYPES for word in t.split("."))
MAX_PATTERN_WORDS = 10


class InvalidSubscription(ValueError):
    """Field errors of a subscription request, as `{field: [message, …]}`."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


class SubscriptionNotFound(LookupError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


# -- patterns -------------------------------------------------------------------------------------


def check_pattern(pattern: str) -> None:
    """Refuse (ValueError) anything but an AMQP topic pattern over words a routing key can hold:
    `*`, `#`, an event family or type word (`agreement`, `approved`) or an agency code (`ML`)."""
    if not pattern or pattern != pattern.strip():
        raise ValueError(f"{pattern!r}: a pattern is words separated by dots, e.g. agreement.#")
    words = pattern.split(".")
    if len(words) > MAX_PATTERN_WORDS:
        raise ValueError(f"{pattern!r}: at most {MAX_PATTERN_WORDS} words")
    for word in words:
        if word in ("*", "#") or word in EVENT_WORDS or (len(word) == 2 and is_country(word)):
            continue
        if not word:
            raise ValueError(f"{pattern!r}: empty word (two dots in a row, or a dot at an end)")
        hint = ""
        if len(word) == 2 and is_country(word.upper()):
            hint = f" (agency codes are upper case: {word.upper()})"
        elif word.lower() in EVENT_WORDS:
            hint = f" (event words are lower case: {word.lower()})"
        raise ValueError(
            f"{pattern!r}: unknown word {word!r}{hint}; use *, #, an event family or type "
            "(agreement, match, confirmed, …) or an ISO 3166 agency code (TG, ML, …)"
        )


def validate(url: str, patterns: list[str], allowed_hosts: Iterable[str]) -> str:
    """Check a subscription's URL and patterns; raise InvalidSubscription naming each field.
    Return the URL as parsed (the form to store)."""
    errors: dict[str, list[str]] = {}
    try:
        url = check_url(url, allowed_hosts)
    except ValueError as exc:
        errors["url"] = [str(exc)]
    pattern_errors = []
    for pattern in patterns:
        try:
            check_pattern(pattern)
        except ValueError as exc:
            pattern_errors.append(str(exc))
    if not patterns:
        pattern_errors.append("at least one pattern, e.g. match.# or #.ML.#")
    if pattern_errors:
        errors["patterns"] = pattern_errors
    if errors:
        raise InvalidSubscription(errors)
    return url


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# -- life of a subscription -----------------------------------------------------------------------


def visible(owner: str | None, agency: str | None = None) -> Select[tuple[Subscription]]:
    """Subscriptions a caller may see: those its token created (`owner`), or, for an admin,
    those created by any token of its `agency` (its partners' and its own)."""
    statement = select(Subscription).order_by(Subscription.created_at.desc(), Subscription.id)
    if owner is not None:
        statement = statement.where(Subscription.created_by == owner)
    if agency is not None:
        statement = statement.where(Subscription.created_by.in_(_tokens_of(agency)))
    return statement


def _tokens_of(agency: str) -> Select[tuple[str]]:
    return select(api_token.c.id).where(api_token.c.agency == agency)


def find(
    session: Session, subscription_id: str, owner: str | None, agency: str | None = None
) -> Subscription:
    sub = session.scalars(visible(owner, agency).where(Subscription.id == subscription_id)).first()
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id} for this token")
    return sub


def create(
    session: Session,
    *,
    partner: str,
    owner_email: str,
    url: str,
    patterns: list[str],
    created_by: str,
    allowed_hosts: Iterable[str],
) -> Subscription:
    """A new active subscription with a fresh secret (raises InvalidSubscription)."""
    patterns = list(dict.fromkeys(patterns))
    url = validate(url.strip(), patterns, allowed_hosts)
    at = now()
    sub = Subscription(
        id=f"sub-{uuid.uuid4().hex}",
        partner=partner,
        owner_email=owner_email,
        url=url,
        patterns=patterns,
        secret=new_secret(),
        status="active",
        disabled_reason=None,
        failing_since=None,
        created_by=created_by,
        created_at=at,
        updated_at=at,
    )
    session.add(sub)
    session.flush()
    return sub


def pause(sub: Subscription) -> Subscription:
    """Stop sending: new events are not queued for it; queued deliveries wait on their retry
    schedule until it is resumed."""
    if sub.status == "active":
        sub.status, sub.updated_at = "paused", now()
    return sub


def resume(sub: Subscription) -> Subscription:
    """Send again; a disabled subscription starts afresh (its endpoint is presumed fixed)."""
    if sub.status != "active":
        sub.status, sub.disabled_reason, sub.failing_since = "active", None, None
        sub.updated_at = now()
    return sub


def rotate_secret(sub: Subscription) -> str:
    """A new secret, effective at once: every later webhook (retries included) is signed with it
    only, so a receiver still verifying with the old one refuses them until updated."""
    sub.secret, sub.updated_at = new_secret(), now()
    return sub.secret


def delete(session: Session, sub: Subscription) -> None:
    """Remove the subscription (and its secret); its queued deliveries are cancelled."""
    for pending in session.scalars(
        select(Delivery).where(Delivery.recipient_id == sub.id, Delivery.status == "pending")
    ):
        pending.status, pending.last_error = "cancelled", "subscription deleted"
        pending.updated_at = now()
    session.delete(sub)


class Answer(Protocol):
    """A receiver's answer (adapters/webhook.py's Answer)."""

    @property
    def status(self) -> int: ...

    @property
    def delivered(self) -> bool: ...


class Poster(Protocol):
    """Sends one webhook and returns the answer, whatever its status (the webhook channel)."""

    def post(self, notification: Notification) -> Answer: ...


def ping(channel: Poster, sub: Subscription, source: str) -> dict[str, Any]:
    """Send a signed `vir.ping` to the subscription's URL now (whatever its status) and say what
    the receiver answered: `{delivered, status, answer}`."""
    event_id = str(uuid.uuid4())
    at = now()
    notification = Notification(
        delivery_id=f"ping-{event_id}",
        idempotency_key=f"ping|{event_id}|partner:{sub.id}|webhook",
        event_id=event_id,
        event_type="vir.ping",
        category="partners",
        mandatory=True,
        payload={
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": "vir.ping",
            "subject": sub.id,
            "time": at.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {"subscription_id": sub.id},
        },
        recipient=Recipient(
            kind="partner", id=sub.id, address=sub.url, name=sub.partner, secret=sub.secret
        ),
    )
    try:
        answer = channel.post(notification)
    except DeliveryFailed as exc:
        return {"delivered": False, "status": None, "answer": exc.reason}
    return {"delivered": answer.delivered, "status": answer.status, "answer": str(answer)}


def notify_owner_disabled(session: Session, subscription: Subscription, reason: str) -> None:
    """Tell the subscription's owner by e-mail that it was disabled, and why (Dispatcher's
    `on_subscription_disabled`: staged in the dispatcher's transaction, sent by it later)."""
    at = subscription.updated_at or now()  # the dispatcher's clock when it disabled it
    # A notification.* outcome event must name agencies: those of the delivery that failed.
    agencies = session.scalar(
        select(Delivery.agencies)
        .where(Delivery.recipient_id == subscription.id, Delivery.channel == "webhook")
        .order_by(Delivery.updated_at.desc())
        .limit(1)
    ) or [w for p in subscription.patterns for w in p.split(".") if len(w) == 2 and is_country(w)]
    if not agencies:
        log.warning("notifications.owner_not_told", subscription=subscription.id, reason=reason)
        return
    event_id = f"subscription-disabled-{uuid.uuid4().hex}"
    payload: dict[str, Any] = {
        "subscription_id": subscription.id,
        "partner": subscription.partner,
        "url": subscription.url,
        "reason": reason,
        "disabled_at": at.isoformat(),
    }
    session.add(
        Delivery(
            id=f"dlv-{uuid.uuid4().hex}",
            idempotency_key=f"{event_id}|partner:{subscription.id}|email",
            event_id=event_id,
            event_type="subscription.disabled",
            agencies=list(dict.fromkeys(agencies)),
            category="partners",
            mandatory=True,
            recipient_kind="partner",
            recipient_id=subscription.id,
            channel="email",
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=at,
            last_error=None,
            created_at=at,
            updated_at=at,
        )
    )
    wake_on_commit(session, DELIVERIES_CHANNEL)  # the dispatcher reads it once this commits
