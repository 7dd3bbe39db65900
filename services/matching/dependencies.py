"""What matching needs besides the shared runtime, as its bootstrap.py composes it, and the
typed accessor views and jobs reach it through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.runtime import Runtime, current_runtime


@dataclass
class Matching:
    """What matching needs besides the shared runtime."""

    proposal_ttl: timedelta  # how long a proposal nobody answered stays open


def dependencies(runtime: Runtime | None = None) -> Matching:
    """Matching's dependencies: of `runtime`, or of the app serving the current request."""
    service = (runtime or current_runtime()).service
    assert isinstance(service, Matching), "built by services.matching.bootstrap"
    return service
