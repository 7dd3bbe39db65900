"""Partner webhooks: a signed POST (Standard Webhooks) to a subscription's URL, and what the
receiver's answer means for the dispatcher (sent, retry later, gone, undeliverable).

The destination is checked at send time as at subscription time: a host that now resolves to a
private or loopback address (DNS rebinding) is refused, and so is a connection whose peer turns
out to be such an address, since DNS may answer differently to the check and to the connect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from services.notifications.domain.messages import (
    Gone,
    Notification,
    RetryLater,
    Undeliverable,
)
from services.notifications.webhook_urls import (
    AddressRefused,
    UnresolvableHost,
    check_address,
    check_url,
)

TIMEOUT = 15.0
ANSWER_CHARS = 500
RETRYABLE = frozenset({408, 425, 429})
USER_AGENT = "VIR-Exchange-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What a receiver answered (the body cut to its first ANSWER_CHARS characters)."""

    status: int
    body: str
    retry_after: timedelta | None = None

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.body}" if self.body else f"HTTP {self.status}"


def message_id(idempotency_key: str) -> str:
    """The `webhook-id`: the same for every attempt of one delivery, so receivers can dedupe."""
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header, in seconds or as an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        timeout: float = TIMEOUT,
        allowed_hosts: Iterable[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        if allowed_hosts is None:
            from services.notifications.config import load_options

            allowed_hosts = load_options().webhook_allowed_hosts
        self.timeout = timeout
        self.allowed_hosts = tuple(allowed_hosts)
        # The signature's timestamp is real time: receivers refuse one more than 5 minutes off.
        self.clock = clock or (lambda: datetime.now(UTC))
        self.session = requests.Session()
        # Straight to the partner: a proxy from the environment would hide the peer address.
        self.session.trust_env = False
        adapter = _PeerCheckingAdapter(self.allowed_hosts)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        self.session.close()

    def send(self, notification: Notification) -> str:
        answer = self.post(notification)
        if answer.delivered:
            return f"HTTP {answer.status}"
        if answer.status == 410:
            raise Gone("HTTP 410 Gone", str(answer))
        if answer.status in RETRYABLE or answer.status >= 500:
            raise RetryLater(f"HTTP {answer.status}", str(answer), answer.retry_after)
        if 300 <= answer.status < 400:
            raise Undeliverable(
                f"HTTP {answer.status}: redirects are not followed; subscribe the final URL",
                str(answer),
            )
        raise Undeliverable(f"HTTP {answer.status}: the receiver refused the message", str(answer))

    def post(self, notification: Notification) -> Answer:
        """POST the signed payload once and return the receiver's answer, whatever its status.

        Raises RetryLater (timeout, connection error, host not resolving now) or Undeliverable
        (a refused address, no signing secret)."""
        url, secret = notification.recipient.address, notification.recipient.secret
        if not secret:
            raise Undeliverable("the subscription has no signing secret")
        try:
            url = check_url(url, self.allowed_hosts)  # fetched exactly as parsed and checked
        except UnresolvableHost as exc:
            raise RetryLater(str(exc)) from exc
        except ValueError as exc:
            raise Undeliverable(f"webhook URL refused: {exc}") from exc
        body = json.dumps(notification.payload, separators=(",", ":"))
        msg_id = message_id(notification.idempotency_key)
        timestamp = self.clock().astimezone(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, timestamp, body),
        }
        try:
            response = self.session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except AddressRefused as exc:
            raise Undeliverable(f"webhook URL refused: {exc}") from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetryLater(f"no answer from the receiver: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise Undeliverable(f"request not sent: {exc}") from exc
        try:
            text = _head(response)
        finally:
            response.close()
        return Answer(
            status=response.status_code,
            body=text,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), self.clock()),
        )


def _head(response: requests.Response) -> str:
    """The first characters of the body, without reading more of it than that."""
    try:
        raw = response.raw.read(ANSWER_CHARS * 4, decode_content=True)
    except Exception:  # noqa: BLE001 - the status is the answer; a broken body is not a failure
        return ""
    return raw.decode(response.encoding or "utf-8", errors="replace")[:ANSWER_CHARS]


# -- the peer check: the address actually connected to must be acceptable ------------------------


class _PeerCheck:
    allowed_hosts: tuple[str, ...] = ()
    host: str

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            check_address(self.host, sock.getpeername()[0], self.allowed_hosts)
        except AddressRefused:
            sock.close()
            raise
        return sock


class _PeerCheckingAdapter(HTTPAdapter):
    def __init__(self, allowed_hosts: tuple[str, ...]):
        attrs = {"allowed_hosts": allowed_hosts}
        http = type("CheckedHTTPConnection", (_PeerCheck, HTTPConnection), attrs)
        https = type("CheckedHTTPSConnection", (_PeerCheck, HTTPSConnection), attrs)
        self._pools = {
            "http": type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools
