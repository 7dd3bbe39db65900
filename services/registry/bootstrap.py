"""Composition root of a registry node: real dependencies by default, fakes from tests."""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine

from services.registry import consumer
from services.registry.config import load_settings
from services.registry.handlers import Node
from shared.messaging.consumer import EventConsumer
from shared.messaging.topology import registry_consumer
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings


def bootstrap(settings: Settings | None = None, *, engine: Engine | None = None) -> Runtime:
    return build_runtime(settings or load_settings(), engine=engine)


def event_consumers(runtime: Runtime) -> list[EventConsumer]:
    """The registry applies peer agreement and match events concerning its agency."""
    agency = runtime.settings.agency_code
    assert agency
    node = Node(agency)
    return [runtime.consumer(registry_consumer(agency), partial(consumer.handle, node=node))]


def background_jobs(runtime: Runtime) -> list:  # noqa: ARG001
    """Long-running tasks besides the API, relay and consumers: none for this service."""
    return []
