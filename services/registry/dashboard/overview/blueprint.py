"""The overview area's blueprint."""

from __future__ import annotations

from services.registry.dashboard.context import area

bp = area("overview", __name__)
