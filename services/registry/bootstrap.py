"""Composition root of a registry node: real dependencies by default, fakes from tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.registry import consumer, handlers
from services.registry.adapters.links import CheckInLinks
from services.registry.config import dashboard_options, follow_up_options, load_settings
from services.registry.handlers import Node
from shared.events import Event
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

    def on_event(event: Event, session: Session) -> None:
        consumer.handle(session, event, node)

    return [runtime.consumer(registry_consumer(agency), on_event)]


def follow_up(
    agency: str, options: dict[str, Any] | None = None, dashboard: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check-in schedule, reminder policy and the volunteers' signed links of this node."""
    from services.registry.dashboard import _secret_key

    options = dict(options or follow_up_options())
    if "links" not in options:
        board = dashboard or dashboard_options()
        secret = options["link_secret"] or _secret_key(
            board["var_dir"], agency, board["secret_key"]
        )
        options["links"] = CheckInLinks(str(secret), str(options["public_url"]))
    return options


def follow_up_once(runtime: Runtime, options: dict[str, Any], today: date) -> int:
    """One pass of the reminders (a test calls it with a fake today)."""
    agency = runtime.settings.agency_code
    assert agency
    with runtime.sessions.begin() as session:
        return handlers.run_follow_ups(
            session,
            Node(agency),
            today,
            options["schedule"],
            options["policy"],
            options["links"].url,
        )


def background_jobs(
    runtime: Runtime, clock: Callable[[], date] = date.today
) -> list[tuple[str, Callable[[threading.Event], None]]]:
    """The check-in reminders, looked for every FOLLOW_UP_INTERVAL_SECONDS."""
    agency = runtime.settings.agency_code
    assert agency
    options = follow_up(agency)

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            follow_up_once(runtime, options, clock())
            stop.wait(float(options["interval"]))

    return [("follow-up", run)]
