"""The matching service's settings: the only module of the service that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shared.settings import Settings, load

SERVICE = "matching"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    settings = load(SERVICE, os.environ if environ is None else environ)
    return settings
