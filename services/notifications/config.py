"""Settings of the notifications service: the only module of it that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shared.settings import Settings, load

SERVICE = "notifications"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    settings = load(SERVICE, os.environ if environ is None else environ)
    return settings
