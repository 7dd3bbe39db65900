"""An event as handlers receive it: the envelope's attributes and its data as a typed payload.

Every service's event handlers have one shape, `handle(session, event: TypedEvent[P], deps)`;
the consumer decodes and checks the envelope, then `typed(event)` builds the payload once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from marshmallow import ValidationError

from shared.events import payloads
from shared.events.envelope import Event, InvalidEvent

P = TypeVar("P")


@dataclass(frozen=True)
class TypedEvent(Generic[P]):
    envelope: Event
    data: P

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def source(self) -> str:
        return self.envelope.source

    @property
    def subject(self) -> str:
        return self.envelope.subject

    @property
    def agencies(self) -> tuple[str, ...]:
        return self.envelope.agencies

    @property
    def time(self) -> datetime:
        return self.envelope.time

    @property
    def version(self) -> int:
        return self.envelope.version

    @property
    def routing_key(self) -> str:
        return self.envelope.routing_key


def typed(event: Event) -> TypedEvent[Any]:
    """The event with its data as the payload class of its contract (shared/events/payloads.py).

    An event built or decoded by `new_event`/`decode` carries its loaded data, so this costs one
    object per nested record; any other event's data is checked against the contract first.
    """
    try:
        cls = payloads.payload_class(event.type, event.version)
    except KeyError as exc:
        raise InvalidEvent(f"unknown event type {event.type} version {event.version}") from exc
    if event.loaded is not None:
        return TypedEvent(event, payloads.build(cls, event.loaded))
    try:
        return TypedEvent(event, payloads.load(event.type, event.version, event.data))
    except ValidationError as exc:
        reason = f"{event.type} v{event.version} data is invalid"
        raise InvalidEvent(reason, {"data": exc.messages}) from exc
