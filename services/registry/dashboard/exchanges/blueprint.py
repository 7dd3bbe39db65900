"""The exchanges area's blueprint."""

from __future__ import annotations

from services.registry.dashboard.context import area

bp = area("exchanges", __name__)
