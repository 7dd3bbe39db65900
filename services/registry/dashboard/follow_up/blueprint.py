"""The follow-up area's blueprint."""

from __future__ import annotations

from services.registry.dashboard.context import area

bp = area("follow_up", __name__)
