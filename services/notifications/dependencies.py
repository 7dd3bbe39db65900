"""What the notifications service needs besides the shared runtime, as its bootstrap.py composes
it, and the typed accessor views and jobs reach it through."""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications.config import Options
from services.notifications.dispatch import Dispatcher
from shared.runtime import Runtime, current_runtime


@dataclass
class Notifications:
    """What the notifications service needs besides the shared runtime."""

    options: Options  # channels, links, dispatch interval (config.py)
    dispatcher: Dispatcher  # sends the deliveries the handlers stage


def dependencies(runtime: Runtime | None = None) -> Notifications:
    """The service's dependencies: of `runtime`, or of the app serving the current request."""
    service = (runtime or current_runtime()).service
    assert isinstance(service, Notifications), "built by services.notifications.bootstrap"
    return service
