"""The registry service's settings: the only module of the service that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shared.settings import Settings, SettingsError, load

SERVICE = "registry"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    settings = load(SERVICE, os.environ if environ is None else environ)
    if not settings.agency_code:
        raise SettingsError("AGENCY_CODE is required for a registry node (e.g. AGENCY_CODE=TG)")
    return settings
