"""Settings of the matching service: the only module of it that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from shared.settings import Settings, SettingsError, load

SERVICE = "matching"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    return load(SERVICE, os.environ if environ is None else environ)


def proposal_ttl(environ: Mapping[str, str] | None = None) -> timedelta:
    """MATCH_PROPOSAL_TTL_HOURS: how long agencies have to answer a proposal (default 14 days)."""
    raw = (os.environ if environ is None else environ).get("MATCH_PROPOSAL_TTL_HOURS", "336")
    try:
        hours = float(raw)
    except ValueError as exc:
        raise SettingsError(f"MATCH_PROPOSAL_TTL_HOURS must be a number, got {raw!r}") from exc
    if hours <= 0:
        raise SettingsError("MATCH_PROPOSAL_TTL_HOURS must be positive")
    return timedelta(hours=hours)
