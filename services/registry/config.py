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


def dashboard_options(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """DASHBOARD_SECRET_KEY signs session cookies (kept under VIR_VAR_DIR when unset);
    DASHBOARD_SECURE_COOKIES=true when the dashboard is served over HTTPS;
    DASHBOARD_NOTIFICATIONS_URL and _TOKEN: the agency's notifications instance (delivery log)."""
    from pathlib import Path

    env = os.environ if environ is None else environ
    return {
        "secret_key": env.get("DASHBOARD_SECRET_KEY") or None,
        "secure_cookies": env.get("DASHBOARD_SECURE_COOKIES", "false").lower() == "true",
        "var_dir": Path(env.get("VIR_VAR_DIR", "var")),
        "notifications_url": env.get("DASHBOARD_NOTIFICATIONS_URL") or None,
        "notifications_token": env.get("DASHBOARD_NOTIFICATIONS_TOKEN") or None,
    }
