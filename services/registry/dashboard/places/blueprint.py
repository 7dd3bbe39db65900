"""The places area's blueprint."""

from __future__ import annotations

from services.registry.dashboard.context import area

bp = area("places", __name__)
