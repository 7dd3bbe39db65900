"""An event as handlers receive it: the envelope's attributes and its data as a typed payload.

Every service's event handlers have one shape, `handler(session, event: TypedEvent[P], deps)`:
the consumer decodes and checks the envelope, then the service's `handle(session, event, deps)`
builds the payload once with `typed(event)` and routes it to the handler of its type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from marshmallow import ValidationError

from shared.events import contracts
from shared.events.envelope import Event, InvalidEvent
from shared.events.payloads import PAYLOADS

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
        cls = payload_class(event.type, event.version)
    except KeyError as exc:
        raise InvalidEvent(f"unknown event type {event.type} version {event.version}") from exc
    if event.loaded is not None:
        return TypedEvent(event, build(cls, event.loaded))
    try:
        return TypedEvent(event, load(event.type, event.version, event.data))
    except ValidationError as exc:
        reason = f"{event.type} v{event.version} data is invalid"
        raise InvalidEvent(reason, {"data": exc.messages}) from exc


def payload_class(type: str, version: int) -> type:
    """The payload class of an event type and version (KeyError for an unknown one)."""
    return PAYLOADS[contracts.contract(type, version).schema]


def build(cls: type[Any], loaded: Mapping[str, Any]) -> Any:
    """An instance of payload class `cls` from data its contract schema loaded (dates as dates)."""
    return cls(**{name: convert(loaded[name]) for name, convert in _plan(cls) if name in loaded})


def load(type: str, version: int, data: Mapping[str, Any]) -> Any:
    """Check wire-form `data` against the contract and build its payload (ValidationError)."""
    loaded = contracts.schema_for(type, version).load(dict(data))
    return build(payload_class(type, version), loaded)


def dump(type: str, version: int, payload: Any) -> dict[str, Any]:
    """The wire form of a payload: what its contract writes (fields never set are left out)."""
    values = {k: v for k, v in dataclasses.asdict(payload).items() if v is not None}
    schema = contracts.schema_for(type, version)
    for name, field in schema.fields.items():  # a nullable field is written even when empty
        if field.allow_none and name not in values:
            values[name] = None
    return schema.dump(values)


# -- building from loaded data: one converter per field, worked out once per class --------------

_Converter = Callable[[Any], Any]
_PLANS: dict[type, tuple[tuple[str, _Converter], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, _Converter], ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))
        _PLANS[cls] = plan
    return plan


def _same(value: Any) -> Any:
    return value


def _converter(hint: Any) -> _Converter:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType or origin is typing.Union:  # X | None
        inner = _converter(next(a for a in args if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _converter(args[0])
        if item is _same:
            return tuple
        return lambda value: tuple(item(v) for v in value)
    if dataclasses.is_dataclass(hint):
        return lambda value: build(hint, value)  # type: ignore[arg-type]
    return _same
