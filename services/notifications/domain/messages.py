"""What the dispatcher hands a channel, and how a channel says it failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol


@dataclass(frozen=True)
class Recipient:
    """Where a message goes. `address` is an e-mail, a phone number (E.164) or a URL."""

    kind: str  # volunteer, host_organisation, staff, partner
    id: str
    address: str
    language: str = "fr"
    name: str | None = None
    secret: str | None = None  # partner webhooks: the subscription's signing secret


@dataclass(frozen=True)
class Notification:
    delivery_id: str
    idempotency_key: str
    event_id: str
    event_type: str
    category: str
    mandatory: bool
    payload: dict[str, Any]
    recipient: Recipient
    links: dict[str, str] = field(default_factory=dict)  # e.g. {"unsubscribe": "https://…"}


class DeliveryFailed(Exception):
    def __init__(self, reason: str, provider_answer: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.provider_answer = provider_answer


class RetryLater(DeliveryFailed):
    """A temporary failure (timeout, 5xx, 429, SMTP 4xx): try again (after `retry_after`)."""

    def __init__(
        self, reason: str, provider_answer: str | None = None, retry_after: timedelta | None = None
    ):
        super().__init__(reason, provider_answer)
        self.retry_after = retry_after


class Undeliverable(DeliveryFailed):
    """A permanent failure (bad address, 4xx other than 410/429): do not try again."""


class Gone(DeliveryFailed):
    """The receiver said it will never accept again (HTTP 410): disable the subscription."""


class Channel(Protocol):
    name: str

    def send(self, notification: Notification) -> str:
        """Deliver; return the provider's answer (for the delivery log) or raise DeliveryFailed."""
        ...
