"""Every service's event handlers have one shape: (session, typed event, dependencies) -> None."""

from __future__ import annotations

import inspect
import typing

import pytest

from services.matching import handlers as matching
from services.notifications import handlers as notifications
from services.registry.handlers import peer_events as registry
from shared.events.contracts import EVENT_TYPES
from shared.events.typed import TypedEvent

SERVICES = {"matching": matching, "notifications": notifications, "registry": registry}
HANDLERS = [
    (f"{service}:{type_}", handler)
    for service, module in SERVICES.items()
    for type_, handler in module.HANDLERS.items()
] + [
    ("notifications:people", notifications.stage_for_people),
    ("notifications:partners", notifications.stage_for_partners),
]


@pytest.mark.parametrize("handler", [h for _, h in HANDLERS], ids=[n for n, _ in HANDLERS])
def test_every_event_handler_takes_the_session_a_typed_event_and_its_dependencies(handler):
    parameters = list(inspect.signature(handler).parameters)
    assert parameters[:2] == ["session", "event"] and len(parameters) == 3
    hints = typing.get_type_hints(handler)
    assert typing.get_origin(hints["event"]) is TypedEvent
    assert hints["return"] is type(None)


@pytest.mark.parametrize("module", SERVICES.values(), ids=SERVICES.keys())
def test_every_service_routes_known_event_types_through_handle_session_event_deps(module):
    assert set(module.HANDLERS) <= set(EVENT_TYPES)
    assert list(inspect.signature(module.handle).parameters)[:2] == ["session", "event"]
