"""What every use case shares: the node it serves, the refusals the API maps to HTTP
answers, staging events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from services.registry.domain.errors import DomainError, DomainEvent, InvalidInput, NotEntitled
from shared.events import new_event
from shared.messages import Message, coded
from shared.outbox import add_event


class Refusal(Exception):
    """A use case's refusal: `message` is a Message (code, params; str() the English text)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message: Message = coded(message)
        self.field = field


class Invalid(Refusal):
    """A rule across fields refuses the input (HTTP 422 with the field at fault)."""

    def __init__(self, message: str, field: str):
        super().__init__(message, field)
        self.field: str = field


class Conflict(Refusal):
    """The request is valid but clashes with the current state (HTTP 409)."""


@dataclass(frozen=True)
class Node:
    """The agency this registry serves and the CloudEvents source of its events."""

    agency: str

    @property
    def source(self) -> str:
        return f"/agencies/{self.agency}/registry"


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def emit(
    session: Session,
    node: Node,
    type_: str,
    subject: str,
    agencies: list[str],
    data: Mapping[str, Any],
) -> None:
    add_event(
        session, new_event(type_, source=node.source, subject=subject, agencies=agencies, data=data)
    )


def emit_event(
    session: Session, node: Node, event: DomainEvent, subject: str, agencies: list[str]
) -> None:
    emit(session, node, event.type, subject, agencies, event.data)


def ruled(error: DomainError) -> Exception:
    """A domain refusal as the API says it: 422 for bad input, 409 for a clash with the state."""
    if isinstance(error, InvalidInput):
        return Invalid(error.message, error.field or "json")
    if isinstance(error, NotEntitled):
        return Forbidden(error.message)
    return Conflict(error.message, error.field)


class Forbidden(Refusal):
    """HTTP 403."""
