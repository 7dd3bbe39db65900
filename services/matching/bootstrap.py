"""Composition root of the matching service: real dependencies by default, fakes from tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.matching import handlers
from services.matching.config import load_settings, proposal_ttl
from services.matching.dependencies import Matching, dependencies
from services.matching.planning import run_planner
from shared.events import Event
from shared.messaging.consumer import EventConsumer
from shared.messaging.topology import matching_consumer
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.wakeup import listener, wake_on_commit

# Raised when the consumer commits a change of the read model; the planner listens on it.
PLANNER_CHANNEL = "vir_matching_planner"


def bootstrap(
    settings: Settings | None = None, *, engine: Engine | None = None, ttl: timedelta | None = None
) -> Runtime:
    runtime = build_runtime(settings or load_settings(), engine=engine)
    runtime.service = Matching(proposal_ttl=ttl or proposal_ttl())
    return runtime


def handle_and_wake_planner(event: Event, session: Session) -> None:
    """The consumer's handler: apply the event, and wake the planner once it has committed."""
    handlers.handle(session, event)
    if event.source != handlers.SOURCE:  # our own match.* events change nothing to plan
        wake_on_commit(session, PLANNER_CHANNEL)


def event_consumers(runtime: Runtime) -> list[EventConsumer]:
    # One event per transaction: a batch would hold several volunteers' and agreements' locks at
    # once, in the events' order, while the planner takes them in its own order (deadlocks).
    return [runtime.consumer(matching_consumer(), handle_and_wake_planner, batch_size=1)]


def background_jobs(runtime: Runtime) -> list[tuple[str, Callable[[threading.Event], None]]]:
    """The planner: re-plans dirty agreements and expires unanswered proposals."""
    return [
        (
            "planner",
            partial(
                run_planner,
                runtime.sessions,
                ttl=dependencies(runtime).proposal_ttl,
                wakeup=listener(runtime.engine, PLANNER_CHANNEL),
            ),
        )
    ]
