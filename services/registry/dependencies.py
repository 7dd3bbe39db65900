"""What a registry node needs besides the shared runtime, as its bootstrap.py composes it, and
the typed accessor views reach it through (without importing the composition root)."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from services.registry.adapters.links import CheckInLinks
from services.registry.domain.check_ins import Policy, Schedule
from services.registry.handlers.common import Node
from shared.runtime import Runtime, current_runtime


@dataclass(frozen=True)
class FollowUp:
    """Check-in schedule, reminder policy and the volunteers' signed links of this node."""

    schedule: Schedule
    policy: Policy
    links: CheckInLinks
    public_url: str
    interval: float  # seconds between two looks for reminders


@dataclass
class Registry:
    """What a registry node needs besides the shared runtime; `create_app` composes it."""

    node: Node
    follow_up: FollowUp
    imports: Executor  # runs bulk imports in this process


def dependencies(runtime: Runtime | None = None) -> Registry:
    """The node's dependencies: of `runtime`, or of the app serving the current request."""
    service = (runtime or current_runtime()).service
    assert isinstance(service, Registry), "composed by services.registry.bootstrap.compose"
    return service
