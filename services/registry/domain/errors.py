"""What every registry aggregate raises or returns: refusals by a rule, and the events it causes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.messages import Message, coded


class DomainError(Exception):
    """A rule refuses the change; `field` names the input at fault, if any.

    `message` is a `Message` (services/registry/domain/messages.py): str() is its English text,
    `code` and `params` what the API returns and screens render in their own language.
    The API answers 409 (422 for `InvalidInput`); a peer's event refused this way is dead-lettered.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message: Message = coded(message)
        self.field = field

    @property
    def code(self) -> str:
        return self.message.code

    @property
    def params(self) -> dict[str, Any]:
        return self.message.params


class InvalidInput(DomainError):
    """The input breaks a rule across fields, whatever the current state."""


class NotEntitled(DomainError):
    """The step belongs to the other agency of the exchange (HTTP 403)."""


class Pending(DomainError):
    """A peer's change builds on one this node has not received yet: try again later."""


@dataclass(frozen=True)
class DomainEvent:
    """An event a change causes: its type and data, as the contract describes them."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
