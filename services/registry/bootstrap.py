"""Composition root of a registry node: real dependencies by default, fakes from tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.registry import handlers
from services.registry.adapters.links import CheckInLinks
from services.registry.config import (
    FollowUpSettings,
    dashboard_options,
    follow_up_options,
    load_settings,
)
from services.registry.dependencies import FollowUp, Registry
from services.registry.handlers import Node, peer_events
from shared.events import Event
from shared.messaging.consumer import EventConsumer
from shared.messaging.topology import registry_consumer
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings


def bootstrap(settings: Settings | None = None, *, engine: Engine | None = None) -> Runtime:
    return build_runtime(settings or load_settings(), engine=engine)


def compose(
    runtime: Runtime,
    imports: Executor,
    settings: FollowUpSettings | None = None,
    dashboard: dict[str, Any] | None = None,
) -> Registry:
    """The node's dependencies, kept on `runtime` for `dependencies()`."""
    agency = runtime.settings.agency_code
    assert agency, "a registry node needs AGENCY_CODE"
    registry = Registry(Node(agency), follow_up(agency, settings, dashboard), imports)
    runtime.service = registry
    return registry


def event_consumers(runtime: Runtime) -> list[EventConsumer]:
    """The registry applies peer agreement and match events concerning its agency."""
    agency = runtime.settings.agency_code
    assert agency
    node = Node(agency)

    def on_event(event: Event, session: Session) -> None:
        peer_events.handle(session, event, node)

    return [runtime.consumer(registry_consumer(agency), on_event)]


def follow_up(
    agency: str, settings: FollowUpSettings | None = None, dashboard: dict[str, Any] | None = None
) -> FollowUp:
    """Check-in schedule, reminder policy and the volunteers' signed links of this node."""
    from services.registry.dashboard import _secret_key

    settings = settings or follow_up_options()
    secret = settings.link_secret
    if not secret:
        board: dict[str, Any] = dict(dashboard or dashboard_options())
        secret = str(_secret_key(board["var_dir"], agency, board["secret_key"]))
    return FollowUp(
        schedule=settings.schedule,
        policy=settings.policy,
        links=CheckInLinks(str(secret), settings.public_url),
        public_url=settings.public_url,
        interval=settings.interval,
    )


def follow_up_once(runtime: Runtime, follow: FollowUp, today: date) -> int:
    """One pass of the reminders (a test calls it with a fake today)."""
    agency = runtime.settings.agency_code
    assert agency
    with runtime.sessions.begin() as session:
        return handlers.run_follow_ups(
            session, Node(agency), today, follow.schedule, follow.policy, follow.links.url
        )


def background_jobs(
    runtime: Runtime, clock: Callable[[], date] = date.today
) -> list[tuple[str, Callable[[threading.Event], None]]]:
    """The check-in reminders, looked for every FOLLOW_UP_INTERVAL_SECONDS."""
    agency = runtime.settings.agency_code
    assert agency
    follow = follow_up(agency)

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            follow_up_once(runtime, follow, clock())
            stop.wait(follow.interval)

    return [("follow-up", run)]
