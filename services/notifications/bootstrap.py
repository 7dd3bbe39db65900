"""Composition root of the notifications service: real channels by default, fakes from tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.notifications import handlers
from services.notifications.adapters.directory import RegistryDirectory
from services.notifications.config import Options, load_options, load_settings
from services.notifications.dependencies import Notifications, dependencies
from services.notifications.dispatch import Dispatcher
from services.notifications.domain.messages import Channel
from services.notifications.subscriptions import notify_owner_disabled
from shared.events import Event
from shared.messaging.consumer import EventConsumer
from shared.messaging.topology import notifications_consumer
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings, require_secret
from shared.wakeup import listener


def default_channels(runtime: Runtime, options: Options) -> dict[str, Channel]:
    """The channels this instance can use: people's channels on an agency's instance, partner
    channels on the network instance."""
    from services.notifications.adapters import channels

    return channels.build(runtime, options)


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    options: Options | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> Runtime:
    settings = settings or load_settings()
    runtime = build_runtime(settings, engine=engine)
    options = options or load_options()
    require_secret("NOTIFY_LINK_SECRET", options.link_secret, settings.messaging)
    if options.registry_token is not None:
        require_secret("NOTIFY_REGISTRY_TOKEN", options.registry_token, settings.messaging)
    directory = None
    if settings.agency_code and options.registry_url and options.registry_token:
        directory = RegistryDirectory(options.registry_url, options.registry_token)
    dispatcher = Dispatcher(
        sessions=runtime.sessions,
        channels=dict(channels) if channels is not None else default_channels(runtime, options),
        directory=directory,
        source=settings.source,
        links=_links(options),
        on_subscription_disabled=notify_owner_disabled,
    )
    runtime.service = Notifications(options=options, dispatcher=dispatcher)
    return runtime


def _links(options: Options) -> Callable | None:
    try:
        from services.notifications.preferences import unsubscribe_links
    except ImportError:  # pragma: no cover - wired once preferences exist
        return None
    return partial(unsubscribe_links, options)


def event_consumers(runtime: Runtime) -> list[EventConsumer]:
    agency = runtime.settings.agency_code

    def on_event(event: Event, session: Session) -> None:
        handlers.handle(session, event, agency)

    return [runtime.consumer(notifications_consumer(agency), on_event)]


def background_jobs(runtime: Runtime) -> list[tuple[str, Callable[[threading.Event], None]]]:
    service = dependencies(runtime)
    dispatcher, interval = service.dispatcher, service.options.dispatch_interval
    wakeup = listener(runtime.engine, handlers.DELIVERIES_CHANNEL)
    return [("dispatcher", partial(dispatcher.run, interval=interval, wakeup=wakeup))]
