"""The people area's blueprint: volunteers and their bulk import."""

from __future__ import annotations

from services.registry.dashboard.context import area

bp = area("people", __name__)
