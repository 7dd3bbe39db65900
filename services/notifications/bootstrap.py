"""Composition root of the notifications service: real dependencies by default, fakes from tests."""

from __future__ import annotations

from sqlalchemy import Engine

from services.notifications.config import load_settings
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings


def bootstrap(settings: Settings | None = None, *, engine: Engine | None = None) -> Runtime:
    return build_runtime(settings or load_settings(), engine=engine)


def event_consumers(runtime: Runtime) -> list:  # noqa: ARG001 - nothing consumed yet
    """Consumers of this service (its read model comes with its own issue)."""
    return []


def background_jobs(runtime: Runtime) -> list:  # noqa: ARG001
    """Long-running tasks besides the API, relay and consumers: none for this service."""
    return []
