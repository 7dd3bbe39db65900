"""Partner webhook subscriptions: which URLs may receive webhooks, which patterns a partner may
subscribe to, and the life of a subscription (create, pause, resume, rotate, delete, disable).

A webhook URL is refused when its host resolves to a private, loopback, link-local, multicast,
reserved or unspecified address (so a partner cannot make this service call into the operator's
own network), unless the operator allows that host, address or network in
`WEBHOOK_ALLOWED_HOSTS`. The same check runs again at send time (see adapters/webhook.py)."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from urllib3.exceptions import LocationParseError
from urllib3.util import Url
from urllib3.util import parse_url as _parse

from services.notifications.adapters.orm import Delivery, Subscription
from services.notifications.domain.messages import DeliveryFailed, Notification, Recipient
from shared.codes import is_country
from shared.db import api_token
from shared.events.contracts import EVENT_TYPES
from shared.logging import get_logger

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The words a routing key is made of: event families and type names, and agency codes.
EVENT_WORDS = frozenset(word for t in EVENT_TYPES for word in t.split("."))
MAX_PATTERN_WORDS = 10


class AddressRefused(ValueError):
    """The URL may not receive webhooks (scheme, or an address inside a private network)."""


class UnresolvableHost(ValueError):
    """The URL's host name does not resolve (now: DNS may answer later)."""


class InvalidSubscription(ValueError):
    """Field errors of a subscription request, as `{field: [message, …]}`."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


class SubscriptionNotFound(LookupError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


# -- URLs -----------------------------------------------------------------------------------------


def _allow_list(allowed_hosts: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split the operator's entries into host names and networks (an address is a /32 or /128)."""
    names: set[str] = set()
    networks: list[Network] = []
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return frozenset(names), tuple(networks)


def _ip(value: str) -> IPAddress:
    address = ipaddress.ip_address(value.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not private, loopback, link-local, multicast,
    reserved, unspecified, shared/CGNAT or documentation space)."""
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _host_allowed(host: str, names: frozenset[str], networks: tuple[Network, ...]) -> bool:
    host = host.lower().rstrip(".")
    if host in names:
        return True
    try:
        address = _ip(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (DNS may give several; each must be acceptable)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"the host {host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(_ip(str(info[4][0])) for info in infos))


def check_address(host: str, address: str | IPAddress, allowed_hosts: Iterable[str]) -> None:
    """Refuse `address` (one `host` resolved or connected to) unless public or allowed."""
    names, networks = _allow_list(allowed_hosts)
    if _host_allowed(host, names, networks):
        return
    ip = _ip(str(address))
    if is_public(ip) or any(ip in network for network in networks):
        return
    raise AddressRefused(
        f"{host} resolves to {ip}, a private, loopback or reserved address; webhooks only go to "
        "public addresses unless the operator allows this host (WEBHOOK_ALLOWED_HOSTS)"
    )


def parse_url(url: str) -> Url:
    """Parse a webhook URL with the parser that fetches it (urllib3's, which requests uses).

    Checking one parse and fetching another lets a URL mean two hosts:
    `https://127.0.0.1:9150\\@8.8.8.8/` is 8.8.8.8 to `urllib.parse` and 127.0.0.1 to urllib3.
    So there is one parse, and what it cannot read one way only is refused: user-info,
    backslashes, whitespace and control characters."""
    raw = url.strip()
    if "\\" in raw:
        raise AddressRefused("a webhook URL may not contain a backslash")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise AddressRefused("a webhook URL may not contain spaces or control characters")
    try:
        parts = _parse(raw)
    except LocationParseError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    if parts.auth is not None:
        raise AddressRefused(
            "a webhook URL may not carry a user name or password; the signature authenticates"
        )
    if parts.scheme not in ("https", "http") or not parts.host:
        raise AddressRefused("must be an absolute https:// URL, e.g. https://example.org/webhooks")
    return parts


def check_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Refuse (ValueError with a clear message) a URL that may not receive webhooks; return it
    as parsed, the only form stored and fetched.

    https only (http only for a host the operator allows); the host must resolve, and none of
    its addresses may be private, loopback, link-local, multicast, reserved or unspecified unless
    the host, or a network holding the address, is in the operator's allow-list.
    Raises AddressRefused or UnresolvableHost (both ValueError)."""
    allowed_hosts = tuple(allowed_hosts)
    parts = parse_url(url)
    host = (parts.host or "").strip("[]")
    names, networks = _allow_list(allowed_hosts)
    if parts.scheme == "http" and not _host_allowed(host, names, networks):
        raise AddressRefused(
            "must use https:// (plain http is only accepted for hosts the operator allows)"
        )
    for address in resolve(host, parts.port or (443 if parts.scheme == "https" else 80)):
        check_address(host, address, allowed_hosts)
    return str(parts.url)


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
